package kube

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"

	"devstack/engine/event"
	"devstack/engine/model"
)

func testPod(name, uid, service string, mutate func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop", UID: types.UID(uid), Labels: ServiceLabels("shop", service)},
		Spec:       corev1.PodSpec{NodeName: "node-a", Containers: []corev1.Container{{Name: containerName, Image: "busybox"}}},
		Status:     corev1.PodStatus{Phase: corev1.PodPending},
	}
	if mutate != nil {
		mutate(p)
	}
	return p
}

func running(ready bool, restarts int32) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Status.Phase = corev1.PodRunning
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: containerName, Ready: ready, RestartCount: restarts,
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(time.Unix(1e9, 0))}}}}
	}
}

func TestPodState(t *testing.T) {
	waiting := func(reason string) func(*corev1.Pod) {
		return func(p *corev1.Pod) {
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: containerName, RestartCount: 3,
				State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason}}}}
		}
	}
	for _, tc := range []struct {
		name     string
		pod      *corev1.Pod
		state    string
		health   string
		restarts int
		code     int
	}{
		{"scheduled, no container yet", testPod("w", "1", "web", nil), "pending", "", 0, 0},
		{"running and Ready", testPod("w", "1", "web", running(true, 0)), "running", "healthy", 0, 0},
		{"running, not Ready yet", testPod("w", "1", "web", running(false, 1)), "running", "starting", 1, 0},
		{"crash loop", testPod("w", "1", "web", waiting("CrashLoopBackOff")), "restarting", "", 3, 0},
		{"image pull", testPod("w", "1", "web", waiting("ImagePullBackOff")), "ImagePullBackOff", "", 3, 0},
		{"creating", testPod("w", "1", "web", waiting("ContainerCreating")), "creating", "", 3, 0},
		{"exited", testPod("w", "1", "web", func(p *corev1.Pod) {
			p.Status.Phase = corev1.PodFailed
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: containerName,
				State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 2}}}}
		}), "exited", "", 0, 2},
		{"being deleted", testPod("w", "1", "web", func(p *corev1.Pod) {
			running(true, 0)(p)
			now := metav1.Now()
			p.DeletionTimestamp = &now
		}), "terminating", "healthy", 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := PodState(tc.pod, 1)
			if st.State != tc.state || st.Health != tc.health || st.Restarts != tc.restarts || st.ExitCode != tc.code {
				t.Fatalf("got state %q health %q restarts %d exit %d, want %q %q %d %d", st.State, st.Health, st.Restarts, st.ExitCode, tc.state, tc.health, tc.restarts, tc.code)
			}
			if st.Node != "node-a" || st.Service != "web" || st.Container != "w" || st.Image != "busybox" {
				t.Fatalf("identity: %+v", st)
			}
		})
	}
}

func TestSlotsReuseTheLowestFreeNumber(t *testing.T) {
	s := newSlots()
	if a, b := s.of("web", "a"), s.of("web", "b"); a != 1 || b != 2 {
		t.Fatalf("first two pods: %d %d", a, b)
	}
	if s.of("db", "c") != 1 || s.of("web", "a") != 1 {
		t.Fatal("numbers are per service and stable")
	}
	s.free("web", "a")
	if n := s.of("web", "d"); n != 1 {
		t.Fatalf("a replacement takes the freed number 1, got %d", n)
	}
}

func TestParsePodMetrics(t *testing.T) {
	raw := []byte(`{"kind":"PodMetricsList","items":[{"metadata":{"name":"web-1","labels":{"` + model.LabelService + `":"web"}},
		"containers":[{"name":"sidecar","usage":{"cpu":"1","memory":"1Gi"}},{"name":"main","usage":{"cpu":"250m","memory":"64Mi"}}]},
		{"metadata":{"name":"db-1","labels":{"` + model.LabelService + `":"db"}},"containers":[{"name":"main","usage":{"cpu":"1500000n","memory":"1024Ki"}}]}]}`)
	got, err := ParsePodMetrics(raw)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("%d samples: %+v", len(got), got)
	}
	if g := got[0]; g.Service != "web" || g.Container != "web-1" || g.CPUPercent != 25 || g.MemBytes != 64<<20 {
		t.Fatalf("web: %+v", g)
	}
	if g := got[1]; g.CPUPercent != 0.2 || g.MemBytes != 1<<20 { // 1.5m rounds up to 2m
		t.Fatalf("db: %+v", g)
	}
	if _, err := ParsePodMetrics([]byte("<html>")); err == nil {
		t.Fatal("a non-JSON answer is an error")
	}
}

// The monitor turns pod changes into the dashboard's events: a pod's
// state with its node, "no metrics" on a cluster without a metrics API,
// a removed pod, and its replacement in the same row.
func TestMonitorFollowsPods(t *testing.T) {
	cs := fake.NewClientset(testPod("web-a", "a", "web", running(true, 0)))
	c := &Cluster{cs: cs, namespace: "shop"}
	rec := &event.Recorder{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Monitor(ctx, "shop", MonitorOptions{Stats: true}, rec) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	deadline := time.Now().Add(10 * time.Second)
	state := func(match func(event.State) bool) event.State {
		t.Helper()
		e, ok := rec.Wait(deadline, func(e event.Event) bool { s, ok := e.(event.State); return ok && match(s) })
		if !ok {
			t.Fatalf("no such state among %v", rec.Events())
		}
		return e.(event.State)
	}
	st := state(func(s event.State) bool { return s.ID == "a" })
	if st.State != "running" || st.Health != "healthy" || st.Node != "node-a" || st.Replica != 1 {
		t.Fatalf("first pod: %+v", st)
	}
	if _, ok := rec.Wait(deadline, func(e event.Event) bool {
		s, ok := e.(event.Stats)
		return ok && s.Container == "web-a" && s.Unavailable == NoMetrics
	}); !ok {
		t.Fatalf("no 'no metrics' stats: %v", rec.Events())
	}
	// A deleted pod is terminating while its ReplicaSet already makes the
	// replacement, which takes its number (its row).
	a, err := cs.CoreV1().Pods("shop").Get(ctx, "web-a", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	now := metav1.Now()
	a.DeletionTimestamp = &now
	if _, err := cs.CoreV1().Pods("shop").Update(ctx, a, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	state(func(s event.State) bool { return s.ID == "a" && s.State == "terminating" })
	if _, err := cs.CoreV1().Pods("shop").Create(ctx, testPod("web-b", "b", "web", running(false, 0)), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	st = state(func(s event.State) bool { return s.ID == "b" })
	if st.Replica != 1 || st.Health != "starting" {
		t.Fatalf("the replacement: %+v", st)
	}
	if err := cs.CoreV1().Pods("shop").Delete(ctx, "web-a", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	state(func(s event.State) bool { return s.ID == "a" && s.State == "removed" })
	for _, e := range rec.Events() {
		if s, ok := e.(event.State); ok && s.ID == "a" && s.Time.After(st.Time) && s.State != "removed" {
			t.Fatalf("the old pod's state came after its successor's: %+v", s)
		}
	}
}
