package engine_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"devstack/engine"
	"devstack/engine/event"
	"devstack/engine/model"
)

// flakyRuntime is an engine that can be taken down and brought back: its
// event stream breaks when it goes down, and every call fails until it
// is up again. Only what Monitor uses is implemented.
type flakyRuntime struct {
	engine.Runtime

	mu       sync.Mutex
	up       bool
	drop     chan struct{} // closed when the engine goes down
	attempts []time.Time   // calls to Events while down
	tried    chan struct{} // signalled on each of them
	streams  chan struct{} // signalled on each call to Events while up
}

func newFlakyRuntime() *flakyRuntime {
	return &flakyRuntime{up: true, drop: make(chan struct{}), tried: make(chan struct{}, 100), streams: make(chan struct{}, 100)}
}

func (f *flakyRuntime) Host() string { return "unix:///fake.sock" }

func (f *flakyRuntime) setUp(up bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.up && !up {
		close(f.drop)
	}
	if !f.up && up {
		f.drop = make(chan struct{})
	}
	f.up = up
	f.attempts = nil
}

var errDown = errors.New("connection refused")

func (f *flakyRuntime) Events(ctx context.Context, _ string) (<-chan engine.ContainerEvent, <-chan error) {
	out := make(chan engine.ContainerEvent)
	errs := make(chan error, 1)
	f.mu.Lock()
	up, drop := f.up, f.drop
	if !up {
		f.attempts = append(f.attempts, time.Now())
	}
	f.mu.Unlock()
	if !up {
		errs <- errDown
		f.tried <- struct{}{}
		return out, errs
	}
	f.streams <- struct{}{}
	go func() {
		select {
		case <-ctx.Done():
		case <-drop:
			errs <- errors.New("the engine ended its event stream")
		}
	}()
	return out, errs
}

func (f *flakyRuntime) Observe(context.Context, *model.Project) (model.Observed, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.up {
		return model.Observed{}, errDown
	}
	return model.Observed{}, nil
}

func (f *flakyRuntime) ProjectContainers(context.Context, *model.Project) ([]model.Container, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.up {
		return nil, errDown
	}
	return nil, nil
}

// downFor keeps the engine down until the monitor has tried n times to
// reconnect, and returns when it comes back up.
func (f *flakyRuntime) downFor(t *testing.T, n int) (dropped, up time.Time) {
	t.Helper()
	dropped = time.Now()
	f.setUp(false)
	for i := 0; i < n; i++ {
		select {
		case <-f.tried:
		case <-time.After(30 * time.Second):
			t.Fatalf("the monitor made %d reconnection attempts in 30s, want %d", i, n)
		}
	}
	f.mu.Lock()
	tries := append([]time.Time(nil), f.attempts...)
	f.mu.Unlock()
	f.setUp(true)
	for i, at := range tries {
		t.Logf("attempt %d at +%v", i+1, at.Sub(dropped).Round(time.Millisecond))
	}
	return dropped, time.Now()
}

// TestMonitorReconnectsSoonAfterALongOutage: however long the engine was
// away, the monitor notices it is back within about a second, and after
// reconnecting it starts again from short waits (a second restart is
// not met with the long wait the first one grew to).
func TestMonitorReconnectsSoonAfterALongOutage(t *testing.T) {
	f := newFlakyRuntime()
	rec := &event.Recorder{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = engine.New(f, rec).Monitor(ctx, &model.Project{Name: "flaky"}, engine.MonitorOptions{States: true})
	}()
	defer func() { cancel(); <-done }()
	select {
	case <-f.streams:
	case <-time.After(10 * time.Second):
		t.Fatal("the monitor did not subscribe to the engine's events")
	}

	connected := func(want bool, from int) func(event.Event) bool {
		seen := 0
		return func(e event.Event) bool {
			seen++
			c, ok := e.(event.Connection)
			return seen > from && ok && c.Connected == want
		}
	}
	// A long outage: six failed attempts.
	mark := len(rec.Events())
	_, up := f.downFor(t, 6)
	e, ok := rec.Wait(time.Now().Add(20*time.Second), connected(true, mark))
	if !ok {
		t.Fatalf("no reconnection reported: %v", rec.Events())
	}
	lag := e.(event.Connection).Time.Sub(up)
	t.Logf("back %v after the engine was", lag.Round(time.Millisecond))
	if lag > 1500*time.Millisecond {
		t.Errorf("the monitor reported the engine back %v after it was: its retries wait too long", lag.Round(time.Millisecond))
	}

	// A second outage: the first retry comes as soon as after the first.
	mark = len(rec.Events())
	dropped, _ := f.downFor(t, 1)
	e, ok = rec.Wait(time.Now().Add(20*time.Second), connected(true, mark))
	if !ok {
		t.Fatal("no reconnection after the second outage")
	}
	if took := e.(event.Connection).Time.Sub(dropped); took > time.Second {
		t.Errorf("after a second, short outage the monitor reconnected only %v after the drop: its waits did not start short again", took.Round(time.Millisecond))
	}
}
