package scratch

import (
	"context"
	"fmt"
	"sort"

	"devstack/engine/event"
	"devstack/engine/model"
)

// suspects is what is known, before any re-run, about which ingredients
// could explain a failure.
type suspects struct {
	builds       bool            // some service is built
	shellVars    []string        // variables only the shell provides
	loadFailed   bool            // the project does not even load without the shell
	envServices  map[string]bool // services whose definition changes with the shell
	dropped      map[string]bool // services whose bind mounts were dropped
	hidden       map[string]bool // ... and whose image lacks files the mount provided
	devVolumes   map[string]bool // services mounting a volume the dev environment has
	devOrder     []string        // the dev start order
	scratchOrder []string        // the order the scratch run used
	drifted      map[string]bool // services whose pulled image the registry has replaced
}

// defaultOrder breaks ties between equally likely ingredients: the
// cheapest to explain and most common first.
var defaultOrder = []string{BuildCache, HostEnv, ImageDrift, BindMount, VolumeState, StartOrder}

// rank returns the ingredients that could explain failure f, most likely
// first. An ingredient that cannot matter is left out, so it costs no
// run: a failed build is never fixed by volumes, bind mounts or the start
// order; the start order only matters for a service that started before
// one the dev order starts ahead of it.
func rank(f *Failure, s suspects) []string {
	score := map[string]int{}
	consider := func(cat string, points int) { score[cat] = points }
	buildPhase := f.Phase == "build" || f.Phase == "pull"
	if s.builds && (buildPhase || f.Phase != "load") {
		p := 0
		if buildPhase {
			p = 3
		}
		consider(BuildCache, p)
	}
	if len(s.shellVars) > 0 || s.loadFailed {
		p := 1
		switch {
		case s.loadFailed || f.Phase == "load":
			p = 4
		case s.envServices[f.Service]:
			p = 2
		case len(s.envServices) == 0 && !s.loadFailed:
			p = -1 // the shell changes nothing the stack is made of
		}
		if p >= 0 {
			consider(HostEnv, p)
		}
	}
	if len(s.drifted) > 0 && f.Phase != "load" {
		// The new image may break its own service, or one that uses it.
		p := 1
		if s.drifted[f.Service] || f.Phase == "pull" {
			p = 3
		}
		consider(ImageDrift, p)
	}
	if f.Phase == "load" || buildPhase {
		return ordered(score)
	}
	if len(s.dropped) > 0 {
		p := 0
		switch {
		case s.hidden[f.Service]:
			p = 3
		case s.dropped[f.Service]:
			p = 1
		}
		consider(BindMount, p)
	}
	if len(s.devVolumes) > 0 {
		p := 0
		if s.devVolumes[f.Service] {
			p = 2
		}
		consider(VolumeState, p)
	}
	if len(orderSuspects(f.Service, s.scratchOrder, s.devOrder)) > 0 {
		consider(StartOrder, 1)
	}
	return ordered(score)
}

func ordered(score map[string]int) []string {
	out := make([]string, 0, len(score))
	for _, cat := range defaultOrder {
		if _, ok := score[cat]; ok {
			out = append(out, cat)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return score[out[i]] > score[out[j]] })
	return out
}

// orderSuspects returns the services that the scratch order starts after
// svc but the dev order starts before it: the ones svc may need without
// declaring it.
func orderSuspects(svc string, scratchOrder, devOrder []string) []string {
	pos := func(order []string) map[string]int {
		m := map[string]int{}
		for i, s := range order {
			m[s] = i
		}
		return m
	}
	sp, dp := pos(scratchOrder), pos(devOrder)
	si, ok1 := sp[svc]
	di, ok2 := dp[svc]
	if !ok1 || !ok2 {
		return nil
	}
	var out []string
	for _, o := range devOrder {
		if o != svc && dp[o] < di && sp[o] > si {
			out = append(out, o)
		}
	}
	return out
}

// progress orders failures by how far the stack got: a later phase, or a
// service later in the start order, means an ingredient fixed something.
func progress(f *Failure, order []string) [2]int {
	phases := map[string]int{"load": 0, "build": 1, "pull": 1, "volumes": 2, "start": 3, "ready": 3, "timeout": 3, "check": 4}
	idx := -1
	for i, s := range order {
		if s == f.Service {
			idx = i
		}
	}
	if f.Phase == "check" && f.Service == "" {
		idx = len(order)
	}
	return [2]int{phases[f.Phase], idx}
}

func further(a, b [2]int) bool { return a[0] > b[0] || (a[0] == b[0] && a[1] > b[1]) }

// found is an ingredient whose return fixed a failure.
type found struct {
	category string
	before   *Failure  // the failure it fixed
	run      *stackRun // the run that put it back
}

// bisect puts ingredients back one at a time, most likely first, until
// the stack passes or every candidate was tried. An ingredient that moves
// the failure further on is kept for the runs after it: it fixed one
// hidden dependency, and another remains.
func (r *rebuild) bisect(ctx context.Context, first *stackRun) ([]event.Finding, error) {
	s := r.suspects(first)
	cur := first.failure
	var kept []found
	in := ingredients{}
	tried := map[string]bool{}
	n := 1
	for n < maxRuns {
		var next string
		for _, cat := range rank(cur, s) {
			if !tried[cat] {
				next = cat
				break
			}
		}
		if next == "" {
			break
		}
		tried[next] = true
		n++
		r.publish("bisecting", fmt.Sprintf("run %d: putting back %s", n, next))
		run := r.stackRunner(ctx, n, in.with(next))
		if run.broken != nil {
			return r.findings(kept, cur, first), fmt.Errorf("the engine failed during run %d: %w", n, run.broken)
		}
		if ctx.Err() != nil {
			return r.findings(kept, cur, first), fmt.Errorf("scratch rebuild interrupted: %w", ctx.Err())
		}
		if run.failure == nil {
			kept = append(kept, found{category: next, before: cur, run: run})
			return r.findings(kept, nil, first), nil
		}
		// Positions are compared in one order, the scratch run's: the
		// same service at another place in another order is no progress.
		if run.failure.key() != cur.key() && further(progress(run.failure, first.stackOrder()), progress(cur, first.stackOrder())) {
			kept = append(kept, found{category: next, before: cur, run: run})
			in = in.with(next)
			cur = run.failure
		}
	}
	return r.findings(kept, cur, first), nil
}

func (run *stackRun) stackOrder() []string {
	if run.stack == nil {
		return nil
	}
	return run.stack.Order
}

// suspects gathers what the scratch run and the two loads tell.
func (r *rebuild) suspects(first *stackRun) suspects {
	s := suspects{shellVars: r.shellVars, loadFailed: r.base == nil,
		envServices: map[string]bool{}, dropped: map[string]bool{}, hidden: map[string]bool{}, devVolumes: map[string]bool{}}
	for _, svc := range r.dev.Services {
		if svc.Build != nil && svc.Replicas > 0 {
			s.builds = true
		}
	}
	if r.base != nil {
		for _, svc := range r.dev.Services {
			b, ok := r.base.Service(svc.Name)
			if !ok || b.ConfigHash != svc.ConfigHash || buildKey(b) != buildKey(&svc) {
				s.envServices[svc.Name] = true
			}
		}
	}
	if first.stack != nil {
		for svc := range first.stack.Dropped {
			s.dropped[svc] = true
		}
		s.scratchOrder = first.stack.Order
	}
	for svc, gaps := range first.gaps {
		for _, g := range gaps {
			if len(g.Missing) > 0 {
				s.hidden[svc] = true
			}
		}
	}
	src := r.base
	if src == nil {
		src = r.dev
	}
	s.drifted = r.driftedServices()
	if order, err := startOrder(src, true, r.devStarted); err == nil {
		s.devOrder = order
	}
	for _, svc := range src.Services {
		for _, m := range svc.Volumes {
			if _, ok := r.devVolumes[m.Source]; ok && m.Type == model.MountVolume {
				s.devVolumes[svc.Name] = true
			}
		}
	}
	return s
}

func buildKey(s *model.Service) string {
	if s.Build == nil {
		return ""
	}
	return s.Build.Key()
}
