package kube

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"

	"devstack/engine/model"
)

// waiter follows the project's Deployments and pods through one watch
// each (an informer's cache), so that every wait is answered the moment
// the cluster reports a change, not at a poll's next tick.
type waiter struct {
	c       *Cluster
	project string

	once    sync.Once
	stopCh  chan struct{}
	factory informers.SharedInformerFactory
	pods    cache.SharedIndexInformer
	deps    cache.SharedIndexInformer

	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every change; guarded by mu
}

func (c *Cluster) newWaiter(project string) *waiter {
	return &waiter{c: c, project: project, stopCh: make(chan struct{}), changed: make(chan struct{})}
}

func (w *waiter) start(ctx context.Context) error {
	var err error
	w.once.Do(func() {
		w.factory = informers.NewSharedInformerFactoryWithOptions(w.c.cs, 0, informers.WithNamespace(w.c.namespace),
			informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = ProjectSelector(w.project) }))
		w.pods = w.factory.Core().V1().Pods().Informer()
		w.deps = w.factory.Apps().V1().Deployments().Informer()
		h := cache.ResourceEventHandlerFuncs{
			AddFunc:    func(any) { w.kick() },
			UpdateFunc: func(any, any) { w.kick() },
			DeleteFunc: func(any) { w.kick() },
		}
		_, _ = w.pods.AddEventHandler(h)
		_, _ = w.deps.AddEventHandler(h)
		w.factory.Start(w.stopCh)
		if !cache.WaitForCacheSync(ctx.Done(), w.pods.HasSynced, w.deps.HasSynced) {
			err = fmt.Errorf("unable to watch pods in namespace %s: %w", w.c.namespace, context.Cause(ctx))
		}
	})
	return err
}

func (w *waiter) kick() {
	w.mu.Lock()
	close(w.changed)
	w.changed = make(chan struct{})
	w.mu.Unlock()
}

func (w *waiter) stop() {
	select {
	case <-w.stopCh:
	default:
		close(w.stopCh)
	}
	if w.factory != nil {
		w.factory.Shutdown()
	}
}

// servicePods returns the pods of a service in the cache, newest first.
func (w *waiter) servicePods(service string) []*corev1.Pod {
	var out []*corev1.Pod
	sel := labels.SelectorFromSet(selector(w.project, service))
	for _, o := range w.pods.GetStore().List() {
		p := o.(*corev1.Pod)
		if sel.Matches(labels.Set(p.Labels)) && p.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[j].CreationTimestamp.Before(&out[i].CreationTimestamp) })
	return out
}

func (w *waiter) deployment(service string) *appsv1.Deployment {
	for _, o := range w.deps.GetStore().List() {
		d := o.(*appsv1.Deployment)
		if d.Labels[model.LabelService] == service {
			return d
		}
	}
	return nil
}

// until waits for a service to meet a depends_on condition: started
// (a pod running), healthy (rolled out and every replica Ready) or
// completed (its container exited 0). A pod that cannot start (an image
// that cannot be pulled, a crash loop) ends the wait with its events and
// last log lines, as does the timeout.
func (w *waiter) until(ctx context.Context, service, condition string, timeout time.Duration) error {
	if err := w.start(ctx); err != nil {
		return err
	}
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		w.mu.Lock()
		changed := w.changed
		w.mu.Unlock()
		ok, stuck, err := w.check(service, condition)
		if ok || err != nil {
			return err
		}
		if stuck != nil {
			return w.c.diagnose(ctx, stuck, "cannot start")
		}
		select {
		case <-changed:
		case <-deadline.C:
			pods := w.servicePods(service)
			if len(pods) == 0 {
				return fmt.Errorf("no pod after %s (the Deployment's events may say why)", timeout)
			}
			return w.c.diagnose(ctx, pods[0], fmt.Sprintf("not %s after %s", strings.TrimPrefix(condition, "service_"), timeout))
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// stuckReasons are waiting reasons after which a pod does not start by
// itself.
var stuckReasons = map[string]bool{"ErrImagePull": true, "ImagePullBackOff": true, "InvalidImageName": true,
	"CreateContainerConfigError": true, "CreateContainerError": true, "CrashLoopBackOff": true, "ErrImageNeverPull": true}

func (w *waiter) check(service, condition string) (ok bool, stuck *corev1.Pod, err error) {
	pods := w.servicePods(service)
	for _, p := range pods {
		for _, cs := range p.Status.ContainerStatuses {
			if condition == model.ConditionCompletedSuccessful {
				for _, t := range []*corev1.ContainerStateTerminated{cs.State.Terminated, cs.LastTerminationState.Terminated} {
					if t == nil {
						continue
					}
					if t.ExitCode == 0 {
						return true, nil, nil
					}
					return false, nil, fmt.Errorf("exited with code %d", t.ExitCode)
				}
			}
			if wt := cs.State.Waiting; wt != nil && stuckReasons[wt.Reason] {
				return false, p, nil
			}
		}
	}
	switch condition {
	case model.ConditionStarted:
		for _, p := range pods {
			if p.Status.Phase == corev1.PodRunning || p.Status.Phase == corev1.PodSucceeded {
				return true, nil, nil
			}
		}
	case model.ConditionHealthy:
		d := w.deployment(service)
		if d == nil {
			return false, nil, nil
		}
		return rolledOut(d), nil, nil
	}
	return false, nil, nil
}

// rolledOut says a Deployment's current template runs on every replica,
// each Ready, and no old pod is left.
func rolledOut(d *appsv1.Deployment) bool {
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	s := d.Status
	return s.ObservedGeneration >= d.Generation && s.UpdatedReplicas == want && s.ReadyReplicas >= want && s.Replicas == want
}

// diagnose explains a pod that does not come up: its state, its last
// events and its last log lines.
func (c *Cluster) diagnose(ctx context.Context, p *corev1.Pod, what string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "pod %s %s", p.Name, what)
	for _, cs := range p.Status.ContainerStatuses {
		if wt := cs.State.Waiting; wt != nil {
			fmt.Fprintf(&b, ": %s", wt.Reason)
			if wt.Message != "" {
				fmt.Fprintf(&b, " (%s)", firstLine(wt.Message))
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	evs, err := c.cs.CoreV1().Events(c.namespace).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=" + p.Name})
	if err == nil && len(evs.Items) > 0 {
		items := evs.Items
		sort.Slice(items, func(i, j int) bool { return items[i].LastTimestamp.Before(&items[j].LastTimestamp) })
		if len(items) > 3 {
			items = items[len(items)-3:]
		}
		b.WriteString("; events:")
		for _, e := range items {
			fmt.Fprintf(&b, " [%s %s: %s]", e.Type, e.Reason, firstLine(e.Message))
		}
	}
	tail := int64(5)
	if raw, err := c.cs.CoreV1().Pods(c.namespace).GetLogs(p.Name, &corev1.PodLogOptions{Container: containerName, TailLines: &tail}).DoRaw(ctx); err == nil && len(raw) > 0 {
		b.WriteString("; last log lines: ")
		b.WriteString(strings.Join(strings.Split(strings.TrimSpace(string(raw)), "\n"), " | "))
	}
	return fmt.Errorf("%s", b.String())
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}
