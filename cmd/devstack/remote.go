package main

import (
	"fmt"
	"net"
	"net/url"

	"devstack/engine/model"
)

// remoteBindWarnings says, for an engine on another machine, what each
// bind mount of a host path means there: that path on the engine's
// machine, not on this one. Compose binds it without a word; the files
// the user meant get there with develop.watch instead.
func remoteBindWarnings(p *model.Project, host string) []string {
	if !remoteEngine(host) {
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

// remoteEngine reports whether an engine address is on another machine.
func remoteEngine(host string) bool {
	u, err := url.Parse(host)
	if err != nil {
		return false
	}
	switch u.Scheme {
	case "ssh":
		return true
	case "tcp", "http", "https":
		ip := net.ParseIP(u.Hostname())
		return u.Hostname() != "localhost" && (ip == nil || !ip.IsLoopback())
	}
	return false // unix, npipe: this machine
}

// warnRemoteBinds prints remoteBindWarnings, as the loader's warnings are.
func (g *globals) warnRemoteBinds(s *session) {
	for _, w := range remoteBindWarnings(s.project, s.rt.Host()) {
		fmt.Fprintln(g.stderr, "warning:", w)
	}
}
