package engine_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"devstack/engine"
	"devstack/engine/enginetest"
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

// projectVolumes lists the engine volumes labelled with the project:
// devstack labels every anonymous volume it has the engine make.
func projectVolumes(t *testing.T, project string) []string {
	t.Helper()
	out, err := exec.Command("docker", "volume", "ls", "-q", "--filter", "label="+model.LabelProject+"="+project).Output()
	if err != nil {
		t.Fatalf("docker volume ls: %v", err)
	}
	vols := strings.Fields(string(out))
	sort.Strings(vols)
	return vols
}

// TestPreStartKeepsAnonymousVolumes: a pre_start step writes into the
// service's anonymous volumes (one from its volumes:, one from its
// image's VOLUME) and the service finds the data there at its start,
// after an up that changes nothing and after a recreate; the step's
// containers take none of those volumes with them, and the volume the
// step's own image declares (the service has none there) goes with the
// step rather than piling up.
func TestPreStartKeepsAnonymousVolumes(t *testing.T) {
	enginetest.NeedDocker(t)
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	stepImage := "devstack-test/prestart-step:" + hex.EncodeToString(b)
	build := exec.Command("docker", "build", "-q", "-t", stepImage, "-")
	build.Stdin = strings.NewReader("FROM " + enginetest.Busybox(t) + "\nVOLUME /scratch\n")
	build.Env = append(os.Environ(), "DOCKER_BUILDKIT=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("docker build: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("docker", "rmi", "-f", stepImage).Run() })

	s := newStack(t, `
services:
  app:
    build: ./app
    command: ["sh", "-c", "cat /data/runs /cache/runs > /tmp/seen-at-start; exec sleep 3600"]
    init: true
    volumes: ["/data"]
    pre_start:
      - command: ["sh", "-c", "echo one >> /data/runs; echo one >> /cache/runs"]
      - image: `+stepImage+`
        command: ["sh", "-c", "echo two >> /data/runs; echo two >> /cache/runs; echo step > /scratch/own"]
`, map[string]string{"app/Dockerfile": "FROM " + enginetest.BusyboxImage + "\nVOLUME /cache\n"})
	// runs is what each volume holds after the steps ran: both
	// volumes hold the same lines.
	check := func(when string, runs string, want []string) {
		t.Helper()
		// The command writes the file once it runs; up returns once the
		// container is running, which may be before that.
		var out string
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			out, _ = s.exec("app", "cat", "/tmp/seen-at-start")
			if !strings.Contains(out, "can't open") || time.Now().After(deadline) {
				break
			}
		}
		if out != runs+runs {
			t.Errorf("%s: the service saw %q at its start (/data/runs then /cache/runs), want %q", when, out, runs+runs)
		}
		c := s.containers(false)["app-1"]
		got := []string{volumeAt(t, c.ID, "/data"), volumeAt(t, c.ID, "/cache")}
		if want != nil && !slices.Equal(got, want) {
			t.Errorf("%s: the service mounts volumes %v, want %v", when, got, want)
		}
		wantAll := slices.Clone(got)
		sort.Strings(wantAll)
		if all := projectVolumes(t, s.p.Name); !slices.Equal(all, wantAll) {
			t.Errorf("%s: the project's volumes are %v, want the service's alone: %v", when, all, wantAll)
		}
		for name := range s.containers(true) {
			if strings.Contains(name, "pre_start") {
				t.Errorf("%s: step container %s left behind", when, name)
			}
		}
	}
	s.up(engine.UpOptions{Wait: true})
	c := s.containers(false)["app-1"]
	first := []string{volumeAt(t, c.ID, "/data"), volumeAt(t, c.ID, "/cache")}
	check("first up", "one\ntwo\n", nil)

	s.up(engine.UpOptions{Wait: true})
	check("second up", "one\ntwo\n", first)

	s.up(engine.UpOptions{Wait: true, ForceRecreate: true})
	check("recreate", "one\ntwo\none\ntwo\n", first)
}
