package plan

import (
	"maps"
	"slices"
	"sort"

	"devstack/engine/graph"
	"devstack/engine/model"
)

// DownOptions tune a down plan.
type DownOptions struct {
	Volumes       bool // remove named volumes and anonymous ones
	RemoveOrphans bool
}

// Down plans removing the project: containers stop dependents first, then
// go; networks and (with Volumes) volumes go once no container is left.
// One-off `run` containers go too. Orphans are only removed when asked.
func Down(p *model.Project, obs model.Observed, o DownOptions) (*Plan, error) {
	g, err := graph.New(p)
	if err != nil {
		return nil, err
	}
	pl := &Plan{}
	known := map[string]bool{}
	for _, s := range p.Services {
		known[s.Name] = true
	}
	for _, s := range p.Disabled {
		known[s] = true
	}
	var targets, kept []model.Container
	for _, c := range obs.Containers {
		if known[c.Service] || c.OneOff || o.RemoveOrphans {
			targets = append(targets, c)
		} else {
			kept = append(kept, c)
			pl.add(Op{Kind: Orphan, Service: c.Service, Name: c.Name, ContainerID: c.ID, Number: c.Number})
		}
	}
	removes := stopAndRemove(pl, g, targets, true, "")

	for _, key := range slices.Sorted(maps.Keys(obs.Networks)) {
		if n, ok := p.Networks[key]; ok && n.External {
			continue
		}
		pl.add(Op{Kind: RemoveNetwork, Name: obs.Networks[key]}, ids(removes)...)
	}
	if o.Volumes {
		for _, key := range slices.Sorted(maps.Keys(obs.Volumes)) {
			v, ok := p.Volumes[key]
			if ok && v.External {
				continue
			}
			pl.add(Op{Kind: RemoveVolume, Name: obs.Volumes[key]}, ids(removes)...)
		}
		// Anonymous volumes a removed container mounted as its own go
		// with it; those a replacement took over from the container it
		// replaced (the engine then counts them as named), and those
		// recreations with fresh ones left behind, go here. A container
		// that stays (an orphan) keeps its own.
		inUse := map[string]bool{}
		for _, c := range kept {
			for _, v := range c.Volumes {
				inUse[v] = true
			}
		}
		for _, name := range slices.Sorted(slices.Values(obs.AnonymousVolumes)) {
			if !inUse[name] {
				pl.add(Op{Kind: RemoveVolume, Name: name}, ids(removes)...)
			}
		}
	}
	return pl, nil
}

// StopServices plans stopping the selected services' running containers,
// dependents before their dependencies.
func StopServices(p *model.Project, obs model.Observed, services []string) (*Plan, error) {
	g, err := graph.New(p)
	if err != nil {
		return nil, err
	}
	want := map[string]bool{}
	for _, s := range services {
		want[s] = true
	}
	var targets []model.Container
	for _, c := range obs.Containers {
		if c.OneOff || (len(want) > 0 && !want[c.Service]) {
			continue
		}
		if c.State == model.StateRunning || c.State == model.StateRestarting || c.State == model.StatePaused {
			targets = append(targets, c)
		}
	}
	pl := &Plan{}
	stopAndRemove(pl, g, targets, false, "")
	return pl, nil
}

// stopAndRemove adds a stop (for running containers) and, if remove is
// set, a remove per container. A service's stops wait for the stops of
// every service that depends on it. It returns the last op of each
// container.
func stopAndRemove(pl *Plan, g *graph.Graph, targets []model.Container, remove bool, reason string) []*Op {
	byService := map[string][]model.Container{}
	for _, c := range targets {
		byService[c.Service] = append(byService[c.Service], c)
	}
	stopped := map[string][]*Op{} // service -> its stop ops
	var last []*Op
	// Reverse dependency order: dependents first. Services unknown to the
	// graph (orphans, one-offs of removed services) have no edges.
	order := g.Order()
	inGraph := map[string]bool{}
	for _, s := range order {
		inGraph[s] = true
	}
	var extra []string
	for s := range byService {
		if !inGraph[s] {
			extra = append(extra, s)
		}
	}
	sort.Strings(extra)
	order = append(extra, order...)
	for i := len(order) - 1; i >= 0; i-- {
		svc := order[i]
		cs := byService[svc]
		sort.Slice(cs, func(a, b int) bool {
			if cs[a].OneOff != cs[b].OneOff {
				return cs[a].OneOff
			}
			return cs[a].Number < cs[b].Number
		})
		var after []*Op
		for _, d := range g.Dependents(svc) {
			after = append(after, stopped[d]...)
		}
		for _, c := range cs {
			var stop *Op
			if c.State == model.StateRunning || c.State == model.StateRestarting || c.State == model.StatePaused {
				stop = pl.add(Op{Kind: Stop, Service: svc, Name: c.Name, ContainerID: c.ID, Number: c.Number, Reason: reason}, ids(after)...)
				stopped[svc] = append(stopped[svc], stop)
			}
			if !remove {
				continue
			}
			deps := ids(after)
			if stop != nil {
				deps = []int{stop.ID}
			}
			last = append(last, pl.add(Op{Kind: Remove, Service: svc, Name: c.Name, ContainerID: c.ID, Number: c.Number, Reason: reason}, deps...))
		}
	}
	return last
}
