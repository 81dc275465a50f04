package ready

import (
	"context"
	"strings"
	"sync"
	"time"

	"devstack/engine/model"
)

// Clock is the time probes are scheduled on, injected so the schedule is
// tested on a fake clock without sleeping.
type Clock interface {
	Now() time.Time
	// After delivers the time once d has passed.
	After(d time.Duration) <-chan time.Time
}

// RealClock is the machine's clock.
type RealClock struct{}

func (RealClock) Now() time.Time                         { return time.Now() }
func (RealClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Exec runs cmd in container id and returns its exit code.
type Exec func(ctx context.Context, id string, cmd []string) (int, error)

const (
	// FirstDelay is the pause after a container's first failed probe;
	// each further failure doubles it up to the healthcheck's interval.
	// A service that needs a few milliseconds more than its container's
	// start is seen ready within about that much of being so.
	FirstDelay = 20 * time.Millisecond
	// DefaultLimit bounds concurrent probe execs: each is three engine
	// calls and a process in the container (about 40 ms of the engine's
	// time on 2 cores), and a stack of many services with healthchecks
	// started together would otherwise all probe at once. A layer of a
	// few services still probes side by side.
	DefaultLimit = 8
	// The engine's defaults for a healthcheck that names none.
	defaultInterval      = 30 * time.Second
	defaultStartInterval = 5 * time.Second
	defaultTimeout       = 30 * time.Second
)

// Delay is the pause before the next probe after one that failed: prev
// is the pause before that one (0 after the first), up how long the
// container has been running. It doubles from FirstDelay up to the
// healthcheck's start_interval during its start_period, its interval
// after: never slower than the engine's own probes.
func Delay(hc *model.Healthcheck, prev, up time.Duration) time.Duration {
	d := FirstDelay
	if prev > 0 {
		d = 2 * prev
	}
	return min(d, ceiling(hc, up))
}

func ceiling(hc *model.Healthcheck, up time.Duration) time.Duration {
	interval := defaultInterval
	if hc != nil && hc.Interval > 0 {
		interval = hc.Interval
	}
	if hc != nil && up < hc.StartPeriod {
		si := defaultStartInterval
		if hc.StartInterval > 0 {
			si = hc.StartInterval
		}
		return min(si, interval)
	}
	return interval
}

// Command is the command a healthcheck runs in the container, or nil
// when there is none to run (no test, disabled, NONE).
func Command(hc *model.Healthcheck) []string {
	if hc == nil || hc.Disable || len(hc.Test) < 2 {
		return nil
	}
	switch hc.Test[0] {
	case "CMD":
		return hc.Test[1:]
	case "CMD-SHELL":
		return []string{"/bin/sh", "-c", strings.Join(hc.Test[1:], " ")}
	}
	return nil
}

// Prober runs services' healthcheck tests in their containers until each
// first passes. The first success is the same evidence the engine's own
// probe would see; failures count for nothing here (the engine's probes
// still decide "unhealthy"). One probe runs per container however many
// wait on it, and at most limit probe execs run at once. Safe for
// concurrent use.
type Prober struct {
	ctx   context.Context // probes end with it
	exec  Exec
	clock Clock
	slots chan struct{}

	mu      sync.Mutex
	probes  map[string]chan struct{} // container ID -> closed once its test passed
	passed  map[string]bool
	changed chan struct{} // closed and replaced when any test passes
}

// NewProber returns a prober whose probes run until ctx ends.
func NewProber(ctx context.Context, exec Exec, clock Clock, limit int) *Prober {
	if clock == nil {
		clock = RealClock{}
	}
	if limit <= 0 {
		limit = DefaultLimit
	}
	return &Prober{ctx: ctx, exec: exec, clock: clock, slots: make(chan struct{}, limit),
		probes: map[string]chan struct{}{}, passed: map[string]bool{}, changed: make(chan struct{})}
}

// Probe starts probing container id with hc's test, if it is not probed
// already, and returns a channel closed once the test passed; nil when hc
// has nothing to run. started is when the container started (zero: now).
func (p *Prober) Probe(id string, hc *model.Healthcheck, started time.Time) <-chan struct{} {
	cmd := Command(hc)
	if cmd == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if ch, ok := p.probes[id]; ok {
		return ch
	}
	ch := make(chan struct{})
	p.probes[id] = ch
	if started.IsZero() {
		started = p.clock.Now()
	}
	timeout := hc.Timeout
	if timeout <= 0 {
		timeout = defaultTimeout
	}
	go p.run(id, hc, cmd, started, timeout, ch)
	return ch
}

// Passed says whether container id's test has passed once.
func (p *Prober) Passed(id string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.passed[id]
}

// Changed returns a channel closed when a test next passes.
func (p *Prober) Changed() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.changed
}

func (p *Prober) run(id string, hc *model.Healthcheck, cmd []string, started time.Time, timeout time.Duration, ok chan struct{}) {
	var delay time.Duration
	for {
		select {
		case p.slots <- struct{}{}:
		case <-p.ctx.Done():
			return
		}
		ctx, cancel := context.WithTimeout(p.ctx, timeout)
		code, err := p.exec(ctx, id, cmd)
		cancel()
		<-p.slots
		if err == nil && code == 0 {
			p.mu.Lock()
			p.passed[id] = true
			close(ok)
			close(p.changed)
			p.changed = make(chan struct{})
			p.mu.Unlock()
			return
		}
		delay = Delay(hc, delay, p.clock.Now().Sub(started))
		select {
		case <-p.ctx.Done():
			return
		case <-p.clock.After(delay):
		}
	}
}
