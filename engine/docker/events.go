package docker

import (
	"context"
	"errors"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"

	"devstack/engine"
	"devstack/engine/model"
)

// Events streams the project's container events until ctx ends (then
// both channels close, with no error) or the stream breaks (then the
// error channel receives one error first).
func (r *Runtime) Events(ctx context.Context, project string) (<-chan engine.ContainerEvent, <-chan error) {
	return r.events(ctx, project, false)
}

// AllEvents is Events with every action (exec_start, attach, ...) and
// the engine's attributes.
func (r *Runtime) AllEvents(ctx context.Context, project string) (<-chan engine.ContainerEvent, <-chan error) {
	return r.events(ctx, project, true)
}

func (r *Runtime) events(ctx context.Context, project string, all bool) (<-chan engine.ContainerEvent, <-chan error) {
	out := make(chan engine.ContainerEvent, 64)
	errs := make(chan error, 1)
	res := r.api.Events(ctx, client.EventsListOptions{Filters: containerFilter(project).
		Add("type", string(events.ContainerEventType))})
	go func() {
		defer close(errs)
		defer close(out)
		for {
			select {
			case <-ctx.Done():
				return
			case err, ok := <-res.Err:
				if ctx.Err() != nil {
					return
				}
				if !ok || err == nil || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
					err = errors.New("the engine ended its event stream (was it restarted?)")
				}
				errs <- r.engineError(err)
				return
			case m := <-res.Messages:
				ev, keep := containerEvent(m)
				if all {
					ev.Action, ev.Attributes, keep = string(m.Action), m.Actor.Attributes, true
				}
				if !keep {
					continue
				}
				select {
				case out <- ev:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out, errs
}

// containerEvent maps an engine event; exec and other non-state events
// are dropped.
func containerEvent(m events.Message) (engine.ContainerEvent, bool) {
	a := m.Actor.Attributes
	ev := engine.ContainerEvent{
		Time:    time.Unix(0, m.TimeNano),
		ID:      m.Actor.ID,
		Name:    a["name"],
		Service: a[model.LabelService],
		OneOff:  strings.EqualFold(a[model.LabelOneOff], "true"),
	}
	if m.TimeNano == 0 {
		ev.Time = time.Unix(m.Time, 0)
	}
	ev.Number, _ = strconv.Atoi(a[model.LabelNumber])
	action := string(m.Action)
	if status, ok := strings.CutPrefix(action, "health_status"); ok {
		// "health_status: healthy"
		action, ev.Health = "health_status", strings.TrimSpace(strings.TrimPrefix(status, ":"))
	}
	switch action {
	case "create", "start", "die", "health_status", "destroy", "stop", "kill", "oom", "restart", "pause", "unpause", "rename":
	default:
		return ev, false // exec_*, attach, resize, copy, top, ...
	}
	ev.Action = action
	if action == "die" {
		ev.ExitCode, _ = strconv.Atoi(a["exitCode"])
	}
	return ev, true
}
