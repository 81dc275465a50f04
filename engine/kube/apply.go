package kube

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"devstack/engine/event"
	"devstack/engine/graph"
	"devstack/engine/model"
)

// UpOptions tune Up.
type UpOptions struct {
	// Images maps services to the references their pods run (pushed
	// images by digest).
	Images map[string]string
	// Synced are the container paths live sync fills, per service.
	Synced map[string][]string
	// Wait waits until every Deployment has rolled out and is Ready.
	Wait bool
	// Timeout bounds each wait (a dependency's readiness, --wait); 0: 5 minutes.
	Timeout time.Duration
	// NoRollback leaves what a failed up applied in place (scratch: its
	// whole namespace is removed after anyway).
	NoRollback bool
}

// observed is what the namespace holds of the project, by object name.
type observed struct {
	deployments map[string]*appsv1.Deployment
	services    map[string]*corev1.Service
	configMaps  map[string]*corev1.ConfigMap
	secrets     map[string]*corev1.Secret
	claims      map[string]*corev1.PersistentVolumeClaim
	storage     bool // the cluster has a default storage class
	dns         bool // the cluster has a DNS service (kube-dns)
}

func (c *Cluster) observe(ctx context.Context, project string) (*observed, error) {
	o := &observed{deployments: map[string]*appsv1.Deployment{}, services: map[string]*corev1.Service{},
		configMaps: map[string]*corev1.ConfigMap{}, secrets: map[string]*corev1.Secret{}, claims: map[string]*corev1.PersistentVolumeClaim{}}
	list := metav1.ListOptions{LabelSelector: ProjectSelector(project)}
	ns := c.namespace
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		l, err := c.cs.AppsV1().Deployments(ns).List(ctx, list)
		for i := range l.Items {
			o.deployments[l.Items[i].Name] = &l.Items[i]
		}
		return explain(err, "list", "deployments", "", ns)
	})
	g.Go(func() error {
		l, err := c.cs.CoreV1().Services(ns).List(ctx, list)
		for i := range l.Items {
			o.services[l.Items[i].Name] = &l.Items[i]
		}
		return explain(err, "list", "services", "", ns)
	})
	g.Go(func() error {
		l, err := c.cs.CoreV1().ConfigMaps(ns).List(ctx, list)
		for i := range l.Items {
			o.configMaps[l.Items[i].Name] = &l.Items[i]
		}
		return explain(err, "list", "configmaps", "", ns)
	})
	g.Go(func() error {
		l, err := c.cs.CoreV1().Secrets(ns).List(ctx, list)
		for i := range l.Items {
			o.secrets[l.Items[i].Name] = &l.Items[i]
		}
		return explain(err, "list", "secrets", "", ns)
	})
	g.Go(func() error {
		l, err := c.cs.CoreV1().PersistentVolumeClaims(ns).List(ctx, list)
		for i := range l.Items {
			o.claims[l.Items[i].Name] = &l.Items[i]
		}
		return explain(err, "list", "persistentvolumeclaims", "", ns)
	})
	g.Go(func() error {
		l, err := c.cs.StorageV1().StorageClasses().List(ctx, metav1.ListOptions{})
		if err != nil {
			o.storage = true // may not list them: assume the cluster has one, the claim will say
			return nil
		}
		for _, sc := range l.Items {
			if sc.Annotations["storageclass.kubernetes.io/is-default-class"] == "true" {
				o.storage = true
			}
		}
		return nil
	})
	g.Go(func() error {
		_, err := c.cs.CoreV1().Services("kube-system").Get(ctx, "kube-dns", metav1.GetOptions{})
		o.dns = err == nil || !apierrors.IsNotFound(err)
		return nil
	})
	return o, g.Wait()
}

// Up applies the project: claims, configs, secrets and Services first,
// then each Deployment once its dependencies meet their depends_on
// conditions. Only objects whose config hash changed are written; objects
// of the project the file no longer has are removed (claims are kept),
// once everything else succeeded. A failed or interrupted up is rolled
// back (see rollback): the namespace is left as it was before it, and the
// error (an *UpError) says what was put back.
func (c *Cluster) Up(ctx context.Context, p *model.Project, o UpOptions, sink event.Sink) (*Manifest, error) {
	if sink == nil {
		sink = event.Discard
	}
	j := &journal{}
	m, err := c.up(ctx, p, o, sink, j)
	if err == nil || o.NoRollback {
		return m, err
	}
	return nil, c.rollback(ctx, p.Name, j, err, sink)
}

func (c *Cluster) up(ctx context.Context, p *model.Project, o UpOptions, sink event.Sink, j *journal) (*Manifest, error) {
	if o.Timeout == 0 {
		o.Timeout = 5 * time.Minute
	}
	gr, err := graph.New(p)
	if err != nil {
		return nil, err
	}
	// Translate once before touching the cluster: a field that cannot map
	// fails here, with nothing made.
	target := Target{Namespace: c.namespace, Images: o.Images, Synced: o.Synced, StorageClass: true, Env: envLookup(p)}
	if _, err := Translate(p, target); err != nil {
		return nil, err
	}
	created, err := c.ensureNamespace(ctx, p.Name)
	j.namespaceCreated = created
	if err != nil {
		return nil, err
	}
	obs, err := c.observe(ctx, p.Name)
	if err != nil {
		return nil, err
	}
	target.StorageClass = obs.storage
	m, err := Translate(p, target)
	if err != nil {
		return nil, err
	}

	// Services first: their addresses are what the pods are told when the
	// cluster has no DNS.
	svcIP := map[string]string{}
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	for _, s := range m.Services {
		g.Go(func() error {
			got, err := c.applyService(gctx, s, obs.services[s.Name], j)
			if err == nil && got.Spec.ClusterIP != "" && got.Spec.ClusterIP != corev1.ClusterIPNone {
				mu.Lock()
				svcIP[s.Name] = got.Spec.ClusterIP
				mu.Unlock()
			}
			return err
		})
	}
	for _, cl := range m.Claims {
		if _, ok := obs.claims[cl.Name]; ok {
			continue // a claim's spec is fixed once bound: keep it (and its data)
		}
		g.Go(func() error {
			_, err := c.cs.CoreV1().PersistentVolumeClaims(c.namespace).Create(gctx, cl, metav1.CreateOptions{})
			if done(gctx, err) {
				j.created("persistentvolumeclaim", cl.Name)
				sink.Publish(event.Progress{Time: time.Now(), Kind: event.KindVolume, Name: cl.Name, Action: event.Created})
			}
			return explain(err, "create", "persistentvolumeclaims", cl.Name, c.namespace)
		})
	}
	for _, cm := range m.ConfigMaps {
		g.Go(func() error { return c.applyConfigMap(gctx, cm, obs.configMaps[cm.Name], j) })
	}
	for _, s := range m.Secrets {
		g.Go(func() error { return c.applySecret(gctx, s, obs.secrets[s.Name], j) })
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if !obs.dns {
		target.Hosts = svcIP
		if m, err = Translate(p, target); err != nil {
			return nil, err
		}
	}

	deployments := map[string]*appsv1.Deployment{}
	for _, d := range m.Deployments {
		deployments[d.Labels[model.LabelService]] = d
	}
	w := c.newWaiter(p.Name)
	defer w.stop()
	done := map[string]chan struct{}{}
	for _, name := range gr.Services() {
		done[name] = make(chan struct{})
	}
	g, gctx = errgroup.WithContext(ctx)
	for _, name := range gr.Order() {
		svc, _ := p.Service(name)
		d := deployments[name]
		old := obs.deployments[d.Name]
		// A stopped Deployment (stop scaled it to 0) is started again, as
		// compose's up starts stopped containers.
		changed := old == nil || old.Annotations[AnnotationHash] != d.Annotations[AnnotationHash] || old.Annotations[AnnotationStopped] != ""
		g.Go(func() error {
			defer close(done[name])
			if changed {
				// A dependent is created once its dependencies meet their conditions.
				for dep, cond := range svc.DependsOn {
					select {
					case <-done[dep]:
					case <-gctx.Done():
						return gctx.Err()
					}
					if _, ok := deployments[dep]; !ok {
						continue
					}
					sink.Publish(event.Progress{Time: time.Now(), Kind: event.KindContainer, Name: name, Service: name, Action: event.Waiting, Detail: dep + " " + cond.Condition})
					if err := w.until(gctx, dep, cond.Condition, o.Timeout); err != nil {
						return fmt.Errorf("service %s waits for %s: %w", name, dep, err)
					}
				}
				if err := c.applyDeployment(gctx, d, old, sink, j); err != nil {
					return err
				}
			} else {
				sink.Publish(event.Progress{Time: time.Now(), Kind: event.KindContainer, Name: d.Name, Service: name, Action: event.Running})
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if o.Wait {
		g, gctx = errgroup.WithContext(ctx)
		for _, d := range m.Deployments {
			name := d.Labels[model.LabelService]
			g.Go(func() error {
				if err := w.until(gctx, name, model.ConditionHealthy, o.Timeout); err != nil {
					return fmt.Errorf("service %s: %w", name, err)
				}
				sink.Publish(event.Progress{Time: time.Now(), Kind: event.KindContainer, Name: d.Name, Service: name, Action: event.Healthy})
				return nil
			})
		}
		if err := g.Wait(); err != nil {
			return nil, err
		}
	}
	// Orphans go last, once the rest is up: a failed up has removed
	// nothing, so its rollback need not re-create anything.
	if err := c.removeOrphans(ctx, m, obs, sink); err != nil {
		return nil, err
	}
	return m, nil
}

// envLookup finds the value of a variable a service passes without one:
// the environment the project was interpolated with.
func envLookup(p *model.Project) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := p.Environment[k]
		return v, ok
	}
}

func (c *Cluster) applyService(ctx context.Context, s *corev1.Service, old *corev1.Service, j *journal) (*corev1.Service, error) {
	api := c.cs.CoreV1().Services(c.namespace)
	if old == nil {
		got, err := api.Create(ctx, s, metav1.CreateOptions{})
		if done(ctx, err) {
			j.created("service", s.Name)
		}
		return got, explain(err, "create", "services", s.Name, c.namespace)
	}
	if old.Annotations[AnnotationHash] == s.Annotations[AnnotationHash] {
		return old, nil
	}
	if (old.Spec.ClusterIP == corev1.ClusterIPNone) != (s.Spec.ClusterIP == corev1.ClusterIPNone) {
		// A Service cannot turn headless or back: replace it.
		if err := api.Delete(ctx, s.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return nil, explain(err, "delete", "services", s.Name, c.namespace)
		}
		j.replaced("service", s.Name, old)
		got, err := api.Create(ctx, s, metav1.CreateOptions{})
		return got, explain(err, "create", "services", s.Name, c.namespace)
	}
	s = s.DeepCopy()
	s.ResourceVersion = old.ResourceVersion
	s.Spec.ClusterIP, s.Spec.ClusterIPs = old.Spec.ClusterIP, old.Spec.ClusterIPs
	got, err := api.Update(ctx, s, metav1.UpdateOptions{})
	if done(ctx, err) {
		j.changed("service", s.Name, old)
	}
	return got, explain(err, "update", "services", s.Name, c.namespace)
}

func (c *Cluster) applyConfigMap(ctx context.Context, cm, old *corev1.ConfigMap, j *journal) error {
	api := c.cs.CoreV1().ConfigMaps(c.namespace)
	var err error
	switch {
	case old == nil:
		if _, err = api.Create(ctx, cm, metav1.CreateOptions{}); done(ctx, err) {
			j.created("configmap", cm.Name)
		}
		return explain(err, "create", "configmaps", cm.Name, c.namespace)
	case old.Annotations[AnnotationHash] != cm.Annotations[AnnotationHash]:
		cm = cm.DeepCopy()
		cm.ResourceVersion = old.ResourceVersion
		if _, err = api.Update(ctx, cm, metav1.UpdateOptions{}); done(ctx, err) {
			j.changed("configmap", cm.Name, old)
		}
		return explain(err, "update", "configmaps", cm.Name, c.namespace)
	}
	return nil
}

func (c *Cluster) applySecret(ctx context.Context, s, old *corev1.Secret, j *journal) error {
	api := c.cs.CoreV1().Secrets(c.namespace)
	var err error
	switch {
	case old == nil:
		if _, err = api.Create(ctx, s, metav1.CreateOptions{}); done(ctx, err) {
			j.created("secret", s.Name)
		}
		return explain(err, "create", "secrets", s.Name, c.namespace)
	case old.Annotations[AnnotationHash] != s.Annotations[AnnotationHash]:
		s = s.DeepCopy()
		s.ResourceVersion = old.ResourceVersion
		if _, err = api.Update(ctx, s, metav1.UpdateOptions{}); done(ctx, err) {
			j.changed("secret", s.Name, old)
		}
		return explain(err, "update", "secrets", s.Name, c.namespace)
	}
	return nil
}

func (c *Cluster) applyDeployment(ctx context.Context, d, old *appsv1.Deployment, sink event.Sink, j *journal) error {
	api := c.cs.AppsV1().Deployments(c.namespace)
	svc := d.Labels[model.LabelService]
	start := time.Now()
	if old == nil {
		sink.Publish(event.Progress{Time: start, Kind: event.KindContainer, Name: d.Name, Service: svc, Action: event.Creating})
		_, err := api.Create(ctx, d, metav1.CreateOptions{})
		if done(ctx, err) {
			j.created("deployment", d.Name)
		}
		if err != nil {
			return explain(err, "create", "deployments", d.Name, c.namespace)
		}
		sink.Publish(event.Progress{Time: time.Now(), Kind: event.KindContainer, Name: d.Name, Service: svc, Action: event.Created, Duration: time.Since(start).Seconds()})
		return nil
	}
	sink.Publish(event.Progress{Time: start, Kind: event.KindContainer, Name: d.Name, Service: svc, Action: event.Recreating, Detail: "config changed"})
	d = d.DeepCopy()
	d.ResourceVersion = old.ResourceVersion
	_, err := api.Update(ctx, d, metav1.UpdateOptions{})
	if done(ctx, err) {
		j.changed("deployment", d.Name, old)
	}
	if err != nil {
		return explain(err, "update", "deployments", d.Name, c.namespace)
	}
	sink.Publish(event.Progress{Time: time.Now(), Kind: event.KindContainer, Name: d.Name, Service: svc, Action: event.Started, Detail: "rolling out", Duration: time.Since(start).Seconds()})
	return nil
}

// removeOrphans removes the project's objects the file no longer has;
// claims stay (their data is the user's until down -v).
func (c *Cluster) removeOrphans(ctx context.Context, m *Manifest, obs *observed, sink event.Sink) error {
	want := map[string]bool{}
	for _, d := range m.Deployments {
		want["d/"+d.Name] = true
	}
	for _, s := range m.Services {
		want["s/"+s.Name] = true
	}
	for _, x := range m.ConfigMaps {
		want["c/"+x.Name] = true
	}
	for _, x := range m.Secrets {
		want["x/"+x.Name] = true
	}
	bg := metav1.DeletePropagationBackground
	del := metav1.DeleteOptions{PropagationPolicy: &bg}
	var errs []string
	note := func(err error, kind, name string) {
		if err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, explain(err, "delete", kind, name, c.namespace).Error())
		}
	}
	for n := range obs.deployments {
		if !want["d/"+n] {
			sink.Publish(event.Progress{Time: time.Now(), Kind: event.KindContainer, Name: n, Action: event.Removed, Detail: "orphan"})
			note(c.cs.AppsV1().Deployments(c.namespace).Delete(ctx, n, del), "deployments", n)
		}
	}
	for n := range obs.services {
		if !want["s/"+n] {
			note(c.cs.CoreV1().Services(c.namespace).Delete(ctx, n, del), "services", n)
		}
	}
	for n := range obs.configMaps {
		if !want["c/"+n] {
			note(c.cs.CoreV1().ConfigMaps(c.namespace).Delete(ctx, n, del), "configmaps", n)
		}
	}
	for n := range obs.secrets {
		if !want["x/"+n] {
			note(c.cs.CoreV1().Secrets(c.namespace).Delete(ctx, n, del), "secrets", n)
		}
	}
	if len(errs) > 0 {
		sort.Strings(errs)
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

func nsObject(name, project string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name,
		Labels:      map[string]string{model.LabelProject: project, LabelManagedBy: ManagedBy},
		Annotations: map[string]string{AnnotationCreated: "true"}}}
}
