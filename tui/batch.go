package tui

import (
	"context"
	"sync"
	"time"

	"devstack/engine/event"
)

// batcher sits between the engine and the program: one goroutine drains
// the event channel as fast as events come, so the engine never waits on
// the screen, and another hands everything that queued up to the program
// once per frame. While the program is busy the queue grows, but a
// service's log lines beyond what its ring keeps are dropped (and
// counted) right away, so memory stays bounded at any rate.
type batcher struct {
	limit int

	mu      sync.Mutex // guards the fields below
	events  []event.Event
	logs    map[string]int    // queued log lines per service
	dropped map[string]uint64 // log lines discarded per service since the last take
}

func newBatcher(limit int) *batcher {
	return &batcher{limit: limit, logs: map[string]int{}, dropped: map[string]uint64{}}
}

func (b *batcher) add(e event.Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.events = append(b.events, e)
	if l, ok := e.(event.Log); ok {
		b.logs[l.Service]++
		// Compact at twice the limit so that the cost is amortised.
		if b.logs[l.Service] > 2*b.limit {
			b.compact()
		}
	}
}

// compact drops every queued log line that is older than its service's
// newest limit lines: the ring would overwrite it on arrival anyway.
func (b *batcher) compact() {
	kept := map[string]int{}
	out := b.events[:0]
	// Walk newest first to count, then keep order by filling from the end.
	keep := make([]bool, len(b.events))
	for i := len(b.events) - 1; i >= 0; i-- {
		l, ok := b.events[i].(event.Log)
		if !ok {
			keep[i] = true
			continue
		}
		if kept[l.Service] < b.limit {
			kept[l.Service]++
			keep[i] = true
		} else {
			b.dropped[l.Service]++
		}
	}
	for i, e := range b.events {
		if keep[i] {
			out = append(out, e)
		}
	}
	clear(b.events[len(out):])
	b.events = out
	b.logs = kept
}

// take returns what queued up since the last take, if anything.
func (b *batcher) take() (batchMsg, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.events) == 0 && len(b.dropped) == 0 {
		return batchMsg{}, false
	}
	msg := batchMsg{events: b.events, dropped: b.dropped}
	b.events = make([]event.Event, 0, len(msg.events))
	b.dropped = map[string]uint64{}
	clear(b.logs)
	return msg, true
}

// drain queues events until the channel is closed. Once ctx is done it
// keeps reading and discards them, so that a publisher never blocks on a
// dashboard that has ended.
func (b *batcher) drain(ctx context.Context, events <-chan event.Event) {
	for e := range events {
		if ctx.Err() == nil {
			b.add(e)
		}
	}
}

// pump delivers one batch per interval until ctx ends.
func (b *batcher) pump(ctx context.Context, every time.Duration, send func(batchMsg)) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if msg, ok := b.take(); ok {
				send(msg)
			}
		}
	}
}
