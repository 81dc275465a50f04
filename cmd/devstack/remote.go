package main

import (
	"fmt"

	"devstack/engine"
	"devstack/engine/docker"
	"devstack/engine/model"
)

// remoteBindWarnings says, for an engine on another machine, what each
// bind mount of a host path means there: that path on the engine's
// machine, not on this one. Compose binds it without a word; the files
// the user meant get there with develop.watch instead.
func remoteBindWarnings(p *model.Project, host string) []string {
	if !docker.RemoteHost(host) {
		return nil
	}
	var out []string
	for _, svc := range p.Services {
		for _, m := range svc.Volumes {
			if m.Type == "bind" {
				out = append(out, fmt.Sprintf("service %s: volumes: %s is bound from that path on the engine's machine (%s), not from this one: "+
					"sync it with develop.watch (devstack copies it into the container), or keep the files on that machine", svc.Name, m.Source, host))
			}
		}
	}
	return out
}

// warnRemoteBinds prints remoteBindWarnings, as the loader's warnings are.
func (g *globals) warnRemoteBinds(s *session) {
	for _, w := range remoteBindWarnings(s.project, s.rt.Host()) {
		fmt.Fprintln(g.stderr, "warning:", w)
	}
}

// isRemote reports whether a runtime's engine is on another machine.
func isRemote(rt engine.Runtime) bool {
	r, ok := rt.(interface{ Remote() bool })
	return ok && r.Remote()
}
