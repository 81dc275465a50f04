package engine_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"devstack/engine"
	"devstack/engine/docker"
	"devstack/engine/event"
	"devstack/engine/load"
	"devstack/engine/model"
)

// timeline is a sink that keeps every event with the moment it arrived,
// so that tests can measure how soon something was reported.
type timeline struct {
	mu     sync.Mutex
	events []arrival
	notify chan struct{}
}

type arrival struct {
	at time.Time
	e  event.Event
}

func (tl *timeline) Publish(e event.Event) {
	tl.mu.Lock()
	tl.events = append(tl.events, arrival{time.Now(), e})
	if tl.notify != nil {
		close(tl.notify)
		tl.notify = nil
	}
	tl.mu.Unlock()
}

func (tl *timeline) all() []arrival {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	return append([]arrival(nil), tl.events...)
}

// mark is the number of events so far: wait looks only after it.
func (tl *timeline) mark() int {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	return len(tl.events)
}

// wait returns the first event after index from that matches, waiting
// for it until the deadline.
func (tl *timeline) wait(t *testing.T, from int, within time.Duration, what string, match func(event.Event) bool) arrival {
	t.Helper()
	deadline := time.Now().Add(within)
	seen := from
	for {
		tl.mu.Lock()
		for ; seen < len(tl.events); seen++ {
			if match(tl.events[seen].e) {
				a := tl.events[seen]
				tl.mu.Unlock()
				return a
			}
		}
		if tl.notify == nil {
			tl.notify = make(chan struct{})
		}
		ch := tl.notify
		tl.mu.Unlock()
		timer := time.NewTimer(time.Until(deadline))
		select {
		case <-ch:
			timer.Stop()
		case <-timer.C:
			t.Fatalf("%s: not reported within %s; events:\n%s", what, within, tl.dump(from))
		}
	}
}

// waitN waits for the n-th event after from that matches.
func (tl *timeline) waitN(t *testing.T, from, n int, within time.Duration, what string, match func(event.Event) bool) arrival {
	t.Helper()
	count := 0
	return tl.wait(t, from, within, what, func(e event.Event) bool {
		if match(e) {
			count++
		}
		return count >= n
	})
}

// dump lists the events after from, log lines shortened, for failures.
func (tl *timeline) dump(from int) string {
	var b strings.Builder
	evs := tl.all()
	for _, a := range evs[min(from, len(evs)):] {
		j, _ := event.Marshal(a.e)
		fmt.Fprintf(&b, "%s %s\n", a.at.Format("15:04:05.000"), j)
	}
	return b.String()
}

func connection(want bool) func(event.Event) bool {
	return func(e event.Event) bool {
		c, ok := e.(event.Connection)
		return ok && c.Connected == want
	}
}

// engineStack is a project on a given engine (host "" is the machine's).
type engineStack struct {
	t   *testing.T
	dir string
	p   *model.Project
	rt  *docker.Runtime
	e   *engine.Engine
}

// newEngineStack writes compose ($IMAGE is the test image) into a temp
// dir and loads it under a unique name on the engine at host; the
// project is removed when the test ends, through remove.
func newEngineStack(t *testing.T, host, image, compose string, remove func(project string)) *engineStack {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(strings.ReplaceAll(compose, "$IMAGE", image)), 0o644); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	name := "dsmon" + hex.EncodeToString(b)
	t.Cleanup(func() { remove(name) })
	rt, err := docker.New(context.Background(), docker.Options{Host: host})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })
	p, err := load.Load(context.Background(), load.Options{WorkDir: dir, ProjectName: name})
	if err != nil {
		t.Fatal(err)
	}
	return &engineStack{t: t, dir: dir, p: p, rt: rt, e: engine.New(rt, event.Discard)}
}

func (s *engineStack) up() {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := s.e.Up(ctx, s.p, engine.UpOptions{}); err != nil {
		s.t.Fatalf("up: %v", err)
	}
}

// monitor runs Monitor into a timeline until the test ends.
func (s *engineStack) monitor(o engine.MonitorOptions) *timeline {
	s.t.Helper()
	tl := &timeline{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = engine.New(s.rt, tl).Monitor(ctx, s.p, o)
	}()
	s.t.Cleanup(func() {
		cancel()
		<-done
	})
	return tl
}
