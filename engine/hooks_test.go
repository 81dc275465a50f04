package engine_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"devstack/engine"
	"devstack/engine/event"
)

// TestLifecycleHooks: post_start runs after the start with its user,
// working directory, environment and privileges, its output among the
// container's logs; pre_stop runs before the stop, its effect kept on a
// volume.
func TestLifecycleHooks(t *testing.T) {
	s := newStack(t, `
services:
  app:
    image: $IMAGE
    command: `+idle+`
    volumes: [data:/data]
    post_start:
      - command: ["sh", "-c", "echo \"$$WHO $$(pwd) $$(id -u)\" > /data/started; echo hook ran"]
        user: "0"
        working_dir: /data
        environment: {WHO: hook}
    pre_stop:
      - command: ["sh", "-c", "echo bye > /data/stopped"]
volumes:
  data: {}
`, nil)
	s.up(engine.UpOptions{Wait: true})
	if out, _ := s.exec("app", "cat", "/data/started"); strings.TrimSpace(out) != "hook /data 0" {
		t.Errorf("post_start wrote %q, want %q", out, "hook /data 0")
	}
	var logged bool
	for _, ev := range s.rec.Events() {
		if l, ok := ev.(event.Log); ok && l.Container == s.p.Name+"-app-1 ->" && l.Line == "hook ran" {
			logged = true
		}
	}
	if !logged {
		t.Error("the hook's output is not among the logs")
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.e.Stop(ctx, s.p, nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.e.Start(ctx, s.p, nil, nil); err != nil {
		t.Fatal(err)
	}
	if out, _ := s.exec("app", "cat", "/data/stopped"); strings.TrimSpace(out) != "bye" {
		t.Errorf("pre_stop left %q on the volume, want bye", out)
	}

	// restart runs both, as Compose's does.
	if out, code := s.exec("app", "rm", "/data/stopped", "/data/started"); code != 0 {
		t.Fatal(out)
	}
	if err := s.e.Restart(ctx, s.p, nil, nil); err != nil {
		t.Fatal(err)
	}
	if out, code := s.exec("app", "cat", "/data/stopped", "/data/started"); code != 0 || !strings.Contains(out, "bye") || !strings.Contains(out, "hook /data 0") {
		t.Errorf("after restart: %q (%d), want both hooks' marks", out, code)
	}
}

// TestFailingPostStartFailsUp: as with Compose, a post_start hook that
// fails fails the start, and the error names the service, the container,
// the hook and its output.
func TestFailingPostStartFailsUp(t *testing.T) {
	s := newStack(t, `
services:
  app:
    image: $IMAGE
    command: `+idle+`
    post_start:
      - command: ["sh", "-c", "echo cannot migrate; exit 3"]
`, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := s.e.Up(ctx, s.p, engine.UpOptions{})
	if err == nil {
		t.Fatal("up succeeded with a failing post_start hook")
	}
	for _, want := range []string{`service "app"`, s.p.Name + "-app-1", "post_start hook", "exited with status 3", "cannot migrate"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

// TestPrivilegedHook: a privileged hook's exec gets every capability.
// Where the machine does not let runc grant them (this test machine's
// engine refuses `docker exec --privileged` itself: "unable to apply
// caps"), the refusal is the proof that the exec asked for them: the
// same command unprivileged runs.
func TestPrivilegedHook(t *testing.T) {
	s := newStack(t, `
services:
  app:
    image: $IMAGE
    command: `+idle+`
    volumes: [data:/data]
    post_start:
      - command: ["sh", "-c", "grep ^CapEff /proc/self/status > /data/caps"]
        privileged: true
volumes:
  data: {}
`, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := s.e.Up(ctx, s.p, engine.UpOptions{})
	if err != nil {
		if !strings.Contains(err.Error(), "unable to apply caps") {
			t.Fatal(err)
		}
		t.Logf("this machine refuses privileged execs: %v", err)
		if out, code := s.exec("app", "sh", "-c", "grep ^CapEff /proc/self/status > /data/caps"); code != 0 {
			t.Fatalf("the command fails unprivileged too (%d): %s", code, out)
		}
		return
	}
	hookCaps, _ := s.exec("app", "cat", "/data/caps")
	ownCaps, _ := s.exec("app", "grep", "^CapEff", "/proc/1/status")
	if hookCaps == "" || hookCaps == ownCaps {
		t.Errorf("the privileged hook had the container's capabilities: %q", hookCaps)
	}
}
