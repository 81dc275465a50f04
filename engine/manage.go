package engine

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

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

// RemoveOptions tune Remove.
type RemoveOptions struct {
	Stop    bool // stop running containers first (rm -s); else they are left
	Volumes bool // remove their anonymous volumes too (rm -v)
	Timeout *time.Duration
}

// Removable lists the containers Remove would remove.
func (e *Engine) Removable(ctx context.Context, p *model.Project, services []string, o RemoveOptions) ([]model.Container, error) {
	cs, err := e.serviceContainers(ctx, p, services)
	if err != nil {
		return nil, err
	}
	var out []model.Container
	for _, c := range cs {
		running := c.State == model.StateRunning || c.State == model.StateRestarting || c.State == model.StatePaused
		if running && !o.Stop {
			continue
		}
		out = append(out, c)
	}
	return out, nil
}

// Remove removes the stopped containers of the services (with Stop, the
// running ones after stopping them), as `rm` does.
func (e *Engine) Remove(ctx context.Context, p *model.Project, cs []model.Container, o RemoveOptions) error {
	pl := &plan.Plan{}
	for _, c := range cs {
		var deps []int
		if c.State == model.StateRunning || c.State == model.StateRestarting || c.State == model.StatePaused {
			stop := &plan.Op{ID: len(pl.Ops) + 1, Kind: plan.Stop, Service: c.Service, Name: c.Name, ContainerID: c.ID, Number: c.Number}
			pl.Ops = append(pl.Ops, stop)
			deps = []int{stop.ID}
		}
		pl.Ops = append(pl.Ops, &plan.Op{ID: len(pl.Ops) + 1, Kind: plan.Remove, Service: c.Service, Name: c.Name, ContainerID: c.ID, Number: c.Number, Deps: deps})
	}
	return e.apply(ctx, p, pl, applyOptions{timeout: o.Timeout, removeVolumes: o.Volumes})
}

// Wait blocks until a container of the services (all when none named)
// stops, and returns that first one's exit code, as Compose's `wait`.
func (e *Engine) Wait(ctx context.Context, p *model.Project, services []string) (model.Container, int, error) {
	cs, err := e.serviceContainers(ctx, p, services)
	if err != nil {
		return model.Container{}, 0, err
	}
	if len(cs) == 0 {
		return model.Container{}, 0, fmt.Errorf("no container to wait for: the services have none (create them with up)")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		c    model.Container
		code int
		err  error
	}
	results := make(chan result, len(cs))
	for _, c := range cs {
		go func() {
			code, err := e.rt.WaitContainer(ctx, c.ID)
			results <- result{c, code, err}
		}()
	}
	r := <-results
	return r.c, r.code, r.err
}

// ServiceProcesses is one container's process table.
type ServiceProcesses struct {
	Container model.Container
	model.Processes
}

// Top lists the processes of the services' running containers.
func (e *Engine) Top(ctx context.Context, p *model.Project, services []string) ([]ServiceProcesses, error) {
	cs, err := e.serviceContainers(ctx, p, services, model.StateRunning, model.StatePaused)
	if err != nil {
		return nil, err
	}
	out := make([]ServiceProcesses, len(cs))
	g, gctx := errgroup.WithContext(ctx)
	for i, c := range cs {
		g.Go(func() error {
			ps, err := e.rt.Top(gctx, c.ID)
			out[i] = ServiceProcesses{c, ps}
			return err
		})
	}
	return out, g.Wait()
}

// ContainerImage is the image one container runs.
type ContainerImage struct {
	Container model.Container
	Image     model.Image
}

// Images lists the images of the services' containers (stopped ones
// too), one entry per container, as Compose's `images`.
func (e *Engine) Images(ctx context.Context, p *model.Project, services []string) ([]ContainerImage, error) {
	cs, err := e.serviceContainers(ctx, p, services)
	if err != nil {
		return nil, err
	}
	out := make([]ContainerImage, len(cs))
	g, gctx := errgroup.WithContext(ctx)
	for i, c := range cs {
		g.Go(func() error {
			img, err := e.rt.ImageOf(gctx, c.ImageID, c.Image)
			out[i] = ContainerImage{c, img}
			return err
		})
	}
	return out, g.Wait()
}

// Scale sets the replica count of services and converges only them:
// their dependencies are left alone (Compose's `scale` without deps).
func (e *Engine) Scale(ctx context.Context, p *model.Project, counts map[string]int) error {
	var names []string
	for name, n := range counts {
		svc, ok := p.Service(name)
		if !ok {
			if err := CheckServices(p, []string{name}); err != nil {
				return err
			}
			return fmt.Errorf("service %q is in a profile that is not enabled: enable it with --profile", name)
		}
		if n < 0 {
			return fmt.Errorf("scale %s=%d: a replica count is 0 or more", name, n)
		}
		if svc.ContainerName != "" && n > 1 {
			return fmt.Errorf("service %q sets container_name %q, so it cannot have %d containers: remove container_name to scale it", name, svc.ContainerName, n)
		}
		names = append(names, name)
	}
	sort.Strings(names)
	for i := range p.Services {
		if n, ok := counts[p.Services[i].Name]; ok {
			p.Services[i].Replicas = n
		}
	}
	return e.Up(ctx, p, UpOptions{Services: names, NoDeps: true})
}
