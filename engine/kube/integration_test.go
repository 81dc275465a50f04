package kube_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"devstack/engine/event"
	"devstack/engine/kube"
	"devstack/engine/kube/kubetest"
	"devstack/engine/load"
	"devstack/engine/model"
)

// copyFixture copies testdata/kube/simple into a temporary directory,
// which a test may edit.
func copyFixture(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join("..", "..", "testdata", "kube", "simple")
	err := filepath.Walk(src, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if info.IsDir() {
			return os.MkdirAll(filepath.Join(dir, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func uniqueName(prefix string) string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return prefix + "-" + hex.EncodeToString(b)
}

func loadProject(t *testing.T, dir, name string) *model.Project {
	t.Helper()
	p, err := load.Load(context.Background(), load.Options{Files: []string{filepath.Join(dir, "compose.yaml")}, ProjectName: name})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// setup gives a test the test cluster, the busybox image in its node, the
// fixture's project under a unique name, and down -v at the end.
func setup(t *testing.T) (*kube.Cluster, *model.Project, string) {
	t.Helper()
	kc := kubetest.Busybox(t)
	dir := copyFixture(t)
	name := uniqueName("kt")
	p := loadProject(t, dir, name)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := kube.Connect(ctx, kube.Options{Kubeconfig: kc}, name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		_ = c.Down(ctx, name, kube.DownOptions{Volumes: true}, nil)
	})
	return c, p, dir
}

func httpGet(t *testing.T, addr net.Addr, path string) string {
	t.Helper()
	var last error
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		res, err := http.Get("http://" + addr.String() + path)
		if err == nil {
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode == 200 {
				return string(b)
			}
			last = &httpError{res.Status}
		} else {
			last = err
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("GET %s: %v", path, last)
	return ""
}

type httpError struct{ status string }

func (e *httpError) Error() string { return e.status }

func TestKubeUpForwardsConfigsSecretsAndDown(t *testing.T) {
	c, p, dir := setup(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	m, err := c.Up(ctx, p, kube.UpOptions{Wait: true, Timeout: 3 * time.Minute}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Deployments) != 3 {
		t.Fatalf("%d deployments", len(m.Deployments))
	}

	// The published port, forwarded to localhost through the API.
	fwCtx, stopForward := context.WithCancel(ctx)
	defer stopForward()
	ready := make(chan net.Addr, 1)
	go func() {
		_ = c.PortForward(fwCtx, p.Name, kube.Forward{Service: "web", Local: "127.0.0.1:0", Port: 8080}, ready)
	}()
	addr := <-ready
	if got := httpGet(t, addr, "/index.html"); strings.TrimSpace(got) != "hello" {
		t.Fatalf("index: %q", got)
	}
	if got := httpGet(t, addr, "/conf.txt"); strings.TrimSpace(got) != "greeting=hello" {
		t.Fatalf("config in the pod: %q", got)
	}
	if got := httpGet(t, addr, "/secret.txt"); strings.TrimSpace(got) != "s3cret-token" {
		t.Fatalf("secret in the pod: %q", got)
	}

	// A second up with nothing changed writes nothing.
	gens := generations(t, c)
	if _, err := c.Up(ctx, p, kube.UpOptions{}, nil); err != nil {
		t.Fatal(err)
	}
	if after := generations(t, c); !equal(gens, after) {
		t.Fatalf("a no-op up changed deployments: %v -> %v", gens, after)
	}

	// A config edit rolls only the Deployment that mounts it.
	if err := os.WriteFile(filepath.Join(dir, "app.conf"), []byte("greeting=edited\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p2 := loadProject(t, dir, p.Name)
	if _, err := c.Up(ctx, p2, kube.UpOptions{Wait: true, Timeout: 3 * time.Minute}, nil); err != nil {
		t.Fatal(err)
	}
	after := generations(t, c)
	if after["web"] == gens["web"] || after["db"] != gens["db"] || after["bystander"] != gens["bystander"] {
		t.Fatalf("config edit: generations %v -> %v (only web should move)", gens, after)
	}
	deadline := time.Now().Add(90 * time.Second)
	for strings.TrimSpace(httpGet(t, addr, "/conf.txt")) != "greeting=edited" {
		if time.Now().After(deadline) {
			t.Fatal("the edited config never reached the new pod")
		}
		time.Sleep(300 * time.Millisecond)
	}

	// down -v leaves nothing labelled with the project.
	stopForward()
	if err := c.Down(ctx, p.Name, kube.DownOptions{Volumes: true}, nil); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(2 * time.Minute)
	for {
		left, err := c.Leftovers(ctx, p.Name)
		if err != nil {
			t.Fatal(err)
		}
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("left after down -v: %v", left)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func TestKubeNamedVolumeSurvivesPodReplacementAndLogsSurviveRestart(t *testing.T) {
	c, p, _ := setup(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if _, err := c.Up(ctx, p, kube.UpOptions{Wait: true, Timeout: 3 * time.Minute}, nil); err != nil {
		t.Fatal(err)
	}
	pods, err := c.RunningPods(ctx, p.Name, "db")
	if err != nil || len(pods) != 1 {
		t.Fatalf("db pods: %v %v", len(pods), err)
	}
	old := pods[0].Name

	// The dashboard's view of the pods: each on the node, Ready, and
	// "no metrics" (the test cluster has no metrics API).
	rec := &event.Recorder{}
	monCtx, stopMonitor := context.WithCancel(ctx)
	monDone := make(chan error, 1)
	go func() { monDone <- c.Monitor(monCtx, p.Name, kube.MonitorOptions{Stats: true}, rec) }()
	defer func() { stopMonitor(); <-monDone }()
	for _, svc := range []string{"web", "db", "bystander"} {
		e, ok := rec.Wait(time.Now().Add(30*time.Second), func(e event.Event) bool {
			s, ok := e.(event.State)
			return ok && s.Service == svc && s.State == "running" && s.Health == "healthy"
		})
		if !ok {
			t.Fatalf("no running, Ready state of %s: %v", svc, rec.Events())
		}
		if st := e.(event.State); st.Node != "devstack-node" || st.Replica != 1 {
			t.Fatalf("%s: %+v", svc, st)
		}
		if _, ok := rec.Wait(time.Now().Add(10*time.Second), func(e event.Event) bool {
			s, ok := e.(event.Stats)
			return ok && s.Service == svc && s.Unavailable == kube.NoMetrics
		}); !ok {
			t.Fatalf("no 'no metrics' for %s: %v", svc, rec.Events())
		}
	}

	if err := c.Restart(ctx, p.Name, []string{"db"}); err != nil {
		t.Fatal(err)
	}
	// The monitor sees the old pod go and its replacement take its row.
	if _, ok := rec.Wait(time.Now().Add(2*time.Minute), func(e event.Event) bool {
		s, ok := e.(event.State)
		return ok && s.Container == old && s.State == "removed"
	}); !ok {
		t.Fatalf("the replaced db pod was never reported removed: %v", rec.Events())
	}
	if e, ok := rec.Wait(time.Now().Add(2*time.Minute), func(e event.Event) bool {
		s, ok := e.(event.State)
		return ok && s.Service == "db" && s.Container != old && s.State == "running"
	}); !ok || e.(event.State).Replica != 1 {
		t.Fatalf("the replacement db pod: %v (%v)", e, rec.Events())
	}
	// The replacement boots on the same claim: two boots recorded.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		pods, _ := c.RunningPods(ctx, p.Name, "db")
		if len(pods) == 1 && pods[0].Name != old {
			var out strings.Builder
			code, err := c.Exec(ctx, pods[0].Name, kube.ExecOptions{Cmd: []string{"sh", "-c", "wc -l < /data/boots"}, Stdout: &out})
			if err == nil && code == 0 && strings.TrimSpace(out.String()) == "2" {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the replaced db pod does not see the first pod's data")
		}
		time.Sleep(300 * time.Millisecond)
	}

	// A container that restarts keeps its earlier output in logs.
	web, err := c.RunningPods(ctx, p.Name, "web")
	if err != nil || len(web) != 1 {
		t.Fatalf("web pods: %d %v", len(web), err)
	}
	if _, err := c.Exec(ctx, web[0].Name, kube.ExecOptions{Cmd: []string{"kill", "1"}}); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(2 * time.Minute)
	for {
		n := 0
		err := c.Logs(ctx, p.Name, kube.LogOptions{Services: []string{"web"}, Tail: -1}, func(l kube.LogLine) {
			if l.Line == "web up" {
				n++
			}
		})
		if err == nil && n >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("logs across a restart: %d 'web up' lines (%v)", n, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func generations(t *testing.T, c *kube.Cluster) map[string]int64 {
	t.Helper()
	l, err := c.Clientset().AppsV1().Deployments(c.Namespace()).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, d := range l.Items {
		out[d.Name] = d.Generation
	}
	return out
}

func equal(a, b map[string]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
