package tui

import (
	"sync"

	"devstack/engine/event"
)

// Feed is the event.Sink to give the engine when the dashboard shows its
// events: it hands them to Run through a channel. Publish blocks only
// while the channel's buffer is full, which Run's reader keeps short;
// after Close, events are dropped, so late publishers never panic.
type Feed struct {
	mu     sync.RWMutex // held for reading while sending; Close takes it for writing
	ch     chan event.Event
	closed bool
}

// NewFeed returns a feed whose channel buffers size events.
func NewFeed(size int) *Feed {
	return &Feed{ch: make(chan event.Event, size)}
}

// Publish sends e to the dashboard.
func (f *Feed) Publish(e event.Event) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if !f.closed {
		f.ch <- e
	}
}

// Events is the channel to pass to Run.
func (f *Feed) Events() <-chan event.Event { return f.ch }

// Close ends the feed: Run's reader stops, later events are dropped.
func (f *Feed) Close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.closed {
		f.closed = true
		close(f.ch)
	}
}
