package engine_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"devstack/engine"
	"devstack/engine/event"
	"devstack/engine/model"
)

// TestPreStartSteps: pre_start steps run to completion, in order, before
// the service's container starts, with the service's environment (the
// step's over it) and the container's volumes; their containers are gone
// after; an up that changes nothing does not run them again; a failing
// step keeps the service from starting and names the step and its output.
func TestPreStartSteps(t *testing.T) {
	s := newStack(t, `
services:
  app:
    image: $IMAGE
    command: ["sh", "-c", "cat /data/seeded > /data/seen-at-start; exec sleep 3600"]
    environment: {WHO: app, STEP: service}
    init: true
    volumes: [data:/data]
    pre_start:
      - command: ["sh", "-c", "echo \"$$WHO $$STEP\" > /data/seeded; echo seeded"]
        environment: {STEP: one}
      - command: ["sh", "-c", "echo ran >> /data/runs; cp /run/secrets/token /data/token"]
    secrets: [token]
volumes:
  data: {}
secrets:
  token:
    file: ./token.txt
`, map[string]string{"token.txt": "s3cret\n"})
	s.up(engine.UpOptions{Wait: true})
	if out, _ := s.exec("app", "cat", "/data/seen-at-start"); strings.TrimSpace(out) != "app one" {
		t.Errorf("the service saw %q at its start, want what the first step wrote: %q", out, "app one")
	}
	if out, _ := s.exec("app", "cat", "/data/token"); strings.TrimSpace(out) != "s3cret" {
		t.Errorf("the step read secret %q, want the service's: s3cret", out)
	}
	var logged bool
	for _, ev := range s.rec.Events() {
		if l, ok := ev.(event.Log); ok && l.Container == s.p.Name+"-app-pre_start-1" && l.Line == "seeded" {
			logged = true
		}
	}
	if !logged {
		t.Error("the first step's output is not among the logs")
	}
	all := s.containers(true)
	for name, c := range all {
		if c.OneOff || strings.Contains(name, "pre_start") {
			t.Errorf("step container %s left behind", name)
		}
	}

	s.up(engine.UpOptions{Wait: true})
	if out, _ := s.exec("app", "cat", "/data/runs"); strings.TrimSpace(out) != "ran" {
		t.Errorf("runs: %q, want one run (an up that changes nothing runs no step)", out)
	}

	// A recreate runs them again.
	s.up(engine.UpOptions{Wait: true, ForceRecreate: true})
	if out, _ := s.exec("app", "cat", "/data/runs"); strings.TrimSpace(out) != "ran\nran" {
		t.Errorf("runs: %q, want a second run after the recreate", out)
	}
}

func TestFailingPreStartKeepsTheServiceDown(t *testing.T) {
	s := newStack(t, `
services:
  app:
    image: $IMAGE
    command: `+idle+`
    pre_start:
      - command: ["sh", "-c", "echo schema locked; exit 4"]
`, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := s.e.Up(ctx, s.p, engine.UpOptions{})
	if err == nil {
		t.Fatal("up succeeded with a failing pre_start step")
	}
	for _, want := range []string{`service "app"`, "pre_start step 1", "exited with status 4", "schema locked"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	for name, c := range s.containers(true) {
		if c.State == model.StateRunning {
			t.Errorf("%s runs after its pre_start step failed", name)
		}
	}
}
