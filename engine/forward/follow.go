package forward

import (
	"context"
	"time"

	"devstack/engine"
	"devstack/engine/event"
	"devstack/engine/model"
)

// FollowOptions tune Follow.
type FollowOptions struct {
	// UntilDown ends Follow once the project has no container left (the
	// background forwarder goes with the stack).
	UntilDown bool
	// Ready, when set, is called once the first snapshot was forwarded.
	Ready func()
}

// The waits between attempts to reach the engine again after the link
// broke: short, since the forwards are useless while it is down.
const (
	minRetry = 100 * time.Millisecond
	maxRetry = 2 * time.Second
)

// Follow keeps f in line with the project's containers until ctx ends: a
// snapshot, then one more after each container event (created, started,
// died, removed), so forwards follow recreations, restarts and scaling.
// When the engine's event stream breaks it reconnects with a backoff,
// and the listeners stay: connections made meanwhile are refused, and
// work again once the link is back.
func Follow(ctx context.Context, rt engine.Runtime, p *model.Project, f *Forwarder, o FollowOptions) error {
	e := engine.New(rt, event.Discard)
	backoff := minRetry
	for {
		down, err := followOnce(ctx, e, rt, p, f, &o)
		if ctx.Err() != nil {
			return nil
		}
		if down {
			return nil
		}
		if err == nil {
			backoff = minRetry
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxRetry)
	}
}

// followOnce follows one connection's event stream; it reports whether
// the stack is down (UntilDown), or why the stream ended.
func followOnce(ctx context.Context, e *engine.Engine, rt engine.Runtime, p *model.Project, f *Forwarder, o *FollowOptions) (bool, error) {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	events, errs := rt.Events(sctx, p.Name)
	sync := func() (bool, error) {
		cs, err := e.Containers(sctx, p, nil, true)
		if err != nil {
			return false, err
		}
		f.Set(cs)
		if o.Ready != nil {
			o.Ready()
			o.Ready = nil
		}
		return o.UntilDown && len(nonOneOff(cs)) == 0, nil
	}
	if down, err := sync(); down || err != nil {
		return down, err
	}
	for {
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case err := <-errs:
			return false, err
		case ev, ok := <-events:
			if !ok {
				return false, nil
			}
			switch ev.Action {
			case "create", "start", "die", "destroy", "restart", "rename":
			default:
				continue
			}
			// Fold a burst (a recreate is several events) into one snapshot.
			drain(events)
			if down, err := sync(); down || err != nil {
				return down, err
			}
		}
	}
}

func drain(events <-chan engine.ContainerEvent) {
	t := time.NewTimer(20 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case _, ok := <-events:
			if !ok {
				return
			}
		case <-t.C:
			return
		}
	}
}

func nonOneOff(cs []model.Container) []model.Container {
	var out []model.Container
	for _, c := range cs {
		if !c.OneOff {
			out = append(out, c)
		}
	}
	return out
}
