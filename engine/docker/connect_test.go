package docker

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"devstack/engine/enginetest"
	"devstack/engine/event"
)

func TestUnreachableEngineSaysWhereAndWhat(t *testing.T) {
	t.Setenv("DOCKER_HOST", "unix:///nonexistent.sock")
	start := time.Now()
	_, err := New(context.Background(), Options{})
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"unix:///nonexistent.sock", "DOCKER_HOST", "start", "dockerd"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	t.Log(err)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
}

// Nothing can be pulled here: the error must say so, and fast.
func TestPullWithoutRegistry(t *testing.T) {
	t.Parallel()
	enginetest.NeedDocker(t)
	r, err := New(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	start := time.Now()
	err = r.Pull(testCtx(t, 30*time.Second), "devstack-nonexistent/never:1", event.Discard)
	if err == nil || !strings.Contains(err.Error(), "no registry could be reached") || !strings.Contains(err.Error(), "devstack-nonexistent/never:1") {
		t.Fatalf("err = %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("pull failed only after %v", d)
	}
	t.Logf("failed in %v: %v", time.Since(start).Round(time.Millisecond), err)
}

// A registry that accepts connections and never answers must not hang
// the pull.
func TestPullFromStalledRegistry(t *testing.T) {
	t.Parallel()
	enginetest.NeedDocker(t)
	r, err := New(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		var held []net.Conn // accepted, never answered
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	r.pullStall = 1500 * time.Millisecond
	start := time.Now()
	ref := l.Addr().String() + "/stalled:1"
	err = r.Pull(testCtx(t, 30*time.Second), ref, event.Discard)
	if err == nil || !strings.Contains(err.Error(), "no registry could be reached") || !strings.Contains(err.Error(), ref) {
		t.Fatalf("err = %v", err)
	}
	if d := time.Since(start); d > 8*time.Second {
		t.Errorf("stalled pull gave up only after %v", d)
	}
	t.Logf("gave up after %v: %v", time.Since(start).Round(time.Millisecond), err)
}
