package ready

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"devstack/engine/model"
)

// fakeClock moves only when told to; every After is announced on asked.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []fakeWaiter
	asked   chan time.Duration
}

type fakeWaiter struct {
	at time.Time
	ch chan time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), asked: make(chan time.Duration, 64)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	ch := make(chan time.Time, 1)
	c.waiters = append(c.waiters, fakeWaiter{c.now.Add(d), ch})
	c.mu.Unlock()
	c.asked <- d
	return ch
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if !w.at.After(c.now) {
			w.ch <- c.now
		} else {
			kept = append(kept, w)
		}
	}
	c.waiters = kept
}

func TestDelay(t *testing.T) {
	hc := &model.Healthcheck{Interval: time.Second}
	var got []time.Duration
	var d time.Duration
	for range 9 {
		d = Delay(hc, d, time.Minute)
		got = append(got, d)
	}
	want := []time.Duration{20, 40, 80, 160, 320, 640, 1000, 1000, 1000}
	for i := range want {
		if got[i] != want[i]*time.Millisecond {
			t.Fatalf("delays %v, want %v ms", got, want)
		}
	}
	// During the start period the start interval is the ceiling.
	starting := &model.Healthcheck{Interval: time.Minute, StartPeriod: 10 * time.Second, StartInterval: 100 * time.Millisecond}
	if d := Delay(starting, 80*time.Millisecond, time.Second); d != 100*time.Millisecond {
		t.Errorf("in the start period: %v, want 100ms", d)
	}
	if d := Delay(starting, 80*time.Millisecond, 11*time.Second); d != 160*time.Millisecond {
		t.Errorf("after the start period: %v, want 160ms", d)
	}
	// No interval named: the engine's 30 s.
	if d := Delay(&model.Healthcheck{}, 20*time.Second, time.Minute); d != 30*time.Second {
		t.Errorf("default interval: %v, want 30s", d)
	}
}

func TestCommand(t *testing.T) {
	if got := Command(&model.Healthcheck{Test: []string{"CMD-SHELL", "test -f /ok"}}); len(got) != 3 || got[2] != "test -f /ok" {
		t.Errorf("CMD-SHELL: %q", got)
	}
	if got := Command(&model.Healthcheck{Test: []string{"CMD", "true"}}); len(got) != 1 || got[0] != "true" {
		t.Errorf("CMD: %q", got)
	}
	for _, hc := range []*model.Healthcheck{nil, {Test: []string{"NONE"}}, {Test: []string{"CMD", "x"}, Disable: true}} {
		if Command(hc) != nil {
			t.Errorf("%+v has a command", hc)
		}
	}
}

// TestProbeSchedule: a test that fails four times is probed at once,
// then 20, 40, 80 and 160 ms after each failure, and passes on the fifth
// probe; a second wait on the same container shares the probe.
func TestProbeSchedule(t *testing.T) {
	clock := newFakeClock()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	start := clock.Now()
	calls := make(chan time.Duration, 16)
	var n atomic.Int32
	exec := func(_ context.Context, id string, cmd []string) (int, error) {
		calls <- clock.Now().Sub(start)
		if n.Add(1) < 5 {
			return 1, nil
		}
		return 0, nil
	}
	p := NewProber(ctx, exec, clock, 0)
	hc := &model.Healthcheck{Test: []string{"CMD", "test", "-f", "/tmp/ok"}, Interval: time.Second}
	ok := p.Probe("c1", hc, start)
	if again := p.Probe("c1", hc, start); again != ok {
		t.Fatal("a second wait started a second probe")
	}
	changed := p.Changed()
	var at []time.Duration
	for i := 0; i < 5; i++ {
		at = append(at, <-calls)
		if i < 4 {
			clock.Advance(<-clock.asked)
		}
	}
	<-ok
	<-changed
	if !p.Passed("c1") {
		t.Error("Passed is false after the test passed")
	}
	want := []time.Duration{0, 20, 60, 140, 300}
	for i := range want {
		if at[i] != want[i]*time.Millisecond {
			t.Fatalf("probes at %v, want %v ms", at, want)
		}
	}
	if got := n.Load(); got != 5 {
		t.Errorf("%d probes, want 5", got)
	}
}

// TestProbeLimit: however many containers are probed, no more than the
// limit of probe execs run at once, and each still gets its turn.
func TestProbeLimit(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var inFlight, most atomic.Int32
	entered := make(chan string, 16)
	release := make(chan struct{})
	exec := func(ctx context.Context, id string, _ []string) (int, error) {
		now := inFlight.Add(1)
		for {
			m := most.Load()
			if now <= m || most.CompareAndSwap(m, now) {
				break
			}
		}
		entered <- id
		<-release
		inFlight.Add(-1)
		return 0, nil
	}
	p := NewProber(ctx, exec, newFakeClock(), 2)
	hc := &model.Healthcheck{Test: []string{"CMD", "true"}}
	var oks []<-chan struct{}
	for _, id := range []string{"a", "b", "c", "d", "e"} {
		oks = append(oks, p.Probe(id, hc, time.Time{}))
	}
	for range 5 {
		<-entered
		if got := inFlight.Load(); got > 2 {
			t.Fatalf("%d probes in flight, limit 2", got)
		}
		release <- struct{}{}
	}
	for _, ok := range oks {
		<-ok
	}
	if most.Load() > 2 {
		t.Fatalf("%d probes ran at once, limit 2", most.Load())
	}
}

// TestProbeStops: a probe that never passes stops when its context ends.
func TestProbeStops(t *testing.T) {
	clock := newFakeClock()
	ctx, cancel := context.WithCancel(context.Background())
	calls := make(chan struct{}, 16)
	exec := func(context.Context, string, []string) (int, error) {
		calls <- struct{}{}
		return 0, errors.New("container is not running")
	}
	p := NewProber(ctx, exec, clock, 0)
	ok := p.Probe("c", &model.Healthcheck{Test: []string{"CMD", "true"}}, time.Time{})
	<-calls
	<-clock.asked // waiting out its first delay
	cancel()
	clock.Advance(time.Hour)
	select {
	case <-ok:
		t.Fatal("a failing probe passed")
	default:
	}
	if p.Passed("c") {
		t.Fatal("Passed after failures only")
	}
}

func TestJudge(t *testing.T) {
	always := &model.Service{Name: "s", Restart: "always"}
	job := &model.Service{Name: "s"}
	scratch := Rules{Settle: time.Second, NoRestarts: true, JobsDone: true}
	cases := []struct {
		want  Condition
		r     Rules
		svc   *model.Service
		c     model.Container
		seen  Seen
		v     Verdict
		cause string
	}{
		// Compose's waits.
		{Healthy, Rules{}, nil, model.Container{State: "running", Health: "healthy"}, Seen{}, Ready, ""},
		{Healthy, Rules{}, nil, model.Container{State: "running"}, Seen{}, Ready, ""},
		{Healthy, Rules{}, nil, model.Container{State: "running", Health: "starting"}, Seen{}, Pending, "starting"},
		{Healthy, Rules{}, nil, model.Container{State: "running", Health: "starting"}, Seen{Probed: true}, Ready, ""},
		{Healthy, Rules{}, nil, model.Container{State: "running", Health: "unhealthy"}, Seen{Probed: true}, Failed, "is unhealthy"},
		{Healthy, Rules{}, nil, model.Container{State: "exited", ExitCode: 3}, Seen{}, Failed, "exited with code 3"},
		{Healthy, Rules{}, job, model.Container{State: "exited"}, Seen{}, Failed, "exited with code 0"},
		{Healthy, Rules{}, nil, model.Container{State: "restarting"}, Seen{}, Pending, "restarting"},
		{Healthy, Rules{}, nil, model.Container{State: "running", Restarts: 2}, Seen{}, Ready, ""},
		{Completed, Rules{}, nil, model.Container{State: "running"}, Seen{}, Pending, "not completed"},
		{Completed, Rules{}, nil, model.Container{State: "exited"}, Seen{}, Ready, ""},
		{Completed, Rules{}, nil, model.Container{State: "exited", ExitCode: 1}, Seen{}, Failed, "exited with code 1"},
		// Scratch's stricter rules.
		{Healthy, scratch, job, model.Container{State: "running"}, Seen{}, Pending, "just started"},
		{Healthy, scratch, job, model.Container{State: "running"}, Seen{Up: time.Second}, Ready, ""},
		{Healthy, scratch, job, model.Container{State: "exited"}, Seen{}, Ready, ""},
		{Healthy, scratch, always, model.Container{State: "exited"}, Seen{}, Failed, "exited with code 0"},
		{Healthy, scratch, job, model.Container{State: "running", Restarts: 2}, Seen{Up: time.Hour}, Failed, "keeps restarting"},
		{Healthy, scratch, job, model.Container{State: "restarting", ExitCode: 1}, Seen{}, Failed, "keeps restarting"},
		{Healthy, scratch, job, model.Container{State: "created"}, Seen{}, Pending, "not started"},
	}
	for i, c := range cases {
		v, why := Judge(c.want, c.r, c.svc, c.c, c.seen)
		if v != c.v || (c.cause == "") != (why == "" || v == Ready) || !strings.Contains(why, c.cause) {
			t.Errorf("case %d: %v %q, want %v %q", i, v, why, c.v, c.cause)
		}
	}
}
