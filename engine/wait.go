package engine

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"devstack/engine/model"
	"devstack/engine/plan"
)

// waiter fans the engine's container events out to the operations waiting
// for a container to be running, healthy or done. Waiting on events rather
// than polling means a dependent starts the moment its dependency turns
// healthy; a slow re-inspect covers events lost to a broken stream.
type waiter struct {
	rt     Runtime
	cancel context.CancelFunc

	mu   sync.Mutex
	subs map[string][]chan ContainerEvent // container name -> subscribers
}

// recheckEvery bounds how long a lost event can delay a wait.
const recheckEvery = 2 * time.Second

func (e *Engine) newWaiter(ctx context.Context, project string) (*waiter, error) {
	ctx, cancel := context.WithCancel(ctx)
	w := &waiter{rt: e.rt, cancel: cancel, subs: map[string][]chan ContainerEvent{}}
	events, errs := e.rt.Events(ctx, project)
	go func() {
		for {
			select {
			case ev, ok := <-events:
				if !ok {
					return
				}
				w.dispatch(ev)
			case <-errs:
				return
			case <-ctx.Done():
				return
			}
		}
	}()
	return w, nil
}

func (w *waiter) close() { w.cancel() }

func (w *waiter) subscribe(name string) chan ContainerEvent {
	ch := make(chan ContainerEvent, 16)
	w.mu.Lock()
	w.subs[name] = append(w.subs[name], ch)
	w.mu.Unlock()
	return ch
}

func (w *waiter) unsubscribe(name string, ch chan ContainerEvent) {
	w.mu.Lock()
	defer w.mu.Unlock()
	list := w.subs[name]
	for i, c := range list {
		if c == ch {
			w.subs[name] = append(list[:i], list[i+1:]...)
			break
		}
	}
}

func (w *waiter) dispatch(ev ContainerEvent) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, ch := range w.subs[strings.TrimPrefix(ev.Name, "/")] {
		select {
		case ch <- ev:
		default: // the waiter re-inspects anyway; never block the stream
		}
	}
}

// wait blocks until the container satisfies the operation's condition.
func (w *waiter) wait(ctx context.Context, e *Engine, o *plan.Op, id string, hc *model.Healthcheck) error {
	if id == "" {
		return fmt.Errorf("container %s does not exist", o.Name)
	}
	ch := w.subscribe(o.Name)
	defer w.unsubscribe(o.Name, ch)
	tick := time.NewTicker(recheckEvery)
	defer tick.Stop()
	var probed <-chan struct{}
	if o.Kind == plan.WaitHealthy {
		pctx, stop := context.WithCancel(ctx)
		defer stop()
		probed = w.probe(pctx, id, hc)
	}
	for {
		// Inspect after subscribing, so no change between the two is lost.
		c, err := w.rt.InspectContainer(ctx, id)
		if err != nil {
			return err
		}
		done, failure := satisfied(o.Kind, c)
		if done {
			return nil
		}
		if failure != "" {
			return fmt.Errorf("service %q %s%s", o.Service, failure, e.logTail(ctx, id))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("gave up waiting for %s (%s%s): %w", o.Name, c.State, healthSuffix(c), ctx.Err())
		case <-ch:
		case <-tick.C:
		case <-probed:
			return nil
		}
	}
}

// probe runs the service's own healthcheck test in the container right
// after it starts, and again with a short backoff, instead of waiting for
// the engine's first probe a whole interval later. The first success is
// the same evidence the engine would see; failures count for nothing here
// (the engine's own probes still decide "unhealthy"). It returns a channel
// closed on the first success, or nil when there is no test to run.
func (w *waiter) probe(ctx context.Context, id string, hc *model.Healthcheck) <-chan struct{} {
	if hc == nil || hc.Disable || len(hc.Test) < 2 {
		return nil
	}
	var cmd []string
	switch hc.Test[0] {
	case "CMD":
		cmd = hc.Test[1:]
	case "CMD-SHELL":
		cmd = []string{"/bin/sh", "-c", strings.Join(hc.Test[1:], " ")}
	default:
		return nil
	}
	timeout := hc.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ok := make(chan struct{})
	go func() {
		delay := 25 * time.Millisecond
		for {
			pctx, cancel := context.WithTimeout(ctx, timeout)
			code, err := w.rt.Exec(pctx, id, ExecOptions{Cmd: cmd})
			cancel()
			if err == nil && code == 0 {
				close(ok)
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(delay):
			}
			if delay < 500*time.Millisecond {
				delay *= 2
			}
		}
	}()
	return ok
}

func healthSuffix(c model.Container) string {
	if c.Health == "" {
		return ""
	}
	return ", " + c.Health
}

// satisfied says whether c meets the wait, or why it never will.
func satisfied(k plan.Kind, c model.Container) (bool, string) {
	switch k {
	case plan.WaitCompleted:
		switch c.State {
		case model.StateExited, model.StateDead:
			if c.ExitCode == 0 {
				return true, ""
			}
			return false, fmt.Sprintf("did not complete successfully: container %s exited with code %d", c.Name, c.ExitCode)
		}
		return false, ""
	default: // running, or healthy where there is a healthcheck (WaitHealthy, Confirm)
		switch c.State {
		case model.StateRunning:
			switch c.Health {
			case model.HealthNone, model.HealthHealthy:
				return true, ""
			case model.HealthUnhealthy:
				return false, fmt.Sprintf("is unhealthy: container %s failed its healthcheck", c.Name)
			}
			return false, ""
		case model.StateExited, model.StateDead:
			return false, fmt.Sprintf("exited: container %s exited with code %d", c.Name, c.ExitCode)
		}
		return false, ""
	}
}

// logTail returns the container's last log lines, to explain a failure.
func (e *Engine) logTail(ctx context.Context, id string) string {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	var lines []string
	_ = e.rt.Logs(ctx, id, LogOptions{Tail: "10"}, func(_, line string, _ time.Time) {
		lines = append(lines, "    "+line)
	})
	if len(lines) == 0 {
		return ""
	}
	return "; its last log lines:\n" + strings.Join(lines, "\n")
}
