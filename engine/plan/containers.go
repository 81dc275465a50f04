package plan

import "devstack/engine/model"

// ForContainers is a plan of one independent operation of kind on each
// container (pause, unpause, kill, stop, remove): no order between them,
// as Compose runs them. signal is for Kill.
func ForContainers(kind Kind, cs []model.Container, signal string) *Plan {
	p := &Plan{}
	for _, c := range cs {
		o := Op{Kind: kind, Service: c.Service, Name: c.Name, ContainerID: c.ID, Number: c.Number}
		if kind == Kill {
			o.Signal = signal
		}
		p.add(o)
	}
	return p
}

// Without returns the plan less the operations of the given kinds: an
// operation that followed a dropped one follows what the dropped one
// followed instead, so the order that remains is kept.
func (p *Plan) Without(kinds ...Kind) *Plan {
	drop := map[Kind]bool{}
	for _, k := range kinds {
		drop[k] = true
	}
	out := &Plan{}
	newID := make([]int, len(p.Ops)+1)     // old ID -> new ID, 0 if dropped
	inherit := make([][]int, len(p.Ops)+1) // old ID of a dropped op -> new IDs it stood for
	for _, o := range p.Ops {
		var deps []int
		for _, d := range o.Deps {
			if newID[d] != 0 {
				deps = append(deps, newID[d])
			} else {
				deps = append(deps, inherit[d]...)
			}
		}
		if drop[o.Kind] {
			inherit[o.ID] = deps
			continue
		}
		c := *o
		c.Deps = nil
		newID[o.ID] = out.add(c, deps...).ID
	}
	return out
}
