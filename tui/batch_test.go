package tui

import (
	"context"
	"fmt"
	"testing"
	"time"

	"devstack/engine/event"
)

func TestBatcherKeepsOrderAndDropsOnlyWhatTheRingWould(t *testing.T) {
	b := newBatcher(10)
	b.add(event.State{Service: "web", State: "running"})
	for i := 0; i < 35; i++ {
		b.add(event.Log{Service: "web", Line: fmt.Sprint(i)})
		if i == 20 {
			b.add(event.Sync{Service: "web"})
		}
	}
	for i := 0; i < 5; i++ {
		b.add(event.Log{Service: "api", Line: fmt.Sprint(i)})
	}
	msg, ok := b.take()
	if !ok {
		t.Fatal("nothing taken")
	}
	var web []string
	var others []string
	for _, e := range msg.events {
		switch e := e.(type) {
		case event.Log:
			if e.Service == "web" {
				web = append(web, e.Line)
			}
		default:
			others = append(others, e.Type())
		}
	}
	// 35 lines at limit 10: compaction ran at 21 queued (kept 10) and the
	// queue then grew again; at least the newest 10 must be there, in order.
	if len(web) < 10 || web[len(web)-1] != "34" || web[len(web)-10] != "25" {
		t.Fatalf("web lines kept: %v", web)
	}
	if got := msg.dropped["web"] + uint64(len(web)); got != 35 {
		t.Fatalf("kept %d + dropped %d != 35 lines sent", len(web), msg.dropped["web"])
	}
	if msg.dropped["api"] != 0 {
		t.Fatalf("api lost lines: %d", msg.dropped["api"])
	}
	if len(others) != 2 || others[0] != "state" || others[1] != "sync" {
		t.Fatalf("other events: %v (none may be dropped)", others)
	}
	if _, ok := b.take(); ok {
		t.Fatal("a second take returned the same events")
	}
}

func TestBatcherDeliversOncePerInterval(t *testing.T) {
	b := newBatcher(100)
	events := make(chan event.Event)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go b.drain(ctx, events)
	got := make(chan batchMsg, 100)
	go b.pump(ctx, 20*time.Millisecond, func(m batchMsg) { got <- m })
	for i := 0; i < 1000; i++ {
		events <- event.Log{Service: "web", Line: fmt.Sprint(i)}
	}
	total, batches := 0, 0
	deadline := time.After(5 * time.Second)
	for total < 1000 {
		select {
		case m := <-got:
			batches++
			total += len(m.events) + int(m.dropped["web"])
		case <-deadline:
			t.Fatalf("only %d of 1000 lines delivered", total)
		}
	}
	if batches >= 1000 {
		t.Fatalf("%d batches for 1000 events: not batched", batches)
	}
	close(events)
}
