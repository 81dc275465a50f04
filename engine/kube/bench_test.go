package kube_test

import (
	"context"
	"path/filepath"
	"sort"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"devstack/engine/enginetest"
	"devstack/engine/graph"
	"devstack/engine/kube"
	"devstack/engine/kube/kubetest"
	"devstack/engine/load"
	"devstack/engine/model"
)

// BenchmarkKubeUpDag20 measures up of the 20-service, 4-layer health-gated
// chain on the test cluster beside its floor: the same objects applied
// with plain API calls, each layer once the previous one is Ready. Then
// the no-op up (nothing changed) on the stack devstack made.
//
//	make kube-cluster && go test ./engine/kube -run '^$' -bench KubeUpDag20 -benchtime 3x
func BenchmarkKubeUpDag20(b *testing.B) {
	kc := kubetest.Kubeconfig(b)
	enginetest.NeedDocker(b)
	enginetest.Busybox(b)
	kubetest.LoadImage(b, enginetest.BusyboxImage)
	cfg := kubetest.Config(b)
	ctx := context.Background()
	load1 := func(name string) *model.Project {
		p, err := load.Load(ctx, load.Options{Files: []string{filepath.Join("..", "..", "testdata", "bench", "dag20", "compose.yaml")}, ProjectName: name})
		if err != nil {
			b.Fatal(err)
		}
		return p
	}
	var ups, floors, noops []time.Duration
	for i := 0; i < b.N; i++ {
		// devstack
		name := uniqueName("bd")
		p := load1(name)
		c, err := kube.Connect(ctx, kube.Options{Kubeconfig: kc}, name)
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		if _, err := c.Up(ctx, p, kube.UpOptions{Wait: true, Timeout: 5 * time.Minute}, nil); err != nil {
			b.Fatal(err)
		}
		ups = append(ups, time.Since(start))
		start = time.Now()
		if _, err := c.Up(ctx, p, kube.UpOptions{}, nil); err != nil {
			b.Fatal(err)
		}
		noops = append(noops, time.Since(start))
		if err := c.Down(ctx, name, kube.DownOptions{Volumes: true}, nil); err != nil {
			b.Fatal(err)
		}

		// The floor: the same objects, plain calls, layer by layer.
		fname := uniqueName("bf")
		fp := load1(fname)
		fc, err := kube.NewForConfig(cfg, fname)
		if err != nil {
			b.Fatal(err)
		}
		m, err := kube.Translate(fp, kube.Target{Namespace: fname, StorageClass: true, Env: func(string) (string, bool) { return "", false }})
		if err != nil {
			b.Fatal(err)
		}
		cs := fc.Clientset()
		start = time.Now()
		if err := floorUp(ctx, cs, fname, fp, m); err != nil {
			b.Fatal(err)
		}
		floors = append(floors, time.Since(start))
		_ = cs.CoreV1().Namespaces().Delete(ctx, fname, metav1.DeleteOptions{})
		// The next round starts on an idle cluster: the floor's pods gone.
		for deadline := time.Now().Add(3 * time.Minute); ; {
			l, err := cs.CoreV1().Pods(fname).List(ctx, metav1.ListOptions{})
			if err == nil && len(l.Items) == 0 {
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("the floor's pods are still there after 3 minutes")
			}
			time.Sleep(200 * time.Millisecond) // polling with a deadline
		}
		b.Logf("round %d: up %v, floor %v, no-op up %v, load %.2f", i+1, ups[i].Round(time.Millisecond), floors[i].Round(time.Millisecond), noops[i].Round(time.Millisecond), kubetest.LoadAvg())
	}
	b.ReportMetric(median(ups).Seconds(), "up-s")
	b.ReportMetric(median(floors).Seconds(), "floor-s")
	b.ReportMetric(median(ups).Seconds()/median(floors).Seconds(), "up/floor")
	b.ReportMetric(float64(median(noops).Milliseconds()), "noop-up-ms")
	b.ReportMetric(kubetest.LoadAvg(), "load1")
}

func floorUp(ctx context.Context, cs kubernetes.Interface, ns string, p *model.Project, m *kube.Manifest) error {
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		return err
	}
	for _, s := range m.Services {
		if _, err := cs.CoreV1().Services(ns).Create(ctx, s, metav1.CreateOptions{}); err != nil {
			return err
		}
	}
	gr, err := graph.New(p)
	if err != nil {
		return err
	}
	depth := map[string]int{}
	for _, n := range gr.Order() {
		for _, d := range gr.Dependencies(n) {
			if depth[d]+1 > depth[n] {
				depth[n] = depth[d] + 1
			}
		}
	}
	byName := map[string]*appsv1.Deployment{}
	for _, d := range m.Deployments {
		byName[d.Name] = d
	}
	layers := map[int][]string{}
	var ds []int
	for n, d := range depth {
		if layers[d] == nil {
			ds = append(ds, d)
		}
		layers[d] = append(layers[d], n)
	}
	sort.Ints(ds)
	for _, d := range ds {
		for _, n := range layers[d] {
			if _, err := cs.AppsV1().Deployments(ns).Create(ctx, byName[n], metav1.CreateOptions{}); err != nil {
				return err
			}
		}
		if err := waitReady(ctx, cs, ns, layers[d]); err != nil {
			return err
		}
	}
	return nil
}

// waitReady watches the namespace's Deployments until the named ones are Ready.
func waitReady(ctx context.Context, cs kubernetes.Interface, ns string, names []string) error {
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	l, err := cs.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	ready := func(d *appsv1.Deployment) bool {
		return d.Status.ObservedGeneration >= d.Generation && d.Status.ReadyReplicas >= *d.Spec.Replicas && d.Status.UpdatedReplicas == *d.Spec.Replicas
	}
	for i := range l.Items {
		if ready(&l.Items[i]) {
			delete(want, l.Items[i].Name)
		}
	}
	if len(want) == 0 {
		return nil
	}
	w, err := cs.AppsV1().Deployments(ns).Watch(ctx, metav1.ListOptions{ResourceVersion: l.ResourceVersion})
	if err != nil {
		return err
	}
	defer w.Stop()
	for ev := range w.ResultChan() {
		if d, ok := ev.Object.(*appsv1.Deployment); ok && ready(d) {
			delete(want, d.Name)
			if len(want) == 0 {
				return nil
			}
		}
	}
	return ctx.Err()
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}
