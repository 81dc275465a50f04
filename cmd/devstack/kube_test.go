package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"devstack/engine/enginetest"
	"devstack/engine/event"
	"devstack/engine/kube"
	"devstack/engine/kube/kubetest"
	"devstack/engine/load"
)

// kubeFixture copies testdata/kube/simple to a temporary directory and
// gives it a unique project name.
func kubeFixture(t *testing.T) (dir, name, kubeconfig string) {
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
	if _, errOut, code := devstack(t, append(base, "down", "-v")...); code != 0 {
		t.Fatalf("down: %d %s", code, errOut)
	}
	c, err := kube.Connect(context.Background(), kube.Options{Kubeconfig: kc}, name)
	if err != nil {
		t.Fatal(err)
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
