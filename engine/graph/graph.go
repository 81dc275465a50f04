// Package graph is the services' dependency graph: which service waits for
// which, in what order they start and stop, and the cycles that make a
// project impossible. Building it never changes the project it reads.
package graph

import (
	"fmt"
	"sort"
	"strings"

	"devstack/engine/model"
)

// Graph holds the depends_on edges between a project's services.
type Graph struct {
	deps       map[string][]string // service -> services it depends on (sorted)
	dependents map[string][]string // service -> services that depend on it (sorted)
	names      []string            // all services, sorted
}

// CycleError reports a dependency cycle with its path.
type CycleError struct{ Path []string }

func (e *CycleError) Error() string {
	return fmt.Sprintf("dependency cycle between services: %s (break it by removing one depends_on entry)", strings.Join(e.Path, " -> "))
}

// MissingError reports a depends_on entry naming a service that does not exist.
type MissingError struct{ Service, Dependency string }

func (e *MissingError) Error() string {
	return fmt.Sprintf("service %q depends on undefined service %q: define it, enable its profile, or remove it from depends_on", e.Service, e.Dependency)
}

// New builds the graph of p's services. A required dependency on a
// service that is not in the project is an error; an optional one
// (required: false) is dropped, as compose does.
func New(p *model.Project) (*Graph, error) {
	g := &Graph{deps: map[string][]string{}, dependents: map[string][]string{}}
	for _, s := range p.Services {
		g.names = append(g.names, s.Name)
		g.deps[s.Name] = nil
	}
	sort.Strings(g.names)
	for _, s := range p.Services {
		for dep, d := range s.DependsOn {
			if _, ok := g.deps[dep]; !ok {
				if !d.Required {
					continue
				}
				return nil, &MissingError{Service: s.Name, Dependency: dep}
			}
			g.deps[s.Name] = append(g.deps[s.Name], dep)
			g.dependents[dep] = append(g.dependents[dep], s.Name)
		}
	}
	for _, m := range []map[string][]string{g.deps, g.dependents} {
		for _, v := range m {
			sort.Strings(v)
		}
	}
	if path := g.findCycle(); path != nil {
		return nil, &CycleError{Path: path}
	}
	return g, nil
}

// Services returns every service, sorted by name.
func (g *Graph) Services() []string { return append([]string(nil), g.names...) }

// Dependencies returns the services s depends on directly.
func (g *Graph) Dependencies(s string) []string { return g.deps[s] }

// Dependents returns the services that depend on s directly.
func (g *Graph) Dependents(s string) []string { return g.dependents[s] }

// Closure returns names plus everything they depend on, transitively,
// sorted. Unknown names are returned as they are, for the caller to report.
func (g *Graph) Closure(names []string) []string {
	seen := map[string]bool{}
	var visit func(string)
	visit = func(n string) {
		if seen[n] {
			return
		}
		seen[n] = true
		for _, d := range g.deps[n] {
			visit(d)
		}
	}
	for _, n := range names {
		visit(n)
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Order returns the services in an order where each comes after its
// dependencies; ties are broken by name so the order is stable.
func (g *Graph) Order() []string {
	indeg := map[string]int{}
	for _, n := range g.names {
		indeg[n] = len(g.deps[n])
	}
	var ready, out []string
	for _, n := range g.names {
		if indeg[n] == 0 {
			ready = append(ready, n)
		}
	}
	for len(ready) > 0 {
		sort.Strings(ready)
		n := ready[0]
		ready = ready[1:]
		out = append(out, n)
		for _, d := range g.dependents[n] {
			indeg[d]--
			if indeg[d] == 0 {
				ready = append(ready, d)
			}
		}
	}
	return out
}

// findCycle returns one cycle as a path that starts and ends with the same
// service, or nil.
func (g *Graph) findCycle() []string {
	const (
		unvisited = iota
		onStack
		done
	)
	state := map[string]int{}
	var stack []string
	var found []string
	var visit func(string) bool
	visit = func(n string) bool {
		state[n] = onStack
		stack = append(stack, n)
		for _, d := range g.deps[n] {
			switch state[d] {
			case onStack:
				for i, s := range stack {
					if s == d {
						found = append(append([]string(nil), stack[i:]...), d)
						return true
					}
				}
			case unvisited:
				if visit(d) {
					return true
				}
			}
		}
		stack = stack[:len(stack)-1]
		state[n] = done
		return false
	}
	for _, n := range g.names {
		if state[n] == unvisited && visit(n) {
			return found
		}
	}
	return nil
}
