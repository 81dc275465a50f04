package engine

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"devstack/engine/model"
	"devstack/engine/plan"
	"devstack/engine/ready"
)

// ProbeExec adapts a runtime to the shared prober: a healthcheck test is
// a plain exec whose exit code is the answer.
func ProbeExec(rt Runtime) ready.Exec {
	return func(ctx context.Context, id string, cmd []string) (int, error) {
		return rt.Exec(ctx, id, ExecOptions{Cmd: cmd})
	}
}

// waiter fans the engine's container events out to the operations waiting
// for a container to be running, healthy or done. Waiting on events rather
// than polling means a dependent starts the moment its dependency turns
// healthy; a slow re-inspect covers events lost to a broken stream.
type waiter struct {
	rt     Runtime
	cancel context.CancelFunc
	prober *ready.Prober // one for the whole plan: its limit caps every wait's probes

	mu   sync.Mutex
	subs map[string][]chan ContainerEvent // container name -> subscribers
}

// recheckEvery bounds how long a lost event can delay a wait.
const recheckEvery = 2 * time.Second

func (e *Engine) newWaiter(ctx context.Context, project string) (*waiter, error) {
	ctx, cancel := context.WithCancel(ctx)
	w := &waiter{rt: e.rt, cancel: cancel, subs: map[string][]chan ContainerEvent{}}
	w.prober = ready.NewProber(ctx, ProbeExec(e.rt), nil, e.ProbeLimit)
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

// wait blocks until the container satisfies the operation's condition,
// judged by the shared readiness rules. A wait for health also runs the
// service's own test through the shared prober, so the container counts
// as healthy as soon as its test first passes rather than at the
// engine's next interval tick.
func (w *waiter) wait(ctx context.Context, e *Engine, o *plan.Op, id string, svc *model.Service) error {
	if id == "" {
		return fmt.Errorf("container %s does not exist", o.Name)
	}
	ch := w.subscribe(o.Name)
	defer w.unsubscribe(o.Name, ch)
	tick := time.NewTicker(recheckEvery)
	defer tick.Stop()
	want := ready.Healthy
	if o.Kind == plan.WaitCompleted {
		want = ready.Completed
	}
	// Confirm is what `up --wait` promises: the engine's own word, so that
	// ps, docker ps and scripts right after agree. Only the waits that order
	// dependents take the prober's earlier one.
	byProbe := want == ready.Healthy && svc != nil && o.Kind != plan.Confirm
	var probed <-chan struct{}
	if byProbe {
		probed = w.prober.Probe(id, svc.Healthcheck, time.Time{})
	}
	for {
		// Inspect after subscribing, so no change between the two is lost.
		c, err := w.rt.InspectContainer(ctx, id)
		if err != nil {
			return err
		}
		v, why := ready.Judge(want, ready.Rules{}, svc, c, ready.Seen{Probed: byProbe && w.prober.Passed(id)})
		switch v {
		case ready.Ready:
			return nil
		case ready.Failed:
			return fmt.Errorf("service %q %s (container %s)%s", o.Service, why, c.Name, e.logTail(ctx, id))
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

func healthSuffix(c model.Container) string {
	if c.Health == "" {
		return ""
	}
	return ", " + c.Health
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
