package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"devstack/engine/event"
	"devstack/engine/model"
)

// AnnotationStopped is on a Deployment stop scaled to 0: the replicas it
// had, which start gives back (a count set by kubectl scale included).
const AnnotationStopped = "dev.devstack.stopped-replicas"

// Stop scales the Deployments of the services (all when none is named) to
// 0, as compose's stop stops containers: their pods end, everything else
// (claims and their data, Services, configs, secrets) stays. The replicas
// each had are kept in an annotation for Start; the next up starts them
// too. It waits until their pods are gone.
func (c *Cluster) Stop(ctx context.Context, project string, services []string, sink event.Sink) error {
	if sink == nil {
		sink = event.Discard
	}
	deps, err := c.projectDeployments(ctx, project, services)
	if err != nil {
		return err
	}
	var stopped []string
	for _, d := range deps {
		if d.Annotations[AnnotationStopped] != "" {
			continue // already stopped: keep the count it had
		}
		n := int32(1)
		if d.Spec.Replicas != nil {
			n = *d.Spec.Replicas
		}
		start := time.Now()
		svc := d.Labels[model.LabelService]
		sink.Publish(event.Progress{Time: start, Kind: event.KindContainer, Name: d.Name, Service: svc, Action: event.Stopping})
		patch := map[string]any{"metadata": map[string]any{"annotations": map[string]any{AnnotationStopped: strconv.Itoa(int(n))}},
			"spec": map[string]any{"replicas": 0}}
		if err := c.patchDeployment(ctx, d.Name, patch); err != nil {
			return err
		}
		stopped = append(stopped, svc)
	}
	if err := c.waitNoPods(ctx, project, stopped, 2*time.Minute); err != nil {
		return err
	}
	for _, d := range deps {
		if contains(stopped, d.Labels[model.LabelService]) {
			sink.Publish(event.Progress{Time: time.Now(), Kind: event.KindContainer, Name: d.Name, Service: d.Labels[model.LabelService], Action: event.Stopped})
		}
	}
	return nil
}

// Start gives the Deployments Stop scaled to 0 their replicas back.
// Deployments that were not stopped are left as they are.
func (c *Cluster) Start(ctx context.Context, project string, services []string, sink event.Sink) error {
	if sink == nil {
		sink = event.Discard
	}
	deps, err := c.projectDeployments(ctx, project, services)
	if err != nil {
		return err
	}
	for _, d := range deps {
		v := d.Annotations[AnnotationStopped]
		if v == "" {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return fmt.Errorf("deployment %s: annotation %s=%q is not a replica count: fix or remove it (up sets the compose file's count)", d.Name, AnnotationStopped, v)
		}
		patch := map[string]any{"metadata": map[string]any{"annotations": map[string]any{AnnotationStopped: nil}},
			"spec": map[string]any{"replicas": n}}
		if err := c.patchDeployment(ctx, d.Name, patch); err != nil {
			return err
		}
		sink.Publish(event.Progress{Time: time.Now(), Kind: event.KindContainer, Name: d.Name, Service: d.Labels[model.LabelService], Action: event.Started, Detail: fmt.Sprintf("%d replicas", n)})
	}
	return nil
}

func (c *Cluster) patchDeployment(ctx context.Context, name string, patch map[string]any) error {
	raw, _ := json.Marshal(patch)
	_, err := c.cs.AppsV1().Deployments(c.namespace).Patch(ctx, name, types.MergePatchType, raw, metav1.PatchOptions{})
	return explain(err, "patch", "deployments", name, c.namespace)
}

// projectDeployments are the project's Deployments of the services named
// (all when none is); a name without one is an error.
func (c *Cluster) projectDeployments(ctx context.Context, project string, services []string) ([]appsv1.Deployment, error) {
	l, err := c.cs.AppsV1().Deployments(c.namespace).List(ctx, metav1.ListOptions{LabelSelector: ProjectSelector(project)})
	if err != nil {
		return nil, explain(err, "list", "deployments", "", c.namespace)
	}
	var out []appsv1.Deployment
	seen := map[string]bool{}
	for _, d := range l.Items {
		svc := d.Labels[model.LabelService]
		seen[svc] = true
		if len(services) == 0 || contains(services, svc) {
			out = append(out, d)
		}
	}
	for _, s := range services {
		if !seen[s] {
			return nil, fmt.Errorf("service %s has no Deployment in namespace %s: run up first", s, c.namespace)
		}
	}
	if len(l.Items) == 0 {
		return nil, fmt.Errorf("project %s has no Deployment in namespace %s: run up first", project, c.namespace)
	}
	return out, nil
}

// waitNoPods waits until the services' pods (not one-off ones) are gone.
func (c *Cluster) waitNoPods(ctx context.Context, project string, services []string, timeout time.Duration) error {
	if len(services) == 0 {
		return nil
	}
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		pods, err := c.Pods(ctx, project, "")
		if err != nil {
			return err
		}
		left := 0
		for _, p := range pods {
			if contains(services, p.Labels[model.LabelService]) && p.Labels[LabelRun] == "" {
				left++
			}
		}
		if left == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d pods of project %s still terminating after %s", left, project, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}
