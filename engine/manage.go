package engine

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"devstack/engine/model"
	"devstack/engine/plan"
)

// Projects lists every compose project on the engine, whichever tool made
// it, from one container list: with all, projects whose containers are
// all stopped too. Sorted by name.
func Projects(ctx context.Context, rt Runtime, all bool) ([]model.ProjectSummary, error) {
	cs, err := rt.ListContainers(ctx, all)
	if err != nil {
		return nil, err
	}
	return Summarise(cs), nil
}

// Summarise groups containers by project the way Compose's `ls` does:
// the status counts each state ("exited(1), running(2)", states sorted),
// the config files are the first container's label.
func Summarise(cs []model.Container) []model.ProjectSummary {
	type acc struct {
		s      model.ProjectSummary
		states map[string]int
	}
	byName := map[string]*acc{}
	var names []string
	for _, c := range cs {
		name := c.Labels[model.LabelProject]
		if name == "" {
			continue
		}
		a := byName[name]
		if a == nil {
			a = &acc{s: model.ProjectSummary{Name: name, ConfigFiles: c.Labels[model.LabelConfigFiles], WorkingDir: c.Labels[model.LabelWorkingDir]}, states: map[string]int{}}
			byName[name] = a
			names = append(names, name)
		}
		a.states[c.State]++
	}
	sort.Strings(names)
	out := make([]model.ProjectSummary, 0, len(names))
	for _, n := range names {
		a := byName[n]
		a.s.Status = combinedStatus(a.states)
		out = append(out, a.s)
	}
	return out
}

func combinedStatus(states map[string]int) string {
	keys := make([]string, 0, len(states))
	for k := range states {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s(%d)", k, states[k])
	}
	return strings.Join(parts, ", ")
}

// serviceContainers is the project's service containers (no one-off
// ones) of the named services, all when none are named, in the given
// states (any when none are given).
func (e *Engine) serviceContainers(ctx context.Context, p *model.Project, services []string, states ...string) ([]model.Container, error) {
	cs, err := e.Containers(ctx, p, services, true)
	if err != nil {
		return nil, err
	}
	var out []model.Container
	for _, c := range cs {
		if c.OneOff {
			continue
		}
		if len(states) > 0 && !contains(states, c.State) {
			continue
		}
		out = append(out, c)
	}
	return out, nil
}

// Pause freezes the running containers of the services (all when none
// are named).
func (e *Engine) Pause(ctx context.Context, p *model.Project, services []string) error {
	cs, err := e.serviceContainers(ctx, p, services, model.StateRunning)
	if err != nil {
		return err
	}
	return e.apply(ctx, p, plan.ForContainers(plan.Pause, cs, ""), applyOptions{})
}

// Unpause thaws the paused containers of the services.
func (e *Engine) Unpause(ctx context.Context, p *model.Project, services []string) error {
	cs, err := e.serviceContainers(ctx, p, services, model.StatePaused)
	if err != nil {
		return err
	}
	return e.apply(ctx, p, plan.ForContainers(plan.Unpause, cs, ""), applyOptions{})
}

// Kill sends signal ("" for SIGKILL) to the running containers of the
// services; with removeOrphans, containers of services the project no
// longer defines too.
func (e *Engine) Kill(ctx context.Context, p *model.Project, services []string, signal string) error {
	cs, err := e.serviceContainers(ctx, p, services, model.StateRunning, model.StateRestarting, model.StatePaused)
	if err != nil {
		return err
	}
	return e.apply(ctx, p, plan.ForContainers(plan.Kill, cs, signal), applyOptions{})
}
