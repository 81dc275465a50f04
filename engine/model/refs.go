package model

import (
	"sort"
	"strings"
)

// This file is the one reading of the fields that name another service's
// container (network_mode, ipc and pid of service:NAME, volumes_from,
// links) and the one choice of which container such a name means. The
// loader hashes the service with them, the planner orders containers by
// them and the runtime resolves them at create: were the three to read
// them differently, the hash written at create would not be the one
// planned and every up would recreate the container.

// ServiceRef is the service a network_mode, ipc or pid of service:NAME
// names; false for any other mode.
func ServiceRef(mode string) (string, bool) {
	return strings.CutPrefix(mode, "service:")
}

// VolumesFromRef is one volumes_from entry: SERVICE[:MODE] or
// container:NAME[:MODE], read as Compose reads it.
type VolumesFromRef struct {
	Service   string // the service whose first container is meant; "" for a container
	Container string // the container named by container:NAME; "" for a service
	Mode      string // what follows the name: "ro", "rw", or "" for the engine's default
}

// ParseVolumesFrom reads one volumes_from entry.
func ParseVolumesFrom(v string) VolumesFromRef {
	var r VolumesFromRef
	if name, ok := strings.CutPrefix(v, "container:"); ok {
		r.Container, r.Mode, _ = strings.Cut(name, ":")
	} else {
		r.Service, r.Mode, _ = strings.Cut(v, ":")
	}
	return r
}

// Engine is the entry as the engine takes it, with source (the
// container's name or ID) for the service or container named.
func (r VolumesFromRef) Engine(source string) string {
	if r.Mode == "" {
		return source
	}
	return source + ":" + r.Mode
}

// ParseLink reads one links entry, SERVICE[:ALIAS]: the alias is the
// service's name when none is given.
func ParseLink(l string) (service, alias string) {
	service, alias, _ = strings.Cut(l, ":")
	if alias == "" {
		alias = service
	}
	return service, alias
}

// ServiceContainers returns the containers of service among cs, one-off
// containers left out, sorted by name: the first is the one a reference
// to the service means, as Compose picks it.
func ServiceContainers(cs []Container, service string) []Container {
	var out []Container
	for _, c := range cs {
		if c.Service == service && !c.OneOff {
			out = append(out, c)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
