package kube

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sort"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"

	"devstack/engine/event"
	"devstack/engine/model"
)

// journal records what one up wrote, so that a failed up can put the
// namespace back as it was (helm's --atomic): what it created is deleted,
// what it changed gets its previous object back. Goroutines of up write
// to it at once; mu guards the lists.
type journal struct {
	mu               sync.Mutex
	namespaceCreated bool // set before any goroutine starts
	steps            []step
}

// step is one write of up (or one that may have happened: see done):
// kind/name created (prev nil), changed (prev
// is the object as up read it before), or deleted and created anew
// (replaced: a Service turned headless or back).
type step struct {
	kind, name string
	prev       any
	replaced   bool
}

func (j *journal) created(kind, name string) { j.add(step{kind: kind, name: name}) }
func (j *journal) changed(kind, name string, prev any) {
	j.add(step{kind: kind, name: name, prev: prev})
}
func (j *journal) replaced(kind, name string, prev any) {
	j.add(step{kind: kind, name: name, prev: prev, replaced: true})
}

func (j *journal) add(s step) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.steps = append(j.steps, s)
}

// done says a write may have happened: it succeeded, or the context ended
// while it was on its way (the server may have done it without our
// hearing). Undoing a write that did not happen finds nothing to undo.
func done(ctx context.Context, err error) bool { return err == nil || ctx.Err() != nil }

// UpError is a failed or interrupted up and what its rollback did.
type UpError struct {
	Err error // why up failed (context.Canceled when interrupted)
	// RolledBack lists what the rollback did, e.g. "removed
	// deployment/web; restored deployment/db to its previous spec".
	RolledBack []string
	// RollbackErr is what the rollback could not do (nil: the namespace
	// is as it was before up).
	RollbackErr error
	Took        time.Duration // the rollback's time
}

func (e *UpError) Error() string {
	var b strings.Builder
	if errors.Is(e.Err, context.Canceled) {
		b.WriteString("interrupted")
	} else {
		b.WriteString(e.Err.Error())
	}
	switch {
	case len(e.RolledBack) == 0 && e.RollbackErr == nil:
		b.WriteString("; nothing was changed")
	case len(e.RolledBack) > 0:
		b.WriteString("; rolled back: " + strings.Join(e.RolledBack, "; "))
	}
	if e.RollbackErr != nil {
		b.WriteString("; the rollback is incomplete: " + e.RollbackErr.Error() + " (down removes what is left)")
	}
	return b.String()
}

func (e *UpError) Unwrap() error { return e.Err }

// rollbackTimeout bounds a rollback, the wait for the restored pods to be
// Ready and the removed ones to be gone included.
const rollbackTimeout = 3 * time.Minute

// rollback puts the namespace back as it was before the up that wrote j,
// after that up failed with cause (also when its context was cancelled:
// the rollback runs on a context of its own). In order:
//   - claims this up created are deleted unless a pod mounting one is
//     Ready: such a claim may hold data someone wrote through that pod,
//     and nothing of the user's is deleted; a claim whose pods never were
//     Ready holds only what a failed start wrote;
//   - Deployments it created are deleted; Deployments it changed get their
//     previous object back (spec, labels, annotations). The Deployment
//     controller finds the ReplicaSet of the previous pod template and
//     scales it back up, so this is `kubectl rollout undo` without the
//     client-side ReplicaSet search, and exact: the hash annotation is the
//     previous one too, so the next up sees what is really there;
//   - Services, ConfigMaps and Secrets likewise (a Service it replaced is
//     deleted and its previous one created again);
//   - it waits until the removed Deployments' pods and claims are gone and
//     the restored Deployments are rolled out again;
//   - a namespace this up created is removed when nothing is left in it.
func (c *Cluster) rollback(ctx context.Context, project string, j *journal, cause error, sink event.Sink) error {
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rollbackTimeout)
	defer cancel()
	j.mu.Lock()
	steps := append([]step(nil), j.steps...)
	j.mu.Unlock()
	ue := &UpError{Err: cause}
	u := &undoing{ctx: ctx, ns: c.namespace}
	fg := metav1.DeletePropagationBackground
	u.del = metav1.DeleteOptions{PropagationPolicy: &fg}
	ns := c.namespace

	byKind := map[string][]step{}
	for _, s := range steps {
		byKind[s.kind] = append(byKind[s.kind], s)
	}
	for _, list := range byKind {
		sort.Slice(list, func(a, b int) bool { return list[a].name < list[b].name })
	}
	var keptClaims []string
	var goneServices []string // services whose Deployment was removed: their pods must go
	var restoredDeps []string

	// Which claims a Ready pod mounts, before any pod is touched.
	inUse := map[string]bool{}
	if len(byKind["persistentvolumeclaim"]) > 0 {
		pods, err := c.cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: ProjectSelector(project)})
		if err != nil {
			u.fail(explain(err, "list", "pods", "", ns))
			// Unsure which claims hold data: keep them all.
			for _, s := range byKind["persistentvolumeclaim"] {
				inUse[s.name] = true
			}
			pods = &corev1.PodList{}
		}
		for _, p := range pods.Items {
			if !podReady(&p) {
				continue
			}
			for _, v := range p.Spec.Volumes {
				if v.PersistentVolumeClaim != nil {
					inUse[v.PersistentVolumeClaim.ClaimName] = true
				}
			}
		}
	}

	deps := c.cs.AppsV1().Deployments(ns)
	for _, s := range byKind["deployment"] {
		if s.prev == nil {
			d := remove[appsv1.Deployment](u, deps, "deployment", s.name)
			if d == nil {
				continue
			}
			goneServices = append(goneServices, d.Labels[model.LabelService])
			// Its pods that never turned Ready served nobody: they get a
			// second to stop, not their full grace period (a container
			// that ignores SIGTERM would hold the rollback 30s). Ready ones
			// end as the cluster ends them.
			one := int64(1)
			pods, _ := c.cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: serviceSelector(project, d.Labels[model.LabelService])})
			for _, p := range pods.Items {
				if !podReady(&p) && p.Labels[LabelRun] == "" {
					_ = c.cs.CoreV1().Pods(ns).Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: &one})
				}
			}
			sink.Publish(event.Progress{Time: time.Now(), Kind: event.KindContainer, Name: s.name, Service: d.Labels[model.LabelService], Action: event.Removed, Detail: "rolled back"})
			continue
		}
		prev := s.prev.(*appsv1.Deployment)
		if restore(u, deps, "deployment", s.name, func(cur *appsv1.Deployment) {
			cur.Spec = *prev.Spec.DeepCopy()
			cur.Labels = prev.Labels
			// The previous annotations (its config hash), but the revision
			// stays the controller's: it numbers the rollback as a new one.
			back := maps.Clone(prev.Annotations)
			if back == nil {
				back = map[string]string{}
			}
			if r, ok := cur.Annotations[revisionAnnotation]; ok {
				back[revisionAnnotation] = r
			}
			cur.Annotations = back
		}) {
			restoredDeps = append(restoredDeps, s.name)
			sink.Publish(event.Progress{Time: time.Now(), Kind: event.KindContainer, Name: s.name, Service: prev.Labels[model.LabelService], Action: event.Recreating, Detail: "rolling back to the previous spec"})
		}
	}

	svcs := c.cs.CoreV1().Services(ns)
	for _, s := range byKind["service"] {
		switch {
		case s.prev == nil:
			remove[corev1.Service](u, svcs, "service", s.name)
		case s.replaced:
			if err := svcs.Delete(ctx, s.name, u.del); err != nil && !apierrors.IsNotFound(err) {
				u.fail(explain(err, "delete", "services", s.name, ns))
				continue
			}
			prev := s.prev.(*corev1.Service)
			again := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: prev.Name, Namespace: ns, Labels: prev.Labels, Annotations: prev.Annotations}, Spec: *prev.Spec.DeepCopy()}
			_, err := svcs.Create(ctx, again, metav1.CreateOptions{})
			if err != nil && again.Spec.ClusterIP != corev1.ClusterIPNone {
				// Its address may have been taken meanwhile: any will do.
				again.Spec.ClusterIP, again.Spec.ClusterIPs = "", nil
				_, err = svcs.Create(ctx, again, metav1.CreateOptions{})
			}
			if err != nil {
				u.fail(explain(err, "create", "services", s.name, ns))
				continue
			}
			u.restored = append(u.restored, "service/"+s.name)
		default:
			prev := s.prev.(*corev1.Service)
			restore(u, svcs, "service", s.name, func(cur *corev1.Service) {
				cur.Spec, cur.Labels, cur.Annotations = *prev.Spec.DeepCopy(), prev.Labels, prev.Annotations
			})
		}
	}

	cms := c.cs.CoreV1().ConfigMaps(ns)
	for _, s := range byKind["configmap"] {
		if s.prev == nil {
			remove[corev1.ConfigMap](u, cms, "configmap", s.name)
			continue
		}
		prev := s.prev.(*corev1.ConfigMap)
		restore(u, cms, "configmap", s.name, func(cur *corev1.ConfigMap) {
			cur.Data, cur.BinaryData, cur.Labels, cur.Annotations = prev.Data, prev.BinaryData, prev.Labels, prev.Annotations
		})
	}

	secrets := c.cs.CoreV1().Secrets(ns)
	for _, s := range byKind["secret"] {
		if s.prev == nil {
			remove[corev1.Secret](u, secrets, "secret", s.name)
			continue
		}
		prev := s.prev.(*corev1.Secret)
		restore(u, secrets, "secret", s.name, func(cur *corev1.Secret) {
			cur.Data, cur.StringData, cur.Labels, cur.Annotations = prev.Data, nil, prev.Labels, prev.Annotations
		})
	}

	claims := c.cs.CoreV1().PersistentVolumeClaims(ns)
	var goneClaims []string
	for _, s := range byKind["persistentvolumeclaim"] {
		if inUse[s.name] {
			keptClaims = append(keptClaims, "persistentvolumeclaim/"+s.name)
			continue
		}
		// Deleted now, gone once the pods that mount it are (the cluster's
		// pvc-protection waits for them).
		if remove[corev1.PersistentVolumeClaim](u, claims, "persistentvolumeclaim", s.name) != nil {
			goneClaims = append(goneClaims, s.name)
			sink.Publish(event.Progress{Time: time.Now(), Kind: event.KindVolume, Name: s.name, Action: event.Removed, Detail: "rolled back"})
		}
	}

	// Nothing half-deployed when up returns: the removed pods gone, the
	// restored ones serving again.
	u.fail(c.awaitRollback(ctx, project, goneServices, goneClaims, restoredDeps))

	if j.namespaceCreated {
		empty, err := c.namespaceEmpty(ctx)
		u.fail(err)
		if empty {
			if err := c.removeNamespace(ctx, ns); err != nil {
				u.fail(err)
			} else {
				u.removed = append(u.removed, "namespace/"+ns)
			}
		}
	}

	if len(u.removed) > 0 {
		ue.RolledBack = append(ue.RolledBack, "removed "+strings.Join(u.removed, ", "))
	}
	if len(u.restored) > 0 {
		ue.RolledBack = append(ue.RolledBack, "restored "+strings.Join(u.restored, ", ")+" to the previous spec")
	}
	if len(keptClaims) > 0 {
		ue.RolledBack = append(ue.RolledBack, "kept "+strings.Join(keptClaims, ", ")+" (a Ready pod mounts it, so it may hold data: down -v removes it)")
	}
	if len(u.errs) > 0 {
		ue.RollbackErr = errors.New(strings.Join(u.errs, "; "))
	}
	ue.Took = time.Since(start)
	return ue
}

// objects is what the rollback needs of a client-go typed client.
type objects[T any] interface {
	Get(context.Context, string, metav1.GetOptions) (*T, error)
	Update(context.Context, *T, metav1.UpdateOptions) (*T, error)
	Delete(context.Context, string, metav1.DeleteOptions) error
}

// undoing is one rollback's account: what it removed and restored, and
// what it could not do.
type undoing struct {
	ctx                     context.Context
	ns                      string
	del                     metav1.DeleteOptions
	removed, restored, errs []string
}

func (u *undoing) fail(err error) {
	if err != nil {
		u.errs = append(u.errs, err.Error())
	}
}

// remove deletes kind/name, which the up created. It returns the object as
// it was, or nil when there was none (its create did not happen) or it
// could not be deleted.
func remove[T any](u *undoing, api objects[T], kind, name string) *T {
	obj, err := api.Get(u.ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		u.fail(explain(err, "get", kind+"s", name, u.ns))
		return nil
	}
	if err := api.Delete(u.ctx, name, u.del); err != nil {
		if !apierrors.IsNotFound(err) {
			u.fail(explain(err, "delete", kind+"s", name, u.ns))
		}
		return nil
	}
	u.removed = append(u.removed, kind+"/"+name)
	return obj
}

// restore gives kind/name, which the up changed, its previous content back:
// put copies it from the object read before the change into the current
// one (the cluster's own fields, its version among them, stay).
func restore[T any](u *undoing, api objects[T], kind, name string, put func(cur *T)) bool {
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := api.Get(u.ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		put(cur)
		_, err = api.Update(u.ctx, cur, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		u.fail(explain(err, "update", kind+"s", name, u.ns))
		return false
	}
	u.restored = append(u.restored, kind+"/"+name)
	return true
}

func serviceSelector(project, service string) string {
	return model.LabelProject + "=" + project + "," + model.LabelService + "=" + service
}

// revisionAnnotation is the Deployment controller's revision number.
const revisionAnnotation = "deployment.kubernetes.io/revision"

func podReady(p *corev1.Pod) bool {
	if p.DeletionTimestamp != nil {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

// awaitRollback waits until the pods of the removed services and the
// removed claims are gone, and the restored Deployments rolled out.
// Polled: a rollback is rare, and it waits on several kinds at once.
func (c *Cluster) awaitRollback(ctx context.Context, project string, goneServices, goneClaims, restored []string) error {
	if len(goneServices)+len(goneClaims)+len(restored) == 0 {
		return nil
	}
	ns := c.namespace
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		var left []string
		for _, svc := range goneServices {
			sel := metav1.ListOptions{LabelSelector: serviceSelector(project, svc)}
			pods, err := c.cs.CoreV1().Pods(ns).List(ctx, sel)
			if err != nil {
				return explain(err, "list", "pods", "", ns)
			}
			for _, p := range pods.Items {
				if p.Labels[LabelRun] == "" {
					left = append(left, "pod/"+p.Name)
				}
			}
			rss, err := c.cs.AppsV1().ReplicaSets(ns).List(ctx, sel)
			if err != nil {
				return explain(err, "list", "replicasets", "", ns)
			}
			for _, r := range rss.Items {
				left = append(left, "replicaset/"+r.Name)
			}
		}
		for _, n := range goneClaims {
			if _, err := c.cs.CoreV1().PersistentVolumeClaims(ns).Get(ctx, n, metav1.GetOptions{}); err == nil {
				left = append(left, "persistentvolumeclaim/"+n)
			}
		}
		for _, n := range restored {
			d, err := c.cs.AppsV1().Deployments(ns).Get(ctx, n, metav1.GetOptions{})
			if err != nil {
				return explain(err, "get", "deployments", n, ns)
			}
			if !rolledOut(d) {
				left = append(left, "deployment/"+n+" (not rolled out)")
				continue
			}
			// Rolled out counts no terminating pod: wait for the failed
			// ones to be gone too.
			pods, err := c.cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: serviceSelector(project, d.Labels[model.LabelService])})
			if err != nil {
				return explain(err, "list", "pods", "", ns)
			}
			for _, p := range pods.Items {
				if p.DeletionTimestamp != nil && p.Labels[LabelRun] == "" {
					left = append(left, "pod/"+p.Name)
				}
			}
		}
		if len(left) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("still there after %s: %s", rollbackTimeout, strings.Join(left, ", "))
		case <-tick.C:
		}
	}
}

// namespaceEmpty says nothing but what the cluster puts in every
// namespace is left in c's namespace.
func (c *Cluster) namespaceEmpty(ctx context.Context) (bool, error) {
	ns := c.namespace
	one := metav1.ListOptions{Limit: 1}
	checks := []func() (int, error){
		func() (int, error) { l, err := c.cs.CoreV1().Pods(ns).List(ctx, one); return len(l.Items), err },
		func() (int, error) { l, err := c.cs.AppsV1().Deployments(ns).List(ctx, one); return len(l.Items), err },
		func() (int, error) { l, err := c.cs.AppsV1().ReplicaSets(ns).List(ctx, one); return len(l.Items), err },
		func() (int, error) { l, err := c.cs.CoreV1().Services(ns).List(ctx, one); return len(l.Items), err },
		func() (int, error) { l, err := c.cs.CoreV1().Secrets(ns).List(ctx, one); return len(l.Items), err },
		func() (int, error) {
			l, err := c.cs.CoreV1().PersistentVolumeClaims(ns).List(ctx, one)
			return len(l.Items), err
		},
		func() (int, error) {
			// Every namespace gets the cluster's CA bundle: not the user's.
			l, err := c.cs.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{FieldSelector: "metadata.name!=kube-root-ca.crt", Limit: 1})
			return len(l.Items), err
		},
	}
	for _, f := range checks {
		n, err := f()
		if err != nil {
			return false, fmt.Errorf("unable to tell whether namespace %s is empty: %w", ns, err)
		}
		if n > 0 {
			return false, nil
		}
	}
	return true, nil
}
