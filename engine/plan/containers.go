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
