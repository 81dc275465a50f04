package tui

import (
	"context"
	"errors"
	"io"
	"reflect"
	"sync"
	"testing"
	"time"

	"devstack/engine/event"
)

type syncBuffer struct {
	mu sync.Mutex
	n  int
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	b.n += len(p)
	b.mu.Unlock()
	return len(p), nil
}

func runOptions(in io.Reader, c Controller, q QuitBehaviour) Options {
	return Options{Project: "shop", Services: []string{"web"}, Controller: c, Quit: q,
		Input: in, Output: &syncBuffer{}, Width: 80, Height: 24, Environ: []string{"TERM=xterm"}}
}

// waitCounts polls the published counts until cond holds.
func waitCounts(t *testing.T, m *Model, cond func(LogCounts) bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond(m.LogCounts()) {
		if time.Now().After(deadline) {
			t.Fatalf("counts stuck at %+v", m.LogCounts())
		}
		time.Sleep(5 * time.Millisecond) // polling with a deadline
	}
}

func TestRunFoldsEventsAndStopsTheStackOnQuit(t *testing.T) {
	in, keys := io.Pipe()
	defer keys.Close()
	c := &fakeController{fail: errors.New("down failed")}
	m := New(runOptions(in, c, QuitAsk))
	events := make(chan event.Event, 10)
	done := make(chan error, 1)
	go func() { done <- m.Run(context.Background(), events) }()

	for i := 0; i < 5; i++ {
		events <- event.Log{Service: "web", Replica: 1, Line: "hello"}
	}
	waitCounts(t, m, func(c LogCounts) bool { return c.Received == 5 && c.Held == 5 })

	if _, err := keys.Write([]byte("q")); err != nil {
		t.Fatal(err)
	}
	if _, err := keys.Write([]byte("s")); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err == nil || err.Error() != "down failed" {
			t.Fatalf("Run returned %v, want the error of StopStack", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not end after q s")
	}
	if got := c.Calls(); !reflect.DeepEqual(got, []string{"stop stack"}) {
		t.Fatalf("calls %v", got)
	}
	// Events published after the end are still drained: this must not block.
	for i := 0; i < 100; i++ {
		events <- event.Log{Service: "web", Line: "late"}
	}
	close(events)
}

func TestRunEndsWithItsContext(t *testing.T) {
	in, keys := io.Pipe()
	defer keys.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, runOptions(in, nil, QuitAsk), make(chan event.Event)) }()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Run returned %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not end with its context")
	}
}
