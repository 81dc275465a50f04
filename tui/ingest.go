package tui

import (
	"fmt"

	"devstack/engine/event"
)

// batchMsg carries every event that arrived since the previous one: one
// message (and one redraw) per frame however fast the engine publishes.
type batchMsg struct {
	events []event.Event
	// dropped counts log lines discarded before delivery, by service,
	// because a service wrote more than its ring holds within one batch.
	dropped map[string]uint64
}

func (m *Model) applyBatch(b batchMsg) {
	c := m.LogCounts()
	for svc, n := range b.dropped {
		m.logs.store.AddDropped(svc, n)
		c.Received += n
	}
	for _, e := range b.events {
		if _, ok := e.(event.Log); ok {
			c.Received++
		}
		m.apply(e)
	}
	all := m.logs.store.View()
	c.Held, c.Dropped = uint64(all.Len()), all.Dropped()
	m.counts.Store(&c)
}

// apply folds one engine event into the state: each pane takes what
// concerns it; the status line takes errors and warnings.
func (m *Model) apply(e event.Event) {
	m.logs.Update(e)
	switch e := e.(type) {
	case event.Log, event.BuildStep:
		return // the log pane's alone, and by far the most frequent
	case event.State, event.Stats, event.Forward:
		m.services.Update(e)
	case event.Progress:
		m.services.Update(e)
		if e.Error != "" {
			who := e.Name
			if e.Service != "" {
				who = e.Service
			}
			m.setNotice(noticeErr, fmt.Sprintf("%s %s: %s", who, e.Action, e.Error))
		}
	case event.Sync:
		m.services.Update(e)
		m.syncs.Update(e)
	case event.Connection:
		m.syncs.Update(e)
	case event.Scratch:
		m.scratch.Update(e)
	case event.Warning:
		text := e.Message
		if e.Service != "" {
			text = e.Service + ": " + text
		}
		m.setNotice(noticeWarn, "warning: "+text)
	}
}
