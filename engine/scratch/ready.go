package scratch

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"devstack/engine"
	"devstack/engine/model"
)

// verdict is what one container's state says about the stack.
type verdict int

const (
	pending verdict = iota // not there yet
	ready                  // running (and healthy), or a job done
	broken                 // will not get there
)

// settle is how long a container without a healthcheck must have been
// seen running to count as up: one that fails at start-up is "running"
// for a moment before it exits.
const settle = time.Second

// judge decides about one container of svc. A job is a service that is
// meant to end: it is done once it exited 0, unless its restart policy
// would start it again. up is how long the container has been seen
// running.
func judge(svc *model.Service, c model.Container, probed bool, up time.Duration) (verdict, string) {
	switch c.State {
	case model.StateRunning:
		if c.Restarts > 0 {
			return broken, fmt.Sprintf("keeps restarting (%d restarts, last exit code %d)", c.Restarts, c.ExitCode)
		}
		switch c.Health {
		case model.HealthHealthy:
			return ready, ""
		case model.HealthNone:
			if up >= settle {
				return ready, ""
			}
			return pending, "has only just started"
		case model.HealthUnhealthy:
			return broken, "is unhealthy: it failed its healthcheck"
		}
		if probed {
			return ready, ""
		}
		return pending, "is starting (not healthy yet)"
	case model.StateRestarting:
		return broken, fmt.Sprintf("keeps restarting (exit code %d)", c.ExitCode)
	case model.StateExited, model.StateDead:
		restarts := svc.Restart == "always" || svc.Restart == "unless-stopped"
		if c.ExitCode == 0 && !restarts {
			return ready, ""
		}
		return broken, fmt.Sprintf("exited with code %d", c.ExitCode)
	case model.StateCreated:
		return pending, "was created but not started"
	}
	return pending, "is " + c.State
}

// waitReady waits until every container of every service is ready, and
// returns the first service that will not be (nil when all are). It
// listens to the engine's events and re-inspects on each; healthchecks
// are also run directly, as the engine's waits do, so a service with a
// long healthcheck interval is not waited on for a whole interval.
func waitReady(ctx context.Context, rt engine.Runtime, p *model.Project, order []string) *Failure {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	events, _ := rt.Events(ctx, p.Name)
	pr := &prober{rt: rt, ok: map[string]bool{}, started: map[string]bool{}}
	seen := map[string]time.Time{} // container ID -> first seen running
	tick := time.NewTicker(settle / 4)
	defer tick.Stop()
	rank := map[string]int{}
	for i, s := range order {
		rank[s] = i
	}
	for {
		obs, err := rt.Observe(ctx, p)
		if err != nil {
			if ctx.Err() != nil {
				return timeoutFailure(ctx, "start", "", err)
			}
			return &Failure{Phase: "ready", Message: err.Error()}
		}
		byService := map[string][]model.Container{}
		for _, c := range obs.Containers {
			if !c.OneOff {
				byService[c.Service] = append(byService[c.Service], c)
			}
		}
		var waiting []string
		var bad *Failure
		names := active(p, p.ServiceNames())
		sort.SliceStable(names, func(i, j int) bool { return rank[names[i]] < rank[names[j]] })
		for _, name := range names {
			svc, _ := p.Service(name)
			cs := byService[name]
			if len(cs) < svc.Replicas {
				waiting = append(waiting, name+" has no container yet")
				continue
			}
			for _, c := range cs {
				if c.State == model.StateRunning && c.Health == model.HealthStarting {
					pr.start(ctx, c.ID, svc.Healthcheck)
				}
				var up time.Duration
				if c.State == model.StateRunning {
					if _, ok := seen[c.ID]; !ok {
						seen[c.ID] = time.Now()
					}
					up = time.Since(seen[c.ID])
				}
				v, why := judge(svc, c, pr.healthy(c.ID), up)
				switch v {
				case broken:
					if bad == nil {
						bad = &Failure{Phase: "ready", Service: name, Message: fmt.Sprintf("container %s %s", c.Name, why), Tail: logTail(ctx, rt, c.ID)}
					}
				case pending:
					waiting = append(waiting, fmt.Sprintf("%s %s", name, why))
				}
			}
		}
		if bad != nil {
			return bad
		}
		if len(waiting) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return timeoutFailure(ctx, "ready", firstWord(waiting[0]), fmt.Errorf("still waiting: %s", strings.Join(waiting, "; ")))
		case _, ok := <-events:
			if !ok {
				events = nil // the ticker still re-inspects
			}
		case <-pr.changed():
		case <-tick.C:
		}
	}
}

func firstWord(s string) string {
	if i := strings.IndexByte(s, ' '); i > 0 {
		return s[:i]
	}
	return s
}

// timeoutFailure names a failure caused by the run's deadline.
func timeoutFailure(ctx context.Context, phase, service string, err error) *Failure {
	if ctx.Err() == context.DeadlineExceeded {
		return &Failure{Phase: "timeout", Service: service, Message: "not up within the timeout: " + err.Error()}
	}
	return &Failure{Phase: phase, Service: service, Message: err.Error()}
}

// logTail returns a container's last lines of output.
func logTail(ctx context.Context, rt engine.Runtime, id string) []string {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	var lines []string
	_ = rt.Logs(ctx, id, engine.LogOptions{Tail: fmt.Sprint(tailLines)}, func(_, line string, _ time.Time) {
		lines = append(lines, line)
	})
	return lines
}

// prober runs healthcheck tests in containers until they first pass.
type prober struct {
	rt engine.Runtime

	mu      sync.Mutex
	ok      map[string]bool // container ID -> its test passed once
	started map[string]bool
	notify  chan struct{}
}

func (p *prober) healthy(id string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ok[id]
}

func (p *prober) changed() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.notify == nil {
		p.notify = make(chan struct{})
	}
	return p.notify
}

func (p *prober) start(ctx context.Context, id string, hc *model.Healthcheck) {
	cmd := healthCommand(hc)
	p.mu.Lock()
	defer p.mu.Unlock()
	if cmd == nil || p.started[id] {
		return
	}
	p.started[id] = true
	timeout := hc.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	go func() {
		delay := 50 * time.Millisecond
		for ctx.Err() == nil {
			pctx, cancel := context.WithTimeout(ctx, timeout)
			code, err := p.rt.Exec(pctx, id, engine.ExecOptions{Cmd: cmd})
			cancel()
			if err == nil && code == 0 {
				p.mu.Lock()
				p.ok[id] = true
				if p.notify != nil {
					close(p.notify)
					p.notify = nil
				}
				p.mu.Unlock()
				return
			}
			select {
			case <-ctx.Done():
			case <-time.After(delay): // backoff between probes, not synchronisation
			}
			if delay < time.Second {
				delay *= 2
			}
		}
	}()
}

// healthCommand is the command a healthcheck runs, or nil.
func healthCommand(hc *model.Healthcheck) []string {
	if hc == nil || hc.Disable || len(hc.Test) < 2 {
		return nil
	}
	switch hc.Test[0] {
	case "CMD":
		return hc.Test[1:]
	case "CMD-SHELL":
		return []string{"/bin/sh", "-c", strings.Join(hc.Test[1:], " ")}
	}
	return nil
}
