package scratch

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"devstack/engine"
	"devstack/engine/model"
	readiness "devstack/engine/ready"
)

// verdict is what one container's state says about the stack.
type verdict = readiness.Verdict

const (
	pending = readiness.Pending // not there yet
	ready   = readiness.Ready   // running (and healthy), or a job done
	broken  = readiness.Failed  // will not get there
)

// settle is how long a container without a healthcheck must have been
// seen running to count as up: one that fails at start-up is "running"
// for a moment before it exits.
const settle = time.Second

// rules are the shared readiness rules made strict: a stack passes only
// when it really came up, so a restart is a failure and a job that ended
// well (exit 0, no restart policy) is done.
var rules = readiness.Rules{Settle: settle, NoRestarts: true, JobsDone: true}

// judge decides about one container of svc. up is how long the container
// has been seen running; probed says its healthcheck test passed once.
func judge(svc *model.Service, c model.Container, probed bool, up time.Duration) (verdict, string) {
	return readiness.Judge(readiness.Healthy, rules, svc, c, readiness.Seen{Probed: probed, Up: up})
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
	pr := readiness.NewProber(ctx, engine.ProbeExec(rt), nil, 0)
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
					pr.Probe(c.ID, svc.Healthcheck, c.StartedAt)
				}
				var up time.Duration
				if c.State == model.StateRunning {
					if _, ok := seen[c.ID]; !ok {
						seen[c.ID] = time.Now()
					}
					up = time.Since(seen[c.ID])
				}
				v, why := judge(svc, c, pr.Passed(c.ID), up)
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
		case <-pr.Changed():
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
