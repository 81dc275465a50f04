package engine_test

import (
	"context"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"devstack/engine"
	"devstack/engine/enginetest"
	"devstack/engine/event"
	"devstack/engine/model"
)

// engineEvents records the engine's own container events (with the
// engine's timestamps), to measure how long the monitor takes to report
// them.
type engineEvents struct {
	mu     sync.Mutex
	events []engine.ContainerEvent
}

func (s *engineStack) engineEvents() *engineEvents {
	s.t.Helper()
	ee := &engineEvents{}
	ctx, cancel := context.WithCancel(context.Background())
	events, _ := s.rt.Events(ctx, s.p.Name)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range events {
			ee.mu.Lock()
			ee.events = append(ee.events, ev)
			ee.mu.Unlock()
		}
	}()
	s.t.Cleanup(func() { cancel(); <-done })
	return ee
}

// when returns the engine's time of the latest action on container id.
func (ee *engineEvents) when(t *testing.T, id, action string) time.Time {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ee.mu.Lock()
		for i := len(ee.events) - 1; i >= 0; i-- {
			if e := ee.events[i]; e.ID == id && e.Action == action {
				ee.mu.Unlock()
				return e.Time
			}
		}
		ee.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatalf("the engine reported no %s of %s", action, id)
		}
		time.Sleep(10 * time.Millisecond) // polling with a deadline
	}
}

// TestMonitorReportsKilledRemovedAndOOMKilledContainers: a container
// killed, removed by hand or killed for want of memory while the monitor
// watches is reported at once (well within a second of the engine's own
// event), out of memory said in words, and up brings it back.
func TestMonitorReportsKilledRemovedAndOOMKilledContainers(t *testing.T) {
	s := newEngineStack(t, "", enginetest.Busybox(t), `
services:
  victim:
    image: $IMAGE
    init: true
    command: ["sh", "-c", "echo victim up; trap 'exit 0' TERM; while true; do sleep 1; done"]
  hog:
    image: $IMAGE
    init: true
    mem_limit: 16m
    # Waits for /tmp/go, then tail buffers an endless line until the
    # kernel kills it.
    command: ["sh", "-c", "echo hog up; while [ ! -e /tmp/go ]; do sleep 0.1; done; exec tail /dev/zero"]
`, enginetest.RemoveProject)
	s.up()
	ee := s.engineEvents()
	tl := s.monitor(engine.MonitorOptions{Logs: true, Tail: "all", States: true})
	for _, line := range []string{"victim up", "hog up"} {
		tl.wait(t, 0, 30*time.Second, line, func(e event.Event) bool { l, ok := e.(event.Log); return ok && l.Line == line })
	}
	id := func(service string) string {
		c, ok := s.containersByService()[service]
		if !ok {
			t.Fatalf("no container for %s", service)
		}
		return c
	}
	state := func(cid, want string) func(event.Event) bool {
		return func(e event.Event) bool { st, ok := e.(event.State); return ok && st.ID == cid && st.State == want }
	}
	docker := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("docker", args...).CombinedOutput(); err != nil {
			t.Fatalf("docker %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	report := func(what string, engineAt time.Time, shown arrival) {
		t.Helper()
		lag := shown.at.Sub(engineAt)
		t.Logf("%s: shown %v after the engine's event", what, lag.Round(time.Millisecond))
		if lag > time.Second {
			t.Errorf("%s: shown only %v after the engine's event", what, lag.Round(time.Millisecond))
		}
	}
	upAgain := func(service string, from int) {
		t.Helper()
		s.up()
		tl.wait(t, from, 30*time.Second, service+" running again", func(e event.Event) bool {
			st, ok := e.(event.State)
			return ok && st.Service == service && st.State == "running"
		})
	}

	// docker kill.
	victim := id("victim")
	mark := tl.mark()
	docker("kill", victim)
	shown := tl.wait(t, mark, 10*time.Second, "the killed container exited", state(victim, "exited"))
	if code := shown.e.(event.State).ExitCode; code != 137 {
		t.Errorf("the killed container exited with %d, want 137", code)
	}
	report("docker kill", ee.when(t, victim, "die"), shown)
	mark = tl.mark()
	upAgain("victim", mark)

	// docker rm -f.
	victim = id("victim")
	mark = tl.mark()
	docker("rm", "-f", victim)
	shown = tl.wait(t, mark, 10*time.Second, "the removed container reported removed", state(victim, "removed"))
	report("docker rm -f", ee.when(t, victim, "destroy"), shown)
	mark = tl.mark()
	upAgain("victim", mark)
	if again := id("victim"); again == victim {
		t.Errorf("up did not create a new container for the removed one")
	}

	// Out of memory.
	hog := id("hog")
	mark = tl.mark()
	docker("exec", hog, "touch", "/tmp/go")
	shown = tl.wait(t, mark, 30*time.Second, "the hog exited", state(hog, "exited"))
	report("OOM kill", ee.when(t, hog, "die"), shown)
	warned := tl.wait(t, mark, 10*time.Second, "a warning that the hog ran out of memory", func(e event.Event) bool {
		w, ok := e.(event.Warning)
		return ok && w.Service == "hog" && strings.Contains(w.Message, "out of memory")
	})
	report("OOM warning", ee.when(t, hog, "oom"), warned)
	t.Logf("warning: %s", warned.e.(event.Warning).Message)
	mark = tl.mark()
	upAgain("hog", mark)

	// Each run's first line delivered, and once: three runs of victim
	// (started, restarted by up after the kill, recreated after the
	// removal), two of hog.
	for line, runs := range map[string]int{"victim up": 3, "hog up": 2} {
		isLine := func(e event.Event) bool { l, ok := e.(event.Log); return ok && l.Line == line }
		tl.waitN(t, 0, runs, 30*time.Second, line, isLine)
		n := 0
		for _, a := range tl.all() {
			if isLine(a.e) {
				n++
			}
		}
		if n != runs {
			t.Errorf("%q delivered %d times, want %d (once per run)", line, n, runs)
		}
	}
}

// containersByService maps each service to its first container's ID.
func (s *engineStack) containersByService() map[string]string {
	s.t.Helper()
	cs, err := s.e.Containers(context.Background(), s.p, nil, true)
	if err != nil {
		s.t.Fatal(err)
	}
	out := map[string]string{}
	for _, c := range cs {
		if c.Number == 1 {
			out[c.Service] = c.ID
		}
	}
	return out
}

// stuckRuntime has one running container whose inspect hangs until
// released, as the engine's does while it cleans up after a process.
type stuckRuntime struct {
	engine.Runtime
	events  chan engine.ContainerEvent
	release chan struct{}
	c       model.Container
}

func (r *stuckRuntime) Host() string { return "unix:///fake.sock" }

func (r *stuckRuntime) Events(ctx context.Context, _ string) (<-chan engine.ContainerEvent, <-chan error) {
	return r.events, make(chan error)
}

func (r *stuckRuntime) Observe(context.Context, *model.Project) (model.Observed, error) {
	return model.Observed{Containers: []model.Container{r.c}}, nil
}

func (r *stuckRuntime) ProjectContainers(context.Context, *model.Project) ([]model.Container, error) {
	return []model.Container{r.c}, nil
}

func (r *stuckRuntime) InspectContainer(ctx context.Context, id string) (model.Container, error) {
	select {
	case <-r.release:
	case <-ctx.Done():
		return model.Container{}, ctx.Err()
	}
	c := r.c
	c.State, c.ExitCode = model.StateExited, 137
	return c, nil
}

// TestMonitorReportsADeathWithoutWaitingForInspect: the exit is shown
// from the engine's event itself, not after an inspect the engine may
// keep waiting; the inspect's word still follows.
func TestMonitorReportsADeathWithoutWaitingForInspect(t *testing.T) {
	r := &stuckRuntime{events: make(chan engine.ContainerEvent, 1), release: make(chan struct{}),
		c: model.Container{ID: "c1", Name: "shop-web-1", Service: "web", Number: 1, State: model.StateRunning}}
	rec := &event.Recorder{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = engine.New(r, rec).Monitor(ctx, &model.Project{Name: "shop"}, engine.MonitorOptions{States: true})
	}()
	defer func() { cancel(); <-done }()
	running := func(e event.Event) bool { st, ok := e.(event.State); return ok && st.State == model.StateRunning }
	if _, ok := rec.Wait(time.Now().Add(10*time.Second), running); !ok {
		t.Fatal("the running container was not reported")
	}
	r.events <- engine.ContainerEvent{Time: time.Now(), ID: "c1", Name: "/shop-web-1", Service: "web", Number: 1, Action: "die", ExitCode: 137}
	exited := func(e event.Event) bool { st, ok := e.(event.State); return ok && st.State == model.StateExited }
	e, ok := rec.Wait(time.Now().Add(2*time.Second), exited)
	close(r.release)
	if !ok {
		t.Fatal("the death was reported only once the inspect returned")
	}
	if st := e.(event.State); st.ExitCode != 137 || st.Container != "shop-web-1" || st.Service != "web" {
		t.Errorf("reported %+v", st)
	}
}
