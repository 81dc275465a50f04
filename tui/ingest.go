package tui

import (
	"fmt"
	"strconv"
	"time"

	"devstack/engine/event"
	"devstack/tui/logbuf"
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

// apply folds one engine event into the state.
func (m *Model) apply(e event.Event) {
	switch e := e.(type) {
	case event.Log:
		kind := logbuf.Stdout
		if e.Stream == "stderr" {
			kind = logbuf.Stderr
		}
		m.logs.store.Append(e.Service, logbuf.Line{Unix: unixNano(e.Time), Text: logbuf.Clean(e.Line), Replica: int32(e.Replica), Kind: kind})
	case event.BuildStep:
		text := e.Line
		if text == "" {
			text = e.Step
		}
		m.logs.store.Append(e.Service, logbuf.Line{Unix: unixNano(e.Time), Text: logbuf.Clean(text), Kind: logbuf.Build})
	case event.State:
		m.services.applyState(e)
		m.markRestart(e)
	case event.Stats:
		m.services.applyStats(e)
	case event.Progress:
		m.services.applyProgress(e)
		if e.Error != "" {
			who := e.Name
			if e.Service != "" {
				who = e.Service
			}
			m.setNotice(noticeErr, fmt.Sprintf("%s %s: %s", who, e.Action, e.Error))
		}
	case event.Sync:
		m.syncs.add(e)
		m.services.applySync(e)
	case event.Scratch:
		m.scratch.apply(e)
	case event.Connection:
		m.syncs.setConnection(e)
	case event.Warning:
		text := e.Message
		if e.Service != "" {
			text = e.Service + ": " + text
		}
		m.setNotice(noticeWarn, "warning: "+text)
	}
}

// replicaSeen remembers the container last seen running for a replica,
// to tell a restart (same container, new start time) or a recreation
// (new container) from a mere health change.
type replicaSeen struct {
	id      string
	started time.Time
	running bool
}

// markRestart writes a marker line into the service's logs when one of
// its containers exits, restarts or is replaced, so the old container's
// lines stay above the new one's and the break shows.
func (m *Model) markRestart(e event.State) {
	k := e.Service + "\x00" + strconv.Itoa(e.Replica)
	s, ok := m.seen[k]
	if !ok {
		s = &replicaSeen{}
		m.seen[k] = s
	}
	name := replicaName(e.Service, e.Replica)
	mark := func(text string) {
		m.logs.store.Append(e.Service, logbuf.Line{Unix: unixNano(e.Time), Text: text, Replica: int32(e.Replica), Kind: logbuf.Marker})
	}
	switch e.State {
	case "running":
		switch {
		case s.id == "":
		case s.id != e.ID:
			mark(name + " recreated (new container)")
		case !s.started.Equal(e.StartedAt):
			mark(name + " restarted")
		}
		s.id, s.started, s.running = e.ID, e.StartedAt, true
	case "exited", "dead":
		if s.running && s.id == e.ID {
			mark(fmt.Sprintf("%s exited with code %d", name, e.ExitCode))
			s.running = false
		}
	}
}
