package engine

import "devstack/engine/model"

// withRefHashes returns the project with the config hash of each service
// made with another's container (network_mode, ipc, pid, volumes_from)
// finished with the ID of that container as observed, which is what
// Compose hashes and what the runtime writes at create; a service whose
// containers are not all there yet keeps the loader's hash (its
// containers are made anew anyway). p is not changed.
func withRefHashes(p *model.Project, obs model.Observed) *model.Project {
	first := map[string]model.Container{} // service -> its container of the lowest name, as Compose picks
	for _, c := range obs.Containers {
		if c.OneOff {
			continue
		}
		if f, ok := first[c.Service]; !ok || c.Name < f.Name {
			first[c.Service] = c
		}
	}
	var cp *model.Project
	for i, svc := range p.Services {
		if svc.RefHashTemplate == "" {
			continue
		}
		ids := map[string]string{}
		for _, ref := range svc.ContainerRefs() {
			if c, ok := first[ref]; ok {
				ids[ref] = c.ID
			}
		}
		h, ok := svc.RefHash(ids)
		if !ok || h == svc.ConfigHash {
			continue
		}
		if cp == nil {
			c := *p
			c.Services = append([]model.Service(nil), p.Services...)
			cp = &c
		}
		cp.Services[i].ConfigHash = h
	}
	if cp == nil {
		return p
	}
	return cp
}
