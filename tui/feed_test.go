package tui

import (
	"sync"
	"testing"

	"devstack/engine/event"
)

func TestFeedDeliversAndIgnoresLateEvents(t *testing.T) {
	f := NewFeed(4)
	var got []event.Event
	done := make(chan struct{})
	go func() {
		for e := range f.Events() {
			got = append(got, e)
		}
		close(done)
	}()
	var wg sync.WaitGroup
	for i := 0; i < 10; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); f.Publish(event.Warning{Message: "x"}) }()
	}
	wg.Wait()
	f.Close()
	<-done
	f.Publish(event.Warning{Message: "late"}) // must neither panic nor block
	f.Close()
	if len(got) != 10 {
		t.Fatalf("got %d events, want 10", len(got))
	}
}
