package kube_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"devstack/engine/enginetest"
	"devstack/engine/kube"
	"devstack/engine/kube/kubetest"
)

// stop scales a service to 0 and keeps the rest (its Service); start
// gives back the replicas it had, a count set with kubectl scale
// included; up starts stopped services with the compose file's count.
func TestKubeStopStart(t *testing.T) {
	kc := kubetest.Busybox(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(`services:
  web:
    image: `+enginetest.BusyboxImage+`
    command: ["sleep", "1000000"]
    stop_grace_period: 1s # sleep ignores SIGTERM: do not wait 30s for each stop
    ports: ["8080"]
  other:
    image: `+enginetest.BusyboxImage+`
    command: ["sleep", "1000000"]
    stop_grace_period: 1s
`), 0o644); err != nil {
		t.Fatal(err)
	}
	name := uniqueName("ks")
	p := loadProject(t, dir, name)
	c, err := kube.Connect(ctx, kube.Options{Kubeconfig: kc}, name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Down(context.Background(), name, kube.DownOptions{Volumes: true}, nil) })
	if _, err := c.Up(ctx, p, kube.UpOptions{Wait: true, Timeout: 2 * time.Minute}, nil); err != nil {
		t.Fatal(err)
	}
	deps := c.Clientset().AppsV1().Deployments(c.Namespace())
	// kubectl scale deployment web --replicas 2
	if _, err := deps.Patch(ctx, "web", types.MergePatchType, []byte(`{"spec":{"replicas":2}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	replicas := func(svc string) (int32, string) {
		t.Helper()
		d, err := deps.Get(ctx, svc, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return *d.Spec.Replicas, d.Annotations[kube.AnnotationStopped]
	}
	running := func(svc string) int {
		t.Helper()
		pods, err := c.RunningPods(ctx, name, svc)
		if err != nil {
			t.Fatal(err)
		}
		return len(pods)
	}

	if err := c.Stop(ctx, name, []string{"web"}, nil); err != nil {
		t.Fatal(err)
	}
	if n, kept := replicas("web"); n != 0 || kept != "2" {
		t.Fatalf("web after stop: %d replicas, annotation %q", n, kept)
	}
	if pods, err := c.Pods(ctx, name, "web"); err != nil || len(pods) != 0 {
		t.Fatalf("web's pods after stop (which waits for them): %d %v", len(pods), err)
	}
	if running("other") != 1 {
		t.Fatal("stop web stopped other")
	}
	if _, err := c.Clientset().CoreV1().Services(c.Namespace()).Get(ctx, "web", metav1.GetOptions{}); err != nil {
		t.Fatalf("stop removed web's Service: %v", err)
	}

	if err := c.Start(ctx, name, []string{"web"}, nil); err != nil {
		t.Fatal(err)
	}
	if n, kept := replicas("web"); n != 2 || kept != "" {
		t.Fatalf("web after start: %d replicas, annotation %q", n, kept)
	}

	if err := c.Stop(ctx, name, nil, nil); err != nil {
		t.Fatal(err)
	}
	if n, _ := replicas("other"); n != 0 || running("web")+running("other") != 0 {
		t.Fatalf("stop of the project left other at %d replicas, %d pods running", n, running("web")+running("other"))
	}
	// up starts what stop stopped, with the compose file's count.
	if _, err := c.Up(ctx, p, kube.UpOptions{Wait: true, Timeout: 2 * time.Minute}, nil); err != nil {
		t.Fatal(err)
	}
	for _, svc := range []string{"web", "other"} {
		if n, kept := replicas(svc); n != 1 || kept != "" || running(svc) != 1 {
			t.Fatalf("%s after up: %d replicas, annotation %q, %d running", svc, n, kept, running(svc))
		}
	}
}
