package tui

import (
	"fmt"
	"strconv"
	"time"

	"devstack/engine/event"
	"devstack/tui/logbuf"
)

// replicaSeen remembers the container last seen running for a replica,
// to tell a restart (same container, new start time) or a recreation
// (new container) from a mere health change.
type replicaSeen struct {
	id      string
	started time.Time
	running bool
}

// markRestart writes a marker line into the service's logs when one of
// its containers exits, restarts or is replaced, so that the old
// container's lines stay above the new one's and the break shows.
func (p *logPane) markRestart(e event.State) {
	k := e.Service + "\x00" + strconv.Itoa(e.Replica)
	s, ok := p.seen[k]
	if !ok {
		s = &replicaSeen{}
		p.seen[k] = s
	}
	name := replicaName(e.Service, e.Replica)
	mark := func(text string) {
		p.store.Append(e.Service, logbuf.Line{Unix: unixNano(e.Time), Text: text, Replica: int32(e.Replica), Kind: logbuf.Marker})
	}
	switch e.State {
	case "running":
		switch {
		case s.id == "":
		case s.id != e.ID:
			mark(name + " recreated (new container)")
		case !s.started.IsZero() && !e.StartedAt.IsZero() && !s.started.Equal(e.StartedAt):
			// (A zero StartedAt is unknown: the monitor's first listing.)
			mark(name + " restarted")
		}
		s.id, s.running = e.ID, true
		if !e.StartedAt.IsZero() {
			s.started = e.StartedAt
		}
	case "exited", "dead":
		if s.running && s.id == e.ID {
			mark(fmt.Sprintf("%s exited with code %d", name, e.ExitCode))
			s.running = false
		}
	}
}
