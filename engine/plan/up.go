package plan

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"devstack/engine/graph"
	"devstack/engine/model"
	"devstack/engine/ready"
)

// UpOptions tune an up plan.
type UpOptions struct {
	Services      []string // the services asked for; nil means all (dependencies are added)
	ForceRecreate bool
	NoRecreate    bool
	StartOnly     bool // `start`: start what exists, create nothing
	NoDeps        bool // only the services asked for, not their dependencies
	NoStart       bool // create (and recreate) without starting: `create`, up --no-start
	// AlwaysRecreateDeps recreates the containers of the services the
	// named ones depend on, changed or not (up --always-recreate-deps).
	AlwaysRecreateDeps bool
	Wait               bool // end with waits for every service (running/healthy/completed)
	RemoveOrphans      bool
	// RenewAnonVolumes gives recreated containers fresh anonymous volumes
	// instead of the ones of the containers they replace.
	RenewAnonVolumes bool
}

// ContainerName is the engine name of replica n of svc: compose v2's
// <project>-<service>-<n>, or the service's container_name.
func ContainerName(p *model.Project, svc *model.Service, n int) string {
	if svc.ContainerName != "" {
		return svc.ContainerName
	}
	return fmt.Sprintf("%s-%s-%d", p.Name, svc.Name, n)
}

// Images plans the builds and pulls an up needs: builds for services with
// a build section whose image is missing (or all of them when build is set),
// pulls for images that are missing and may be pulled. Services sharing one
// build are built once; the op's Name is the image and Service the first
// service, and the other services' images are tagged by the same build.
func Images(p *model.Project, obs model.Observed, services []string, build, noBuild bool) (*Plan, error) {
	g, err := graph.New(p)
	if err != nil {
		return nil, err
	}
	selected, err := selectServices(p, g, services)
	if err != nil {
		return nil, err
	}
	pl := &Plan{}
	builds := map[string]*Op{}
	for _, name := range g.Order() {
		if !selected[name] {
			continue
		}
		svc, _ := p.Service(name)
		_, present := obs.Images[svc.Image]
		switch {
		case svc.Build != nil:
			if noBuild || (present && !build && svc.PullPolicy != "build") {
				continue
			}
			reason := "image missing"
			if present {
				reason = "--build"
			}
			addBuild(pl, builds, svc, reason)
		case svc.PullPolicy == "always":
			pl.add(Op{Kind: Pull, Service: name, Name: svc.Image, Reason: "pull_policy: always"})
		case !present && svc.PullPolicy != "never":
			pl.add(Op{Kind: Pull, Service: name, Name: svc.Image, Reason: "image missing"})
		case !present:
			return nil, fmt.Errorf("service %q: image %q is not present and pull_policy is never: build or load it first", name, svc.Image)
		}
	}
	orderContextBuilds(pl, p)
	return pl, nil
}

// Builds plans building the named services' images (every service with
// a build section when none is named) and nothing else: neither their
// dependencies' images nor pulls, as `build` does.
func Builds(p *model.Project, services []string) *Plan {
	pl := &Plan{}
	builds := map[string]*Op{}
	for _, svc := range p.Services {
		if svc.Build == nil || (len(services) > 0 && !slices.Contains(services, svc.Name)) {
			continue
		}
		addBuild(pl, builds, &svc, "build")
	}
	orderContextBuilds(pl, p)
	return pl
}

// orderContextBuilds makes a build whose additional_contexts name another
// service's image (service:NAME) wait for that image's build when the plan
// builds it too: otherwise both would run at once and the first would use
// whatever image the tag pointed at before (or none). An edge that would
// close a cycle is left out; the builder then reports the missing image.
func orderContextBuilds(pl *Plan, p *model.Project) {
	byImage := map[string]*Op{}
	for _, o := range pl.Ops {
		if o.Kind != Build {
			continue
		}
		byImage[o.Name] = o
		for _, img := range SharedImages(o) {
			byImage[img] = o
		}
	}
	for _, o := range pl.Ops {
		if o.Kind != Build {
			continue
		}
		svc, ok := p.Service(o.Service)
		if !ok || svc.Build == nil {
			continue
		}
		for _, src := range svc.Build.AdditionalContexts {
			name, isService := strings.CutPrefix(src, "service:")
			if !isService {
				continue
			}
			other, ok := p.Service(name)
			if !ok {
				continue
			}
			dep := byImage[other.Image]
			if dep == nil || dep == o || slices.Contains(o.Deps, dep.ID) || pl.reaches(dep, o.ID) {
				continue
			}
			o.Deps = append(o.Deps, dep.ID)
			slices.Sort(o.Deps)
		}
	}
}

// reaches reports whether op from waits, directly or not, for the op with
// ID to.
func (p *Plan) reaches(from *Op, to int) bool {
	seen := map[int]bool{}
	var walk func(o *Op) bool
	walk = func(o *Op) bool {
		for _, d := range o.Deps {
			if d == to {
				return true
			}
			if !seen[d] {
				seen[d] = true
				if walk(p.Ops[d-1]) {
					return true
				}
			}
		}
		return false
	}
	return walk(from)
}

// addBuild adds svc's build, or tags svc's image by the same build when
// another service shares it (see SharedImages).
func addBuild(pl *Plan, builds map[string]*Op, svc *model.Service, reason string) {
	key := svc.Build.Key()
	if op, ok := builds[key]; ok {
		if op.Name != svc.Image && !strings.Contains(op.Reason, svc.Image) {
			op.Reason = strings.TrimPrefix(op.Reason+", also "+svc.Image, ", ")
		}
		return
	}
	builds[key] = pl.add(Op{Kind: Build, Service: svc.Name, Name: svc.Image, Reason: reason})
}

// SharedImages returns the extra image tags a Build op produces (see Images).
func SharedImages(o *Op) []string {
	const also = "also "
	i := strings.Index(o.Reason, also)
	if i < 0 {
		return nil
	}
	return strings.Split(o.Reason[i+len(also):], ", also ")
}

// readiness records, per service, the ops after which each dependency
// condition is met, and whether anything about the service changed.
type readiness struct {
	started   []*Op // ops after which every replica runs (nil: already running)
	created   []*Op // ops after which every new replica exists under its name
	replaced  bool  // a replica is a new container (created or recreated)
	healthy   []*Op
	completed []*Op
	changed   bool              // a replica was created, recreated or started
	kept      map[string]string // container name -> ID of replicas kept as they are
	settled   map[string]bool   // container name -> kept and already running (healthy where checked): no wait
}

// Up plans bringing p to its desired state given what obs holds.
func Up(p *model.Project, obs model.Observed, o UpOptions) (pl *Plan, err error) {
	g, err := graph.New(p)
	if err != nil {
		return nil, err
	}
	selected, err := selectServices(p, g, o.Services)
	if err != nil {
		return nil, err
	}
	if o.NoDeps && len(o.Services) > 0 {
		selected = map[string]bool{}
		for _, s := range o.Services {
			selected[s] = true
		}
	}
	if o.NoStart {
		defer func() {
			if pl != nil {
				pl = pl.Without(Start, Restart, WaitHealthy, WaitCompleted, Confirm)
			}
		}()
	}
	pl = &Plan{}
	byService := containersByService(obs)

	// Networks and volumes first: every create depends on them.
	var infra []*Op
	if !o.StartOnly {
		for _, key := range usedNetworks(p, selected) {
			if _, ok := obs.Networks[key]; ok || p.Networks[key].External {
				continue
			}
			infra = append(infra, pl.add(Op{Kind: CreateNetwork, Name: p.Networks[key].Name}))
		}
		for _, key := range usedVolumes(p, selected) {
			if _, ok := obs.Volumes[key]; ok || p.Volumes[key].External {
				continue
			}
			infra = append(infra, pl.add(Op{Kind: CreateVolume, Name: p.Volumes[key].Name}))
		}
	}

	// Which conditions do dependents need of each service? Waits are only
	// planned where someone waits.
	needs := map[string]map[string]bool{}
	for _, svc := range p.Services {
		if !selected[svc.Name] {
			continue
		}
		for dep, d := range svc.DependsOn {
			if needs[dep] == nil {
				needs[dep] = map[string]bool{}
			}
			needs[dep][d.Condition] = true
		}
	}

	ready := map[string]*readiness{}
	for _, name := range g.Order() {
		if !selected[name] {
			continue
		}
		svc, _ := p.Service(name)
		// Start after the dependencies are ready.
		var after []*Op
		restartDeps := false
		for _, dep := range g.Dependencies(name) {
			d := svc.DependsOn[dep]
			r := ready[dep]
			if r == nil {
				continue
			}
			switch d.Condition {
			case model.ConditionHealthy:
				after = append(after, r.healthy...)
			case model.ConditionCompletedSuccessful:
				after = append(after, r.completed...)
			default:
				after = append(after, r.started...)
			}
			if d.Restart && r.changed {
				restartDeps = true
			}
		}
		// A container made with another service's (network_mode,
		// ipc, pid, volumes_from, links) is created once that one
		// exists, and made anew when that one is.
		var refs refsOf
		for _, ref := range svc.ContainerRefs() {
			if r := ready[ref]; r != nil {
				refs.created = append(refs.created, r.created...)
				refs.replaced = refs.replaced || r.replaced
			}
		}
		r := planService(pl, p, svc, byService[name], obs.Images[svc.Image], o, infra, after, restartDeps, needs[name], refs)
		ready[name] = r
	}

	if o.Wait {
		for _, name := range g.Order() {
			if !selected[name] {
				continue
			}
			svc, _ := p.Service(name)
			if needs[name][model.ConditionCompletedSuccessful] {
				// Its dependents already wait for it to complete.
				continue
			}
			for n := 1; n <= svc.Replicas; n++ {
				cname := ContainerName(p, svc, n)
				if ready[name].settled[cname] {
					continue
				}
				pl.add(Op{Kind: Confirm, Service: name, Name: cname, Number: n, ContainerID: ready[name].kept[cname]}, ids(ready[name].started)...)
			}
		}
	}

	// Containers of services the project no longer has.
	known := map[string]bool{}
	for _, s := range p.Services {
		known[s.Name] = true
	}
	for _, s := range p.Disabled {
		known[s] = true
	}
	var orphans []string
	for svcName := range byService {
		if !known[svcName] {
			orphans = append(orphans, svcName)
		}
	}
	sort.Strings(orphans)
	for _, svcName := range orphans {
		for _, c := range byService[svcName] {
			if !o.RemoveOrphans {
				pl.add(Op{Kind: Orphan, Service: svcName, Name: c.Name, ContainerID: c.ID, Number: c.Number})
				continue
			}
			stop := pl.add(Op{Kind: Stop, Service: svcName, Name: c.Name, ContainerID: c.ID, Number: c.Number, Reason: "orphan"})
			pl.add(Op{Kind: Remove, Service: svcName, Name: c.Name, ContainerID: c.ID, Number: c.Number, Reason: "orphan"}, stop.ID)
		}
	}
	return pl, nil
}

// planService adds the ops of one service's replicas and returns when its
// dependency conditions are met.
// refsOf is what a service's containers need of the containers they are
// made with (model.Service.ContainerRefs).
type refsOf struct {
	created  []*Op // a create follows these
	replaced bool  // one of them is new: recreate
}

func planService(pl *Plan, p *model.Project, svc *model.Service, existing []model.Container, imageID string, o UpOptions,
	infra, after []*Op, restartDeps bool, needs map[string]bool, refs refsOf) *readiness {
	r := &readiness{kept: map[string]string{}, settled: map[string]bool{}}
	// One container per replica number, the newest; older ones of the
	// same number are left over from a replacement cut short (the old
	// container and its replacement under its temporary name) and go.
	// A container the engine is removing (a down cut short leaves its
	// removal running) or could not remove is on its way out too: it is
	// never kept, and a new one is made once its name is free.
	byNumber := map[int]model.Container{}
	for _, c := range existing {
		if going(c) {
			continue
		}
		if prev, dup := byNumber[c.Number]; dup && prev.Created.After(c.Created) {
			continue
		}
		byNumber[c.Number] = c
	}
	older := map[int][]model.Container{}
	for _, c := range existing {
		if byNumber[c.Number].ID != c.ID || going(c) {
			older[c.Number] = append(older[c.Number], c)
		}
	}
	for n := 1; n <= svc.Replicas; n++ {
		name := ContainerName(p, svc, n)
		c, exists := byNumber[n]
		// The name is free once the older containers of this number are gone.
		var freed []*Op
		if !o.StartOnly {
			for _, old := range older[n] {
				freed = append(freed, stopRemove(pl, svc.Name, old, "replaced"))
			}
		}
		var started *Op
		keptID := "" // the ID waits use when the container is kept as it is
		reason := ""
		if exists {
			reason = recreateReason(svc, c, imageID, o)
			if reason == "" && refs.replaced {
				reason = "a container it is made with was replaced"
			}
		}
		switch {
		case !exists && o.StartOnly:
			continue
		case !exists:
			create := pl.add(Op{Kind: Create, Service: svc.Name, Name: name, Number: n}, append(append(ids(infra), ids(freed)...), ids(refs.created)...)...)
			started = pl.add(Op{Kind: Start, Service: svc.Name, Name: name, Number: n}, append(ids(after), create.ID)...)
			r.created = append(r.created, create)
			r.changed, r.replaced = true, true
		case !o.StartOnly && !o.NoRecreate && reason != "":
			temp := TempName(c.ID, name)
			create := pl.add(Op{Kind: Create, Service: svc.Name, Name: temp, Number: n, Reason: reason,
				Replaces: &Replacement{ID: c.ID, Name: c.Name, RenewVolumes: o.RenewAnonVolumes}}, append(ids(infra), ids(refs.created)...)...)
			stop := pl.add(Op{Kind: Stop, Service: svc.Name, Name: c.Name, ContainerID: c.ID, Number: n, Reason: reason}, create.ID)
			rm := pl.add(Op{Kind: Remove, Service: svc.Name, Name: c.Name, ContainerID: c.ID, Number: n, Reason: reason}, stop.ID)
			rename := pl.add(Op{Kind: Rename, Service: svc.Name, Name: temp, Number: n, To: name}, append(ids(freed), rm.ID)...)
			started = pl.add(Op{Kind: Start, Service: svc.Name, Name: name, Number: n}, append(ids(after), rename.ID)...)
			r.created = append(r.created, rename)
			r.changed, r.replaced = true, true
		default:
			keptID = c.ID
			var renamed *Op
			if c.Name != name && !o.StartOnly {
				// A replacement whose old container was not yet gone.
				renamed = pl.add(Op{Kind: Rename, Service: svc.Name, Name: c.Name, ContainerID: c.ID, Number: n, To: name}, ids(freed)...)
			}
			switch c.State {
			case model.StateRunning, model.StateRestarting:
				if restartDeps {
					started = pl.add(Op{Kind: Restart, Service: svc.Name, Name: name, ContainerID: c.ID, Number: n, Reason: "dependency changed"},
						append(ids(after), ids([]*Op{renamed})...)...)
					r.changed = true
				}
			case model.StatePaused:
				// Paused containers are left as they are; compose does the same.
			default:
				started = pl.add(Op{Kind: Start, Service: svc.Name, Name: name, ContainerID: c.ID, Number: n},
					append(ids(after), ids([]*Op{renamed})...)...)
				r.changed = true
			}
		}
		if started != nil {
			r.started = append(r.started, started)
		}
		if keptID != "" {
			r.kept[name] = keptID
			// A container kept running and already healthy (or running,
			// without a healthcheck) is waited for by no one: a no-op up
			// answers from its one observation.
			if started == nil {
				v, _ := ready.Judge(ready.Healthy, ready.Rules{}, svc, c, ready.Seen{})
				checked := ready.Command(svc.Healthcheck) != nil
				r.settled[name] = v == ready.Ready && (c.Health == model.HealthHealthy || !checked)
			}
		}
		if needs[model.ConditionHealthy] && !r.settled[name] {
			r.healthy = append(r.healthy, pl.add(Op{Kind: WaitHealthy, Service: svc.Name, Name: name, Number: n, ContainerID: keptID}, ids([]*Op{started})...))
		}
		if needs[model.ConditionCompletedSuccessful] {
			r.completed = append(r.completed, pl.add(Op{Kind: WaitCompleted, Service: svc.Name, Name: name, Number: n, ContainerID: keptID}, ids([]*Op{started})...))
		}
	}

	if o.StartOnly {
		return r
	}
	// Scale down: replicas above the wanted count go, highest first, with
	// the older containers of their numbers.
	var extra []model.Container
	for n, c := range byNumber {
		if n > svc.Replicas {
			extra = append(extra, c)
			extra = append(extra, older[n]...)
		}
	}
	sort.Slice(extra, func(i, j int) bool {
		if extra[i].Number != extra[j].Number {
			return extra[i].Number > extra[j].Number
		}
		return extra[i].Name < extra[j].Name
	})
	for _, c := range extra {
		stopRemove(pl, svc.Name, c, "scale down")
	}
	return r
}

// stopRemove stops and removes container c (an up keeps its anonymous
// volumes) and returns the removal.
func stopRemove(pl *Plan, service string, c model.Container, reason string) *Op {
	if going(c) {
		return pl.add(Op{Kind: Remove, Service: service, Name: c.Name, ContainerID: c.ID, Number: c.Number, Reason: reason})
	}
	stop := pl.add(Op{Kind: Stop, Service: service, Name: c.Name, ContainerID: c.ID, Number: c.Number, Reason: reason})
	return pl.add(Op{Kind: Remove, Service: service, Name: c.Name, ContainerID: c.ID, Number: c.Number, Reason: reason}, stop.ID)
}

// going reports a container that can only be removed: one the engine is
// removing, or one it failed to remove ("dead").
func going(c model.Container) bool {
	return c.State == model.StateRemoving || c.State == model.StateDead
}

// recreateReason says why container c no longer matches svc, or "".
// imageID is the ID the service's image reference resolves to now ("" if
// unknown), so a container left on an older build is recreated.
func recreateReason(svc *model.Service, c model.Container, imageID string, o UpOptions) string {
	switch {
	case o.ForceRecreate:
		return "--force-recreate"
	case o.AlwaysRecreateDeps && len(o.Services) > 0 && !slices.Contains(o.Services, svc.Name):
		return "--always-recreate-deps"
	case c.ConfigHash != svc.ConfigHash:
		return "config changed"
	case imageID != "" && c.ImageID != "" && c.ImageID != imageID:
		return "image changed"
	}
	return ""
}

func selectServices(p *model.Project, g *graph.Graph, services []string) (map[string]bool, error) {
	sel := map[string]bool{}
	if len(services) == 0 {
		for _, s := range p.Services {
			sel[s.Name] = true
		}
		return sel, nil
	}
	for _, s := range services {
		if _, ok := p.Service(s); !ok {
			return nil, fmt.Errorf("no such service: %q (the project has: %s)", s, strings.Join(p.ServiceNames(), ", "))
		}
	}
	for _, s := range g.Closure(services) {
		sel[s] = true
	}
	return sel, nil
}

func containersByService(obs model.Observed) map[string][]model.Container {
	out := map[string][]model.Container{}
	for _, c := range obs.Containers {
		if c.OneOff {
			continue
		}
		out[c.Service] = append(out[c.Service], c)
	}
	for _, cs := range out {
		sort.Slice(cs, func(i, j int) bool { return cs[i].Number < cs[j].Number })
	}
	return out
}

func usedNetworks(p *model.Project, selected map[string]bool) []string {
	set := map[string]bool{}
	for _, s := range p.Services {
		if !selected[s.Name] || s.Replicas == 0 {
			continue
		}
		for key := range s.Networks {
			if _, ok := p.Networks[key]; ok {
				set[key] = true
			}
		}
	}
	return slices.Sorted(maps.Keys(set))
}

func usedVolumes(p *model.Project, selected map[string]bool) []string {
	set := map[string]bool{}
	for _, s := range p.Services {
		if !selected[s.Name] || s.Replicas == 0 {
			continue
		}
		for _, m := range s.Volumes {
			if m.Type == model.MountVolume && m.Source != "" {
				if _, ok := p.Volumes[m.Source]; ok {
					set[m.Source] = true
				}
			}
		}
	}
	return slices.Sorted(maps.Keys(set))
}
