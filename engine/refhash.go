package engine

import "devstack/engine/model"

// withRefHashes returns the project with the config hash of each service
// made with another's container (network_mode, ipc, pid, volumes_from)
// finished with the ID of that container as observed, which is what
// Compose hashes and what the runtime writes at create; a service whose
// containers are not all there yet keeps the loader's hash (its
// containers are made anew anyway). p is not changed.
func withRefHashes(p *model.Project, obs model.Observed) *model.Project {
	var cp *model.Project
	for i, svc := range p.Services {
		if svc.RefHashTemplate == "" {
			continue
		}
		ids := map[string]string{}
		for _, ref := range svc.ContainerRefs() {
			if cs := model.ServiceContainers(obs.Containers, ref); len(cs) > 0 {
				ids[ref] = cs[0].ID
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
