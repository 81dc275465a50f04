package scratch

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"devstack/engine/graph"
	"devstack/engine/model"
)

// StackOptions say how to turn a dev project into one scratch stack.
type StackOptions struct {
	Name     string // the scratch project's name, e.g. "shop-scratch-3fa2c1"
	ImageTag string // tag of the images it builds, e.g. "3fa2c1-1"
	// KeepBinds puts the dev bind mounts back (read-only, so the scratch
	// stack cannot change the developer's files); without it only the
	// KeepMounts survive.
	KeepBinds  bool
	KeepMounts []string // absolute host paths whose bind mounts always stay
	// DevOrder starts the services one at a time in the dev order instead
	// of the adversarial one.
	DevOrder bool
	// DevStarted is when each service's dev container last started, as
	// the engine says (the earliest of its replicas): the real dev start
	// order, whatever brought it about (up, or services started by hand).
	// Empty: no dev environment runs, and the dependency order stands in.
	DevStarted map[string]time.Time
	// Pinned replaces services' image tags with the references a fresh
	// machine would pull now (repo@digest): the developer's tags never
	// move. Nil: the dev images (the image-drift ingredient put back).
	Pinned map[string]string
	// parallel leaves the start order to the declared dependencies, as
	// a plain up does (the overhead baseline).
	parallel bool
}

// Stack is a scratch project made from a dev project, with what the
// transformation took away (the evidence later findings cite).
type Stack struct {
	Project *model.Project
	// Images are the tags the stack builds, to remove afterwards.
	Images []string
	// Dropped are the bind mounts left out, per service.
	Dropped map[string][]model.Mount
	// Order is the order the services start in, one at a time.
	Order []string
}

// NewStack returns a scratch copy of dev: its own name, networks and
// volumes (empty ones), published ports moved to ports the engine picks,
// its own image tags for everything it builds, no bind mounts of host
// paths except the kept ones, and artificial depends_on edges that start
// the services strictly one at a time. dev itself is never changed.
func NewStack(dev *model.Project, o StackOptions) (*Stack, error) {
	p, err := copyProject(dev)
	if err != nil {
		return nil, err
	}
	p.Name = o.Name
	st := &Stack{Project: p, Dropped: map[string][]model.Mount{}}

	// Networks and volumes get names of their own. External ones become
	// the scratch project's too: sharing them would let the scratch stack
	// see (or change) the dev environment.
	for key, n := range p.Networks {
		n.Name = o.Name + "_" + key
		n.External = false
		// The dev network holds its subnet: the same one again would
		// overlap it. The engine picks one (and static addresses go).
		n.Subnets = nil
		p.Networks[key] = n
	}
	for key, v := range p.Volumes {
		v.Name = o.Name + "_" + key
		v.External = false
		p.Volumes[key] = v
	}

	images := scratchImages(dev, o)
	seen := map[string]bool{}
	for i := range p.Services {
		svc := &p.Services[i]
		if tag, ok := images[svc.Name]; ok {
			svc.Image = tag
			if svc.Build != nil && !seen[tag] {
				seen[tag] = true
				st.Images = append(st.Images, tag)
			}
		}
		if svc.Build != nil {
			// Extra tags would retag the developer's images.
			svc.Build.Tags = nil
		}
		if ref, ok := o.Pinned[svc.Name]; ok {
			svc.Image = ref
		}
		svc.ContainerName = "" // the dev container has that name
		for k, sn := range svc.Networks {
			sn.IPv4Address = ""
			svc.Networks[k] = sn
		}
		for j := range svc.Ports {
			svc.Ports[j].Published = "" // the engine picks a free port
		}
		svc.Volumes, st.Dropped[svc.Name] = scratchMounts(svc.Volumes, o)
		if len(st.Dropped[svc.Name]) == 0 {
			delete(st.Dropped, svc.Name)
		}
	}
	sort.Strings(st.Images)

	order, err := startOrder(p, o.DevOrder, o.DevStarted)
	if err != nil {
		return nil, err
	}
	st.Order = order
	if !o.parallel {
		chain(p, order)
	}
	for i := range p.Services {
		p.Services[i].ConfigHash = model.Hash(p.Services[i])
	}
	return st, nil
}

// copyProject deep-copies a project. Every model type is plain exported
// data, so a JSON round trip copies all of it, pointers and maps included.
func copyProject(p *model.Project) (*model.Project, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("unable to copy project %s: %w", p.Name, err)
	}
	var out model.Project
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("unable to copy project %s: %w", p.Name, err)
	}
	if out.Networks == nil {
		out.Networks = map[string]model.Network{}
	}
	if out.Volumes == nil {
		out.Volumes = map[string]model.Volume{}
	}
	return &out, nil
}

// scratchImages maps each service that runs a built image to the scratch
// tag it runs instead. Services sharing a build share the tag (and the
// build); a service without a build whose image another service builds
// runs that build's scratch image.
func scratchImages(dev *model.Project, o StackOptions) map[string]string {
	byKey := map[string]string{}   // build key -> tag
	byImage := map[string]string{} // dev image reference -> tag
	out := map[string]string{}
	for _, svc := range dev.Services { // sorted by name: the first service names the tag
		if svc.Build == nil {
			continue
		}
		b := *svc.Build
		b.Tags = nil
		key := b.Key()
		tag, ok := byKey[key]
		if !ok {
			tag = fmt.Sprintf("devstack-scratch/%s-%s:%s", refPart(dev.Name), refPart(svc.Name), o.ImageTag)
			byKey[key] = tag
		}
		out[svc.Name] = tag
		if svc.Image != "" {
			byImage[svc.Image] = tag
		}
	}
	for _, svc := range dev.Services {
		if tag, ok := byImage[svc.Image]; ok && svc.Build == nil {
			out[svc.Name] = tag
		}
	}
	return out
}

// refPart makes s usable in an image repository name.
func refPart(s string) string {
	s = strings.ToLower(s)
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	return strings.Trim(b.String(), "-_.")
}

// scratchMounts keeps volumes and tmpfs, drops bind mounts of host paths
// (unless kept), and returns what it dropped.
func scratchMounts(in []model.Mount, o StackOptions) (kept, dropped []model.Mount) {
	for _, m := range in {
		if m.Type != model.MountBind {
			kept = append(kept, m)
			continue
		}
		switch {
		case underAny(m.Source, o.KeepMounts):
			kept = append(kept, m)
		case o.KeepBinds:
			m.ReadOnly = true
			kept = append(kept, m)
		default:
			dropped = append(dropped, m)
		}
	}
	return kept, dropped
}

func underAny(path string, roots []string) bool {
	path = filepath.Clean(path)
	for _, r := range roots {
		r = filepath.Clean(r)
		if path == r || strings.HasPrefix(path, r+string(filepath.Separator)) {
			return true
		}
	}
	return false
}

// startOrder returns the order the scratch stack starts its services in.
//
// The dev order is the dependency graph's order with ties broken by name
// (graph.Order): what a developer's stack, started over and over, has come
// to rely on. The adversarial order respects every declared dependency
// but, among services free to start, picks the one the dev order starts
// last: a service that only works because another happened to start
// first now starts before it.
func startOrder(p *model.Project, dev bool, started map[string]time.Time) ([]string, error) {
	g, err := graph.New(p)
	if err != nil {
		return nil, err
	}
	base := active(p, g.Order())
	devOrder := base
	if len(started) > 0 {
		// The real order: by start time; services not running in the dev
		// environment after those that are, in dependency order. Starts
		// closer than concurrentStarts are one wave (one up started them
		// together): within it the dependency order stands, so that the
		// adversarial order still reverses it. Declared dependencies come
		// first whatever the times said (the dev order is replayed with
		// them in force).
		graphPos := map[string]int{}
		for i, s := range base {
			graphPos[s] = i
		}
		var timed []string
		for _, s := range base {
			if _, ok := started[s]; ok {
				timed = append(timed, s)
			}
		}
		sort.SliceStable(timed, func(i, j int) bool { return started[timed[i]].Before(started[timed[j]]) })
		wave := map[string]int{}
		w, waveStart := 0, time.Time{}
		for i, s := range timed {
			if i > 0 && started[s].Sub(waveStart) > concurrentStarts {
				w++
			}
			if i == 0 || wave[timed[i-1]] != w {
				waveStart = started[s]
			}
			wave[s] = w
		}
		for _, s := range base {
			if _, ok := started[s]; !ok {
				wave[s] = w + 1
			}
		}
		devOrder = topo(g, base, func(a, b string) bool {
			if wave[a] != wave[b] {
				return wave[a] < wave[b]
			}
			return graphPos[a] < graphPos[b]
		})
	}
	if dev {
		return devOrder, nil
	}
	rank := map[string]int{}
	for i, s := range devOrder {
		rank[s] = i
	}
	return topo(g, devOrder, func(a, b string) bool { return rank[a] > rank[b] }), nil
}

// concurrentStarts is how close two dev containers' starts must be to
// count as one start (a parallel up, or a machine under load): a
// developer starting services by hand takes longer between them.
const concurrentStarts = 2 * time.Second

// topo orders names so that each comes after its declared dependencies,
// picking among those free to start the first by less.
func topo(g *graph.Graph, names []string, less func(a, b string) bool) []string {
	in := map[string]bool{}
	for _, s := range names {
		in[s] = true
	}
	indeg := map[string]int{}
	for _, s := range names {
		for _, d := range g.Dependencies(s) {
			if in[d] {
				indeg[s]++
			}
		}
	}
	var ready, out []string
	for _, s := range names {
		if indeg[s] == 0 {
			ready = append(ready, s)
		}
	}
	for len(ready) > 0 {
		sort.Slice(ready, func(i, j int) bool { return less(ready[i], ready[j]) })
		s := ready[0]
		ready = ready[1:]
		out = append(out, s)
		for _, d := range g.Dependents(s) {
			if !in[d] {
				continue
			}
			indeg[d]--
			if indeg[d] == 0 {
				ready = append(ready, d)
			}
		}
	}
	return out
}

// active drops services scaled to zero: they never start.
func active(p *model.Project, names []string) []string {
	var out []string
	for _, n := range names {
		if s, ok := p.Service(n); ok && s.Replicas > 0 {
			out = append(out, n)
		}
	}
	return out
}

// chain makes each service in order depend on the one before it, so the
// engine starts them strictly one at a time: a service with a healthcheck
// must be healthy before the next starts, others only started. Declared
// dependencies stay as they are.
func chain(p *model.Project, order []string) {
	for i := 1; i < len(order); i++ {
		svc, _ := p.Service(order[i])
		prev, _ := p.Service(order[i-1])
		if _, declared := svc.DependsOn[prev.Name]; declared {
			continue
		}
		cond := model.ConditionStarted
		if prev.Healthcheck != nil && !prev.Healthcheck.Disable && len(prev.Healthcheck.Test) > 0 && prev.Healthcheck.Test[0] != "NONE" {
			cond = model.ConditionHealthy
		}
		if svc.DependsOn == nil {
			svc.DependsOn = map[string]model.Dependency{}
		}
		svc.DependsOn[prev.Name] = model.Dependency{Condition: cond, Required: true}
	}
}
