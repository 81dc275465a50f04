package plan

import "devstack/engine/model"

// Resources plans creating the networks and volumes the named services
// use that the engine does not hold yet, and nothing else: what a one-off
// `run` container needs when its dependencies are not started (--no-deps).
func Resources(p *model.Project, obs model.Observed, services []string) *Plan {
	selected := map[string]bool{}
	for _, s := range services {
		selected[s] = true
	}
	pl := &Plan{}
	for _, key := range usedNetworks(p, selected) {
		if _, ok := obs.Networks[key]; ok || p.Networks[key].External {
			continue
		}
		pl.add(Op{Kind: CreateNetwork, Name: p.Networks[key].Name})
	}
	for _, key := range usedVolumes(p, selected) {
		if _, ok := obs.Volumes[key]; ok || p.Volumes[key].External {
			continue
		}
		pl.add(Op{Kind: CreateVolume, Name: p.Volumes[key].Name})
	}
	return pl
}
