package plan

import (
	"maps"
	"slices"
	"sort"
	"strings"

	"devstack/engine/graph"
	"devstack/engine/model"
)

// DownOptions tune a down plan.
type DownOptions struct {
	Volumes       bool // remove named volumes and anonymous ones
	RemoveOrphans bool
	// Services, when set, limits the down to these services and those
	// that depend on them, as Compose's `down SERVICE...`: the others'
	// containers stay, and so do the networks and volumes they use.
	Services []string
	// Images is Compose's --rmi: "" removes none, RmiLocal the images
	// built for a service that names no image of its own, RmiAll every
	// image the (selected) services use.
	Images string
}

// The values of DownOptions.Images.
const (
	RmiLocal = "local"
	RmiAll   = "all"
)

// Down plans removing the project: containers stop dependents first, then
// go; networks and (with Volumes) volumes go once no container is left
// on them. One-off `run` containers go too. Orphans are only removed when
// asked.
func Down(p *model.Project, obs model.Observed, o DownOptions) (*Plan, error) {
	g, err := graph.New(p)
	if err != nil {
		return nil, err
	}
	var selected map[string]bool
	if len(o.Services) > 0 {
		selected = withDependents(g, o.Services)
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
		switch {
		case selected != nil && !selected[c.Service]:
			kept = append(kept, c)
		case known[c.Service] || c.OneOff || o.RemoveOrphans:
			targets = append(targets, c)
		default:
			kept = append(kept, c)
			pl.add(Op{Kind: Orphan, Service: c.Service, Name: c.Name, ContainerID: c.ID, Number: c.Number})
		}
	}
	removes := stopAndRemove(pl, g, targets, true, "")

	// What a container that stays still uses stays too (Compose leaves a
	// network "still in use" and a volume the engine refuses).
	netInUse, volInUse := map[string]bool{}, map[string]bool{}
	for _, c := range kept {
		for _, n := range c.Networks {
			netInUse[n] = true
		}
		for _, v := range c.Volumes {
			volInUse[v] = true
		}
	}
	for _, key := range slices.Sorted(maps.Keys(obs.Networks)) {
		if n, ok := p.Networks[key]; (ok && n.External) || netInUse[obs.Networks[key]] {
			continue
		}
		pl.add(Op{Kind: RemoveNetwork, Name: obs.Networks[key]}, ids(removes)...)
	}
	if o.Volumes {
		for _, key := range slices.Sorted(maps.Keys(obs.Volumes)) {
			v, ok := p.Volumes[key]
			if (ok && v.External) || volInUse[obs.Volumes[key]] {
				continue
			}
			pl.add(Op{Kind: RemoveVolume, Name: obs.Volumes[key]}, ids(removes)...)
		}
		// Anonymous volumes a removed container mounted as its own go
		// with it; those a replacement took over from the container it
		// replaced (the engine then counts them as named), and those
		// recreations with fresh ones left behind, go here. A container
		// that stays (an orphan) keeps its own.
		for _, name := range slices.Sorted(slices.Values(obs.AnonymousVolumes)) {
			if !volInUse[name] {
				pl.add(Op{Kind: RemoveVolume, Name: name}, ids(removes)...)
			}
		}
	}
	if o.Images != "" {
		for _, ref := range imagesToRemove(p, selected, o.Images) {
			pl.add(Op{Kind: RemoveImage, Name: ref}, ids(removes)...)
		}
	}
	return pl, nil
}

// withDependents is the named services and every service that depends on
// one of them, directly or not: a service cannot stay without what it
// depends on (Compose's WithRootNodesAndDown).
func withDependents(g *graph.Graph, names []string) map[string]bool {
	out := map[string]bool{}
	var visit func(string)
	visit = func(n string) {
		if out[n] {
			return
		}
		out[n] = true
		for _, d := range g.Dependents(n) {
			visit(d)
		}
	}
	for _, n := range names {
		visit(n)
	}
	return out
}

// imagesToRemove lists, sorted and once each, the images `down --rmi`
// removes: with RmiLocal those devstack (or Compose) built under the
// default name PROJECT-SERVICE, since an image named in the file may be
// the user's own; with RmiAll every image the services use. selected,
// when not nil, limits it to those services.
func imagesToRemove(p *model.Project, selected map[string]bool, mode string) []string {
	seen := map[string]bool{}
	for _, s := range p.Services {
		if selected != nil && !selected[s.Name] || s.Image == "" {
			continue
		}
		if mode == RmiLocal && (s.Build == nil || s.Image != DefaultImage(p, s.Name)) {
			continue
		}
		seen[s.Image] = true
	}
	return slices.Sorted(maps.Keys(seen))
}

// DefaultImage is the name Compose gives the image of a service with a
// build: section and no image: of its own.
func DefaultImage(p *model.Project, service string) string {
	return strings.ToLower(p.Name + "-" + service)
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
