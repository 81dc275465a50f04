package forward_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"devstack/engine"
	"devstack/engine/docker"
	"devstack/engine/enginetest"
	"devstack/engine/event"
	"devstack/engine/forward"
	"devstack/engine/load"
)

// freeLocalPort is a port nothing listens on here, below the engine's
// ephemeral range.
func freeLocalPort(t *testing.T) int {
	t.Helper()
	for p := 20000 + int(time.Now().UnixNano()%9000); ; p++ {
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err == nil {
			l.Close()
			return p
		}
	}
}

func get(addr string) (string, error) {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + addr + "/")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return strings.TrimSpace(string(b)), err
}

// The stack runs on an SSH test host: its published ports exist only at
// the host's address. Forwarded, they answer on 127.0.0.1 here, with the
// engine port's own number; a recreated container's forward keeps its
// local port and reaches the new container (at its new engine port for
// a port published without a host port); down takes the forwards away.
func TestForwardOverSSH(t *testing.T) {
	h := enginetest.StartSSHHost(t)
	h.LoadImage(enginetest.Busybox(t))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rt, err := docker.New(ctx, docker.Options{Host: h.URL})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()

	port := freeLocalPort(t)
	dir := t.TempDir()
	compose := fmt.Sprintf(`services:
  web:
    image: %s
    command: ["sh", "-c", "mkdir -p /www && hostname > /www/index.html && httpd -p 81 -h /www && exec httpd -f -p 80 -h /www"]
    ports: ["%d:80", "81"]
    init: true
`, enginetest.BusyboxImage, port)
	if err := os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(compose), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := load.Load(ctx, load.Options{WorkDir: dir, ProjectName: "fwdssh"})
	if err != nil {
		t.Fatal(err)
	}
	e := engine.New(rt, event.Discard)
	if err := e.Up(ctx, p, engine.UpOptions{}); err != nil {
		t.Fatal(err)
	}
	local := "127.0.0.1:" + strconv.Itoa(port)
	direct := net.JoinHostPort(h.Addr, strconv.Itoa(port))
	var first string
	for deadline := time.Now().Add(30 * time.Second); ; {
		if first, err = get(direct); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the engine's port at the host's address: %v", err)
		}
		time.Sleep(50 * time.Millisecond) // httpd starting; polling with a deadline
	}
	if _, err := get(local); err == nil {
		t.Fatalf("%s answers before any forward: the test host's port is not remote", local)
	}

	var rec event.Recorder
	f := forward.New(rt.DialEngineHost(), &rec)
	fctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- forward.Follow(fctx, rt, p, f, forward.FollowOptions{}) }()
	defer func() { stop(); <-done; f.Close() }()
	waitForward := func(target uint16, match func(event.Forward) bool) event.Forward {
		t.Helper()
		ev, ok := rec.Wait(time.Now().Add(60*time.Second), func(e event.Event) bool {
			fw, ok := e.(event.Forward)
			return ok && fw.Target == target && match(fw)
		})
		if !ok {
			t.Fatalf("no forward of %d: %+v", target, f.List())
		}
		return ev.(event.Forward)
	}
	fw80 := waitForward(80, func(fw event.Forward) bool { return fw.Local != "" })
	fw81 := waitForward(81, func(fw event.Forward) bool { return fw.Local != "" })
	if fw80.Local != local {
		t.Fatalf("80 forwarded to %s, want %s (its own number, free here)", fw80.Local, local)
	}
	for _, addr := range []string{fw80.Local, fw81.Local} {
		if got, err := get(addr); err != nil || got != first {
			t.Fatalf("through %s: %q %v (want %q)", addr, got, err, first)
		}
	}

	if err := e.Up(ctx, p, engine.UpOptions{ForceRecreate: true}); err != nil {
		t.Fatal(err)
	}
	moved := waitForward(81, func(fw event.Forward) bool { return fw.Remote != fw81.Remote })
	if moved.Local != fw81.Local {
		t.Errorf("81 moved from local %s to %s: the local port should stay", fw81.Local, moved.Local)
	}
	var second string
	for deadline := time.Now().Add(30 * time.Second); ; {
		if second, err = get(direct); err == nil && second != first {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the recreate the engine's port says %q (%v), before %q", second, err, first)
		}
		time.Sleep(50 * time.Millisecond) // httpd starting; polling with a deadline
	}
	for _, addr := range []string{fw80.Local, moved.Local} {
		deadline := time.Now().Add(30 * time.Second)
		for {
			got, err := get(addr)
			if err == nil && got == second {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("through %s after the recreate: %q %v (want %q)", addr, got, err, second)
			}
			time.Sleep(50 * time.Millisecond) // polling with a deadline
		}
	}

	if err := e.Down(ctx, p, engine.DownOptions{}); err != nil {
		t.Fatal(err)
	}
	waitForward(80, func(fw event.Forward) bool { return fw.Removed })
	if c, err := net.DialTimeout("tcp", local, time.Second); err == nil {
		c.Close()
		t.Fatalf("%s still listens after down", local)
	}
}
