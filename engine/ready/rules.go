// Package ready is devstack's one answer to "is this container there
// yet?", shared by up's dependency waits, up --wait and scratch rebuilds:
// the rules that read a container's state against what is waited for
// (Judge), and a prober that runs a service's own healthcheck test early
// and adaptively, so a dependent need not wait for the engine's next
// interval tick (Prober).
//
// Design: the one readiness shared by `up`'s waits, `--wait` and scratch:
// the rules that judge a container against a condition, and a prober running
// the service's own healthcheck test 20 ms after start doubling up to its
// interval, one probe per container, at most 8 execs at once, on an injected
// clock.
package ready

import (
	"fmt"
	"time"

	"devstack/engine/model"
)

// Condition is what a wait asks of a container.
type Condition int

const (
	// Healthy: running, and healthy where the service has a healthcheck
	// (service_healthy, service_started's --wait, scratch's "up").
	Healthy Condition = iota
	// Completed: exited with code 0 (service_completed_successfully).
	Completed
)

// Verdict is what one observation of a container says about a wait.
type Verdict int

const (
	Pending Verdict = iota // not there yet
	Ready                  // the condition holds
	Failed                 // it will not hold
)

func (v Verdict) String() string {
	switch v {
	case Ready:
		return "ready"
	case Failed:
		return "failed"
	}
	return "pending"
}

// Rules make a wait stricter than Compose's, for scratch rebuilds, which
// must tell a stack that really came up from one that merely started.
type Rules struct {
	// Settle: a running container without a healthcheck counts only once
	// it has been seen running this long (one that fails at start-up is
	// "running" for a moment before it exits). 0 counts it at once.
	Settle time.Duration
	// NoRestarts: a container that has restarted, or is restarting, has
	// failed (Compose's waits keep waiting instead).
	NoRestarts bool
	// JobsDone: a container that exited 0 is done, unless its restart
	// policy would start it again (a job, not a server).
	JobsDone bool
}

// Seen is what the waiter knows beyond the container's state.
type Seen struct {
	Probed bool          // the healthcheck test passed once, run by a Prober
	Up     time.Duration // how long the container has been seen running
}

// Judge reads one observation of container c of svc (nil when unknown)
// against the condition. The reason, for Pending and Failed, reads after
// the container's name: "exited with code 1".
func Judge(want Condition, r Rules, svc *model.Service, c model.Container, s Seen) (Verdict, string) {
	if want == Completed {
		switch c.State {
		case model.StateExited, model.StateDead:
			if c.ExitCode == 0 {
				return Ready, ""
			}
			return Failed, fmt.Sprintf("did not complete successfully: it exited with code %d", c.ExitCode)
		}
		return Pending, "has not completed yet"
	}
	switch c.State {
	case model.StateRunning:
		if r.NoRestarts && c.Restarts > 0 {
			return Failed, fmt.Sprintf("keeps restarting (%d restarts, last exit code %d)", c.Restarts, c.ExitCode)
		}
		switch c.Health {
		case model.HealthHealthy:
			return Ready, ""
		case model.HealthNone:
			if s.Up >= r.Settle {
				return Ready, ""
			}
			return Pending, "has only just started"
		case model.HealthUnhealthy:
			return Failed, "is unhealthy: it failed its healthcheck"
		}
		if s.Probed {
			return Ready, ""
		}
		return Pending, "is starting (not healthy yet)"
	case model.StateRestarting:
		if r.NoRestarts {
			return Failed, fmt.Sprintf("keeps restarting (exit code %d)", c.ExitCode)
		}
		return Pending, "is restarting"
	case model.StateExited, model.StateDead:
		if r.JobsDone && c.ExitCode == 0 && !restarts(svc) {
			return Ready, ""
		}
		return Failed, fmt.Sprintf("exited with code %d", c.ExitCode)
	case model.StateCreated:
		return Pending, "was created but not started"
	}
	return Pending, "is " + c.State
}

// restarts says whether the engine would start svc's container again
// after it exited 0.
func restarts(svc *model.Service) bool {
	return svc != nil && (svc.Restart == "always" || svc.Restart == "unless-stopped")
}
