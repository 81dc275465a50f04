package kube

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"devstack/engine/event"
)

// DownOptions tune Down.
type DownOptions struct {
	// Volumes removes the project's claims too, and the namespace when
	// devstack created it.
	Volumes bool
	// Timeout bounds the wait for the pods to be gone; 0: 2 minutes.
	Timeout time.Duration
}

// Down removes what devstack made for the project, found by its labels,
// and waits until its pods are gone. Claims (the named volumes' data)
// stay unless o.Volumes.
func (c *Cluster) Down(ctx context.Context, project string, o DownOptions, sink event.Sink) error {
	if sink == nil {
		sink = event.Discard
	}
	if o.Timeout == 0 {
		o.Timeout = 2 * time.Minute
	}
	obs, err := c.observe(ctx, project)
	if err != nil {
		return err
	}
	fg := metav1.DeletePropagationForeground
	del := metav1.DeleteOptions{PropagationPolicy: &fg}
	ns := c.namespace
	remove := func(kind, name string, f func() error) error {
		start := time.Now()
		err := f()
		if err != nil && !apierrors.IsNotFound(err) {
			return explain(err, "delete", kind, name, ns)
		}
		k := event.KindContainer
		switch kind {
		case "persistentvolumeclaims":
			k = event.KindVolume
		case "services", "configmaps", "secrets":
			k = event.KindNetwork
		}
		if kind == "deployments" || k == event.KindVolume {
			sink.Publish(event.Progress{Time: time.Now(), Kind: k, Name: name, Action: event.Removed, Duration: time.Since(start).Seconds()})
		}
		return nil
	}
	for n := range obs.deployments {
		if err := remove("deployments", n, func() error { return c.cs.AppsV1().Deployments(ns).Delete(ctx, n, del) }); err != nil {
			return err
		}
	}
	for n := range obs.services {
		if err := remove("services", n, func() error { return c.cs.CoreV1().Services(ns).Delete(ctx, n, del) }); err != nil {
			return err
		}
	}
	for n := range obs.configMaps {
		if err := remove("configmaps", n, func() error { return c.cs.CoreV1().ConfigMaps(ns).Delete(ctx, n, del) }); err != nil {
			return err
		}
	}
	for n := range obs.secrets {
		if err := remove("secrets", n, func() error { return c.cs.CoreV1().Secrets(ns).Delete(ctx, n, del) }); err != nil {
			return err
		}
	}
	// One-off pods (run without --rm) belong to no Deployment.
	runs, err := c.cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: ProjectSelector(project) + "," + LabelRun})
	if err != nil {
		return explain(err, "list", "pods", "", ns)
	}
	for _, p := range runs.Items {
		if err := remove("pods", p.Name, func() error { return c.cs.CoreV1().Pods(ns).Delete(ctx, p.Name, metav1.DeleteOptions{}) }); err != nil {
			return err
		}
	}
	// Pods (and their ReplicaSets) carry the project's labels too: wait
	// until the cluster has removed them, so that down means gone.
	if err := c.waitGone(ctx, project, o.Timeout); err != nil {
		return err
	}
	if !o.Volumes {
		return nil
	}
	for n := range obs.claims {
		if err := remove("persistentvolumeclaims", n, func() error { return c.cs.CoreV1().PersistentVolumeClaims(ns).Delete(ctx, n, del) }); err != nil {
			return err
		}
	}
	nsObj, err := c.cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	if err == nil && nsObj.Annotations[AnnotationCreated] == "true" && nsObj.Labels[LabelManagedBy] == ManagedBy && nsObj.Labels["com.docker.compose.project"] == project {
		if err := remove("namespaces", ns, func() error { return c.cs.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}) }); err != nil {
			return err
		}
		sink.Publish(event.Progress{Time: time.Now(), Kind: event.KindProject, Name: ns, Action: event.Removed, Detail: "namespace"})
	}
	return nil
}

// waitGone waits until no pod or ReplicaSet of the project is left.
func (c *Cluster) waitGone(ctx context.Context, project string, timeout time.Duration) error {
	list := metav1.ListOptions{LabelSelector: ProjectSelector(project)}
	deadline := time.Now().Add(timeout)
	for {
		pods, err := c.cs.CoreV1().Pods(c.namespace).List(ctx, list)
		if err != nil {
			return explain(err, "list", "pods", "", c.namespace)
		}
		rss, err := c.cs.AppsV1().ReplicaSets(c.namespace).List(ctx, list)
		if err != nil {
			return explain(err, "list", "replicasets", "", c.namespace)
		}
		if len(pods.Items) == 0 && len(rss.Items) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d pods of project %s still terminating after %s", len(pods.Items), project, timeout)
		}
		// A watch would answer sooner, but pods end at the kubelet's pace
		// (their grace period): a short poll costs nothing here.
		w, err := c.cs.CoreV1().Pods(c.namespace).Watch(ctx, metav1.ListOptions{LabelSelector: list.LabelSelector, ResourceVersion: pods.ResourceVersion})
		if err != nil {
			return explain(err, "watch", "pods", "", c.namespace)
		}
		t := time.NewTimer(500 * time.Millisecond)
		select {
		case <-w.ResultChan():
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
		w.Stop()
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// Pods returns the project's pods (all services, or the one named), newest first.
func (c *Cluster) Pods(ctx context.Context, project, service string) ([]corev1.Pod, error) {
	sel := ProjectSelector(project)
	if service != "" {
		sel += ",com.docker.compose.service=" + service
	}
	l, err := c.cs.CoreV1().Pods(c.namespace).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return nil, explain(err, "list", "pods", "", c.namespace)
	}
	items := l.Items
	for i := 0; i < len(items); i++ {
		for j := i + 1; j < len(items); j++ {
			if items[i].CreationTimestamp.Before(&items[j].CreationTimestamp) {
				items[i], items[j] = items[j], items[i]
			}
		}
	}
	return items, nil
}

// Leftovers lists every object in the namespace labelled with the
// project, of the kinds devstack makes or causes (tests; down's check).
func (c *Cluster) Leftovers(ctx context.Context, project string) ([]string, error) {
	list := metav1.ListOptions{LabelSelector: "com.docker.compose.project=" + project}
	ns := c.namespace
	var out []string
	add := func(kind string, names []string, err error) error {
		if err != nil && !apierrors.IsNotFound(err) {
			return err
		}
		for _, n := range names {
			out = append(out, kind+"/"+n)
		}
		return nil
	}
	names := func(items []metav1.Object) []string {
		var s []string
		for _, o := range items {
			s = append(s, o.GetName())
		}
		return s
	}
	d, err := c.cs.AppsV1().Deployments(ns).List(ctx, list)
	if err := add("deployment", names(objs(d.Items)), err); err != nil {
		return nil, err
	}
	rs, err := c.cs.AppsV1().ReplicaSets(ns).List(ctx, list)
	if err := add("replicaset", names(objs(rs.Items)), err); err != nil {
		return nil, err
	}
	p, err := c.cs.CoreV1().Pods(ns).List(ctx, list)
	if err := add("pod", names(objs(p.Items)), err); err != nil {
		return nil, err
	}
	s, err := c.cs.CoreV1().Services(ns).List(ctx, list)
	if err := add("service", names(objs(s.Items)), err); err != nil {
		return nil, err
	}
	cm, err := c.cs.CoreV1().ConfigMaps(ns).List(ctx, list)
	if err := add("configmap", names(objs(cm.Items)), err); err != nil {
		return nil, err
	}
	sec, err := c.cs.CoreV1().Secrets(ns).List(ctx, list)
	if err := add("secret", names(objs(sec.Items)), err); err != nil {
		return nil, err
	}
	pvc, err := c.cs.CoreV1().PersistentVolumeClaims(ns).List(ctx, list)
	if err := add("persistentvolumeclaim", names(objs(pvc.Items)), err); err != nil {
		return nil, err
	}
	nsl, err := c.cs.CoreV1().Namespaces().List(ctx, list)
	if err := add("namespace", names(objs(nsl.Items)), err); err != nil {
		return nil, err
	}
	return out, nil
}

func objs[T any, PT interface {
	*T
	metav1.Object
}](items []T) []metav1.Object {
	out := make([]metav1.Object, len(items))
	for i := range items {
		out[i] = PT(&items[i])
	}
	return out
}

// Services returns the project's Services.
func (c *Cluster) Services(ctx context.Context, project string) ([]corev1.Service, error) {
	l, err := c.cs.CoreV1().Services(c.namespace).List(ctx, metav1.ListOptions{LabelSelector: ProjectSelector(project)})
	if err != nil {
		return nil, explain(err, "list", "services", "", c.namespace)
	}
	return l.Items, nil
}

// Restart replaces the pods of the services (all when none is named):
// their Deployments make new ones, and the objects' config stays as up
// applied it (a restart is not a change to the next up).
func (c *Cluster) Restart(ctx context.Context, project string, services []string) error {
	pods, err := c.Pods(ctx, project, "")
	if err != nil {
		return err
	}
	for _, p := range pods {
		if len(services) > 0 && !contains(services, p.Labels["com.docker.compose.service"]) {
			continue
		}
		if err := c.cs.CoreV1().Pods(c.namespace).Delete(ctx, p.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return explain(err, "delete", "pods", p.Name, c.namespace)
		}
	}
	return nil
}
