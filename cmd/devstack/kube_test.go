package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"devstack/engine/enginetest"
	"devstack/engine/event"
	"devstack/engine/kube"
	"devstack/engine/kube/kubetest"
	"devstack/engine/load"
	"devstack/engine/model"
)

// kubeFixture copies testdata/kube/simple to a temporary directory and
// gives it a unique project name.
func kubeFixture(t testing.TB) (dir, name, kubeconfig string) {
	t.Helper()
	kubeconfig = kubetest.Kubeconfig(t)
	enginetest.NeedDocker(t)
	enginetest.Busybox(t)
	kubetest.LoadImage(t, enginetest.BusyboxImage)
	dir = t.TempDir()
	src := filepath.Join("..", "..", "testdata", "kube", "simple")
	if err := os.CopyFS(dir, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return dir, "kc-" + hex.EncodeToString(b), kubeconfig
}

func devstack(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(""), &out, &errOut)
	return out.String(), errOut.String(), code
}

// The CLI on a cluster: up -d, ps shows the pods and the forwarded port,
// exec reads the secret, down -v leaves nothing labelled.
func TestKubeCLIUpPsExecDown(t *testing.T) {
	dir, name, kc := kubeFixture(t)
	t.Setenv("KUBECONFIG", kc)
	base := []string{"--kube-context", kubetest.Context, "-f", filepath.Join(dir, "compose.yaml"), "-p", name, "--progress", "quiet"}
	t.Cleanup(func() { devstack(t, append(base, "down", "-v")...) })
	if out, errOut, code := devstack(t, append(base, "up", "--wait", "--wait-timeout", "3m")...); code != 0 {
		t.Fatalf("up: %d\n%s\n%s", code, out, errOut)
	}
	out, errOut, code := devstack(t, append(base, "ps")...)
	if code != 0 || !strings.Contains(out, "127.0.0.1:18080->8080/tcp") || strings.Count(out, "running") < 3 {
		t.Fatalf("ps: %d\n%s\n%s", code, out, errOut)
	}
	out, errOut, code = devstack(t, append(base, "exec", "-T", "web", "cat", "/run/secrets/token")...)
	if code != 0 || strings.TrimSpace(out) != "s3cret-token" {
		t.Fatalf("exec: %d %q %s", code, out, errOut)
	}
	c, err := kube.Connect(context.Background(), kube.Options{Kubeconfig: kc}, name)
	if err != nil {
		t.Fatal(err)
	}

	// run: a one-off pod of the service, its output here and its exit code
	// devstack's; --rm removes it, one kept is removed by down.
	out, errOut, code = devstack(t, append(base, "run", "--rm", "-T", "web", "sh", "-c", "cat /run/secrets/token; echo from-run; exit 3")...)
	if code != 3 || !strings.Contains(out, "s3cret-token") || !strings.Contains(out, "from-run") {
		t.Fatalf("run --rm: exit %d, want 3\n%s\n%s", code, out, errOut)
	}
	if out, errOut, code = devstack(t, append(base, "run", "-T", "bystander", "echo", "kept")...); code != 0 || strings.TrimSpace(out) != "kept" {
		t.Fatalf("run: %d %q %s", code, out, errOut)
	}
	runs, err := c.Clientset().CoreV1().Pods(c.Namespace()).List(context.Background(), metav1.ListOptions{LabelSelector: kube.LabelRun})
	if err != nil || len(runs.Items) != 1 || runs.Items[0].Labels[kube.LabelRun] != "bystander" {
		t.Fatalf("one-off pods: want only the kept one: %v", err)
	}

	// A scratch rebuild comes up in a namespace of its own, removed after;
	// the user's pods are left as they were.
	podsBefore, err := c.Pods(context.Background(), name, "")
	if err != nil {
		t.Fatal(err)
	}
	out, errOut, code = devstack(t, append(base, "scratch", "--timeout", "3m")...)
	if code != 0 || !strings.Contains(out, "came up from scratch") || !strings.Contains(out, "namespace removed") {
		t.Fatalf("scratch: %d\n%s\n%s", code, out, errOut)
	}
	scratchNS, err := c.Clientset().CoreV1().Namespaces().List(context.Background(), metav1.ListOptions{LabelSelector: kube.LabelScratch + "=true"})
	if err != nil || len(scratchNS.Items) != 0 {
		t.Fatalf("scratch namespaces left: %v %v", scratchNS, err)
	}
	podsAfter, err := c.Pods(context.Background(), name, "")
	if err != nil || len(podsAfter) != len(podsBefore) || podsAfter[0].UID != podsBefore[0].UID {
		t.Fatalf("the scratch rebuild touched the user's pods: %d -> %d (%v)", len(podsBefore), len(podsAfter), err)
	}

	if _, errOut, code := devstack(t, append(base, "down", "-v")...); code != 0 {
		t.Fatalf("down: %d %s", code, errOut)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		left, err := c.Leftovers(context.Background(), name)
		if err == nil && len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("left after down -v: %v %v", left, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// Live sync into a pod through the exec API: an edit reaches the pod, and
// a replacement pod gets the synced tree too.
func TestKubeSyncFollowsReplacedPods(t *testing.T) {
	dir, name, kc := kubeFixture(t)
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	p, err := load.Load(ctx, load.Options{Files: []string{filepath.Join(dir, "compose.yaml")}, ProjectName: name})
	if err != nil {
		t.Fatal(err)
	}
	c, err := kube.Connect(ctx, kube.Options{Kubeconfig: kc}, name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Down(context.Background(), name, kube.DownOptions{Volumes: true}, nil) })
	if _, err := c.Up(ctx, p, kube.UpOptions{Wait: true, Timeout: 3 * time.Minute, Synced: syncedTargets(p)}, nil); err != nil {
		t.Fatal(err)
	}
	syncCtx, stopSync := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- runKubeSync(syncCtx, c, p, nil, event.Discard) }()
	defer func() { stopSync(); <-done }()

	read := func(pod string) string {
		var out bytes.Buffer
		code, err := c.Exec(ctx, pod, kube.ExecOptions{Cmd: []string{"cat", "/www/src/page.txt"}, Stdout: &out})
		if err != nil || code != 0 {
			return ""
		}
		return strings.TrimSpace(out.String())
	}
	webPod := func() string {
		pods, _ := c.RunningPods(ctx, name, "web")
		if len(pods) != 1 {
			return ""
		}
		return pods[0].Name
	}
	waitFor := func(what, want string, excludePod string) (string, time.Duration) {
		start := time.Now()
		deadline := start.Add(90 * time.Second)
		for {
			pod := webPod()
			if pod != "" && pod != excludePod && read(pod) == want {
				return pod, time.Since(start)
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %q never reached the pod", what, want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	first, _ := waitFor("initial sync", "first", "")
	var lat []time.Duration
	for i := 0; i < 5; i++ {
		want := "edit " + string(rune('a'+i))
		if err := os.WriteFile(filepath.Join(dir, "src", "page.txt"), []byte(want+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		_, d := waitFor("edit", want, "")
		lat = append(lat, d)
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	t.Logf("edit reached the pod: median %v (polled every 50ms through exec)", lat[len(lat)/2])

	if err := c.Restart(ctx, name, []string{"web"}); err != nil {
		t.Fatal(err)
	}
	second, _ := waitFor("after replacement", "edit e", first)
	if second == first {
		t.Fatal("the pod was not replaced")
	}
}

// Images through the test cluster's loopback registry: a service with
// build: is built by the local engine, pushed to 127.0.0.1:PORT and run
// by digest, so the pod runs exactly the image built (its content and its
// image ID say so); a second up pushes and rolls nothing. A registry that
// refuses the push fails up with a message naming it, and nothing of the
// project is left in the cluster.
func TestKubeImagesThroughLoopbackRegistry(t *testing.T) {
	kc := kubetest.Kubeconfig(t)
	enginetest.NeedDocker(t)
	enginetest.Busybox(t)
	t.Setenv("KUBECONFIG", kc)
	dir := t.TempDir()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	name := "kr-" + hex.EncodeToString(b)
	baked := "baked " + hex.EncodeToString(b) // a new image (and digest) per run
	files := map[string]string{
		"compose.yaml": `services:
  app:
    build: ./app
    command: ["sh", "-c", "cat /baked.txt; exec sleep 1000000"]
    healthcheck:
      test: ["CMD", "test", "-f", "/baked.txt"]
      interval: 1s
`,
		"app/Dockerfile": "FROM " + enginetest.BusyboxImage + "\nCOPY baked.txt /baked.txt\n",
		"app/baked.txt":  baked + "\n",
	}
	for f, s := range files {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	registry := kubetest.Registry()
	repo := registry + "/" + name + "-app"
	base := []string{"--kube-context", kubetest.Context, "-f", filepath.Join(dir, "compose.yaml"), "-p", name, "--progress", "quiet"}
	t.Cleanup(func() {
		devstack(t, append(base, "down", "-v")...)
		_ = exec.Command("docker", "image", "rm", "-f", repo+":devstack", name+"-app").Run()
	})

	// A registry that refuses the push (nothing listens there): up fails
	// before anything is applied.
	refused := append(append([]string{}, base...), "--registry", "127.0.0.1:1")
	_, errOut, code := devstack(t, append(refused, "up", "--wait")...)
	if code == 0 || !strings.Contains(errOut, "127.0.0.1:1/"+name+"-app") {
		t.Fatalf("up with a refusing registry: exit %d, want non-zero and the pushed name in:\n%s", code, errOut)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	c, err := kube.Connect(ctx, kube.Options{Kubeconfig: kc}, name)
	if err != nil {
		t.Fatal(err)
	}
	if left, err := c.Leftovers(ctx, name); err != nil || len(left) != 0 {
		t.Fatalf("after a refused push the cluster holds %v (%v)", left, err)
	}

	withRegistry := append(append([]string{}, base...), "--registry", registry)
	if out, errOut, code := devstack(t, append(withRegistry, "up", "--wait", "--wait-timeout", "3m")...); code != 0 {
		t.Fatalf("up: %d\n%s\n%s", code, out, errOut)
	}
	// What the registry holds under the tag is what the local engine built.
	ins, err := exec.Command("docker", "image", "inspect", "--format", "{{join .RepoDigests \" \"}}", repo+":devstack").Output()
	if err != nil {
		t.Fatal(err)
	}
	var digest string
	for _, d := range strings.Fields(string(ins)) {
		if r, dg, ok := strings.Cut(d, "@"); ok && r == repo {
			digest = dg
		}
	}
	if !strings.HasPrefix(digest, "sha256:") {
		t.Fatalf("the engine has no digest of %s: %q", repo, ins)
	}
	pods, err := c.RunningPods(ctx, name, "app")
	if err != nil || len(pods) != 1 {
		t.Fatalf("app pods: %d %v", len(pods), err)
	}
	pod := pods[0]
	if got, want := pod.Spec.Containers[0].Image, repo+"@"+digest; got != want {
		t.Fatalf("the pod runs %q, want the pushed digest %q", got, want)
	}
	if len(pod.Status.ContainerStatuses) != 1 || !strings.HasSuffix(pod.Status.ContainerStatuses[0].ImageID, digest) {
		t.Fatalf("the node pulled another image: %+v", pod.Status.ContainerStatuses)
	}
	var out bytes.Buffer
	if code, err := c.Exec(ctx, pod.Name, kube.ExecOptions{Cmd: []string{"cat", "/baked.txt"}, Stdout: &out}); err != nil || code != 0 || strings.TrimSpace(out.String()) != baked {
		t.Fatalf("the pod's /baked.txt: %q (exit %d, %v), want %q", out.String(), code, err, baked)
	}

	// Nothing changed: nothing pushed, nothing rolled.
	dep, err := c.Clientset().AppsV1().Deployments(c.Namespace()).Get(ctx, "app", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var events bytes.Buffer
	jsonArgs := []string{"--kube-context", kubetest.Context, "-f", filepath.Join(dir, "compose.yaml"), "-p", name, "--progress", "json", "--registry", registry, "up", "--wait"}
	code = run(context.Background(), jsonArgs, strings.NewReader(""), &events, &events)
	if code != 0 {
		t.Fatalf("second up: %d\n%s", code, events.String())
	}
	if strings.Contains(events.String(), `"action":"pushing"`) {
		t.Fatalf("a second up pushed again:\n%s", events.String())
	}
	again, err := c.Clientset().AppsV1().Deployments(c.Namespace()).Get(ctx, "app", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if again.Generation != dep.Generation {
		t.Fatalf("a second up rolled the Deployment: generation %d -> %d", dep.Generation, again.Generation)
	}
}

// The bundled example on the cluster: its api image built here, pushed to
// the loopback registry and run by digest, the stack up in depends_on
// order (db healthy, then api), and the api's published port reached on
// localhost through the API's port-forward.
func TestKubeExampleProjectReachedOnLocalhost(t *testing.T) {
	kc := kubetest.Busybox(t)
	t.Setenv("KUBECONFIG", kc)
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(filepath.Join("..", "..", "testdata", "example"))); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	name := "kx-" + hex.EncodeToString(b)
	files := []string{filepath.Join(dir, "compose.yaml"), filepath.Join(dir, "compose.override.yaml")}
	base := []string{"--kube-context", kubetest.Context, "-f", files[0], "-f", files[1], "-p", name, "--progress", "quiet", "--registry", kubetest.Registry()}
	t.Cleanup(func() {
		devstack(t, append(base, "down", "-v")...)
		_ = exec.Command("docker", "image", "rm", kubetest.Registry()+"/"+name+"-api:devstack").Run() // the pushed tag
	})
	if out, errOut, code := devstack(t, append(base, "up", "--wait", "--wait-timeout", "4m")...); code != 0 {
		t.Fatalf("up: %d\n%s\n%s", code, out, errOut)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, err := kube.Connect(ctx, kube.Options{Kubeconfig: kc}, name)
	if err != nil {
		t.Fatal(err)
	}
	fws, err := kube.Forwards(loadKubeProject(t, files, name))
	if err != nil || len(fws) != 1 || fws[0].Service != "api" {
		t.Fatalf("forwards: %v %v", fws, err)
	}
	fw := fws[0]
	fw.Local = "127.0.0.1:0" // the test's own port; 8080 may be taken on this machine
	ready := make(chan net.Addr, 1)
	go func() { _ = c.PortForward(ctx, name, fw, ready) }()
	var addr net.Addr
	select {
	case addr = <-ready:
	case <-ctx.Done():
		t.Fatal("the port-forward never listened")
	}
	res, err := http.Get("http://" + addr.String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(page), "<h1>") {
		t.Fatalf("GET / through the forward: %s\n%s", res.Status, page)
	}
}

func loadKubeProject(t *testing.T, files []string, name string) *model.Project {
	t.Helper()
	p, err := load.Load(context.Background(), load.Options{Files: files, ProjectName: name})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// The dashboard on a cluster, in a real terminal: the pods listed with
// their node, Ready, "no metrics" (the test cluster has no metrics API),
// their logs; r replaces the selected service's pod, which keeps its row;
// quitting with l during a scratch rebuild removes the scratch namespace
// and leaves the stack on the cluster.
func TestKubeDashboardInTmux(t *testing.T) {
	dir, name, kc := kubeFixture(t)
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("tmux is not installed")
	}
	bin, err := exec.LookPath("devstack") // the test binary, installed by testscript.Main
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("KUBECONFIG", kc)
	base := []string{"--kube-context", kubetest.Context, "-f", filepath.Join(dir, "compose.yaml"), "-p", name}
	t.Cleanup(func() { devstack(t, append(base, "down", "-v")...) })
	if out, errOut, code := devstack(t, append(base, "--progress", "quiet", "up", "--wait", "--wait-timeout", "3m")...); code != 0 {
		t.Fatalf("up: %d\n%s\n%s", code, out, errOut)
	}
	c, err := kube.Connect(context.Background(), kube.Options{Kubeconfig: kc}, name)
	if err != nil {
		t.Fatal(err)
	}
	before, err := c.RunningPods(context.Background(), name, "bystander")
	if err != nil || len(before) != 1 {
		t.Fatalf("bystander pods: %d %v", len(before), err)
	}

	s := &tmuxScreen{t: t, socket: "devstack-test-" + name}
	cmd := "env KUBECONFIG=" + shellQuote(kc) + " " + shellQuote(bin)
	for _, a := range base {
		cmd += " " + shellQuote(a)
	}
	cmd += " ui --no-forward; echo DASHBOARD-EXITED $?; sleep 600"
	s.tmux("new-session", "-d", "-s", "ui", "-x", "160", "-y", "36", cmd)
	t.Cleanup(func() { _ = exec.Command("tmux", "-L", s.socket, "kill-server").Run() })

	screen := s.waitFor("NODE", "web-1", "db-1", "bystander-1", "devstack-node", "no metrics", "web up", "db ready")
	for _, svc := range []string{"web-1", "db-1", "bystander-1"} {
		l := line(screen, svc+" ")
		if !strings.Contains(l, "running") || !strings.Contains(l, "devstack-node") {
			t.Fatalf("%s should be running on devstack-node:\n%s", svc, screen)
		}
	}
	// bystander is listed first (the project's order) and selected: restart it.
	s.waitFor("▸ bystander-1")
	s.keys("r")
	deadline := time.Now().Add(2 * time.Minute)
	for {
		pods, _ := c.RunningPods(context.Background(), name, "bystander")
		if len(pods) == 1 && pods[0].Name != before[0].Name {
			s.waitFor("── bystander-1 recreated") // the log's marker: a new pod in the same row
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("r did not replace bystander's pod:\n%s", s.capture())
		}
		time.Sleep(200 * time.Millisecond) // polling with a deadline
	}
	if screen := s.capture(); strings.Contains(screen, "bystander-2") {
		t.Fatalf("the replacement pod took a new row:\n%s", screen)
	}
	// S starts a scratch rebuild; quitting while it runs waits for it to
	// remove its namespace before devstack exits.
	s.keys("S")
	scratchNS := func() []string {
		l, err := c.Clientset().CoreV1().Namespaces().List(context.Background(), metav1.ListOptions{LabelSelector: kube.LabelScratch + "=true"})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, n := range l.Items {
			if n.Annotations["devstack.scratch.of"] == c.Namespace() {
				out = append(out, n.Name)
			}
		}
		return out
	}
	for deadline := time.Now().Add(time.Minute); len(scratchNS()) == 0; time.Sleep(100 * time.Millisecond) { // polling with a deadline
		if time.Now().After(deadline) {
			t.Fatalf("S made no scratch namespace:\n%s", s.capture())
		}
	}
	s.keys("q")
	s.waitFor("Quit: l leave the stack running")
	s.keys("l")
	s.waitFor("DASHBOARD-EXITED 0")
	if left := scratchNS(); len(left) != 0 {
		t.Fatalf("quitting during a scratch rebuild left its namespace %v", left)
	}
	if pods, err := c.RunningPods(context.Background(), name, "web"); err != nil || len(pods) != 1 {
		t.Fatalf("web after leaving the dashboard: %d pods (%v)", len(pods), err)
	}
}
