package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"devstack/engine/event"
	"devstack/engine/model"
	"devstack/engine/plan"
)

// Engine runs compose projects on a Runtime.
type Engine struct {
	rt   Runtime
	sink event.Sink
	// Limit bounds how many engine operations run at once. One pool for
	// everything, so nested work cannot deadlock on it.
	Limit int
	// DryRun, when set, is handed every plan instead of running it
	// (--dry-run): nothing on the engine changes.
	DryRun func(*plan.Plan)
	// ProbeLimit bounds concurrent healthcheck probes (ready.DefaultLimit when 0).
	ProbeLimit int
	// IgnoreOrphans keeps quiet about orphan containers (Compose's
	// COMPOSE_IGNORE_ORPHANS); they are still not removed.
	IgnoreOrphans bool
	now           func() time.Time
}

// New returns an engine on rt that reports to sink.
func New(rt Runtime, sink event.Sink) *Engine {
	if sink == nil {
		sink = event.Discard
	}
	return &Engine{rt: rt, sink: sink, Limit: 16, now: time.Now}
}

// Runtime returns the runtime the engine drives.
func (e *Engine) Runtime() Runtime { return e.rt }

// Sink returns where the engine's events go.
func (e *Engine) Sink() event.Sink { return e.sink }

// UpOptions tune Up.
type UpOptions struct {
	Services      []string
	Build         bool // build images even when present
	NoBuild       bool
	ForceRecreate bool
	NoRecreate    bool
	RemoveOrphans bool
	Wait          bool          // return only once every service is running/healthy/completed
	WaitTimeout   time.Duration // 0: no limit but ctx's
	NoCache       bool          // builds without cache (scratch rebuilds)
	// RenewAnonVolumes gives recreated containers fresh anonymous volumes
	// instead of the replaced containers' (up -V).
	RenewAnonVolumes bool
	NoDeps           bool // only Services, not their dependencies
	NoStart          bool // create without starting (create, up --no-start)
	// AlwaysRecreateDeps recreates what the named services depend on (--always-recreate-deps).
	AlwaysRecreateDeps bool
	Scale              map[string]int // replicas per service, over the file's (--scale)
	Pull               string         // always | missing | never over each pull_policy; "": the file's
	// BeforeStart, when set, runs before each container is started, with
	// the container created (name is the one it is known by): what it
	// returns fails that start. The CLI seeds the volumes it syncs from
	// this machine's directories there, so the container's first process
	// finds the files (remote engines).
	BeforeStart func(ctx context.Context, svc *model.Service, id, name string) error
}

// adjusted returns the project as the options change it (a copy; p is
// not touched): --scale replicas, --pull policies. Config hashes stay the
// file's: neither is part of one.
func (o UpOptions) adjusted(p *model.Project) (*model.Project, error) {
	if len(o.Scale) == 0 && o.Pull == "" {
		return p, nil
	}
	switch o.Pull {
	case "", "always", "missing", "never":
	default:
		return nil, fmt.Errorf("--pull %q: use always, missing or never", o.Pull)
	}
	for name, n := range o.Scale {
		svc, ok := p.Service(name)
		switch {
		case !ok:
			return nil, fmt.Errorf("--scale %s=%d: no such service (the project has %s)", name, n, strings.Join(p.ServiceNames(), ", "))
		case n < 0:
			return nil, fmt.Errorf("--scale %s=%d: the number of containers cannot be negative", name, n)
		case n > 1 && svc.ContainerName != "":
			return nil, fmt.Errorf("--scale %s=%d: service %q sets container_name %q, and a name belongs to one container; remove container_name to scale it", name, n, name, svc.ContainerName)
		}
	}
	cp := *p
	cp.Services = make([]model.Service, len(p.Services))
	copy(cp.Services, p.Services)
	for i := range cp.Services {
		svc := &cp.Services[i]
		if n, ok := o.Scale[svc.Name]; ok {
			svc.Replicas = n
		}
		if o.Pull != "" && svc.Build == nil {
			svc.PullPolicy = o.Pull
		}
	}
	return &cp, nil
}

// Up builds what needs building and converges the project's containers.
// It answers from one observation of the engine's lists when no image is
// built or pulled, so an up with nothing to change costs a handful of list
// calls and no wait (the planner waits for nothing already healthy).
func (e *Engine) Up(ctx context.Context, p *model.Project, o UpOptions) error {
	p, err := o.adjusted(p)
	if err != nil {
		return err
	}
	obs, err := e.rt.ObserveBrief(ctx, p)
	if err != nil {
		return err
	}
	images, err := plan.Images(p, obs, o.Services, o.Build, o.NoBuild)
	if err != nil {
		return err
	}
	if !images.Empty() {
		if err := e.apply(ctx, p, images, applyOptions{noCache: o.NoCache}); err != nil {
			return err
		}
		// Built or pulled images have new IDs the plan compares with.
		if obs, err = e.rt.ObserveBrief(ctx, p); err != nil {
			return err
		}
	}
	p = withRefHashes(p, obs)
	pl, err := plan.Up(p, obs, plan.UpOptions{
		Services:           o.Services,
		ForceRecreate:      o.ForceRecreate,
		NoRecreate:         o.NoRecreate,
		Wait:               o.Wait,
		RemoveOrphans:      o.RemoveOrphans,
		RenewAnonVolumes:   o.RenewAnonVolumes,
		NoDeps:             o.NoDeps,
		NoStart:            o.NoStart,
		AlwaysRecreateDeps: o.AlwaysRecreateDeps,
	})
	if err != nil {
		return err
	}
	if o.Wait && o.WaitTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.WaitTimeout)
		defer cancel()
	}
	return e.apply(ctx, p, pl, applyOptions{beforeStart: o.BeforeStart, images: obs})
}

// BuildImages builds (and pulls) the images the selected services need.
func (e *Engine) BuildImages(ctx context.Context, p *model.Project, services []string, always, never, noCache bool) error {
	obs, err := e.rt.ObserveBrief(ctx, p)
	if err != nil {
		return err
	}
	pl, err := plan.Images(p, obs, services, always, never)
	if err != nil {
		return err
	}
	return e.apply(ctx, p, pl, applyOptions{noCache: noCache})
}

// EnsureResources creates the networks and volumes the named services
// use that are missing (run --no-deps: nothing else would make them).
func (e *Engine) EnsureResources(ctx context.Context, p *model.Project, services []string) error {
	obs, err := e.rt.ObserveBrief(ctx, p)
	if err != nil {
		return err
	}
	return e.apply(ctx, p, plan.Resources(p, obs, services), applyOptions{})
}

// Build builds the named services' images unconditionally (all that have
// a build section when none are named); nothing is pulled but base images.
func (e *Engine) Build(ctx context.Context, p *model.Project, services []string, noCache bool) error {
	return e.apply(ctx, p, plan.Builds(p, services), applyOptions{noCache: noCache})
}

// Pull pulls the images of the named services (all when none are named).
// Services that are built are skipped unless their image is pulled too.
func (e *Engine) Pull(ctx context.Context, p *model.Project, services []string) error {
	pl := &plan.Plan{}
	seen := map[string]bool{}
	for _, svc := range p.Services {
		if len(services) > 0 && !contains(services, svc.Name) {
			continue
		}
		if svc.Build != nil || seen[svc.Image] {
			continue
		}
		seen[svc.Image] = true
		pl.Ops = append(pl.Ops, &plan.Op{ID: len(pl.Ops) + 1, Kind: plan.Pull, Service: svc.Name, Name: svc.Image})
	}
	return e.apply(ctx, p, pl, applyOptions{})
}

// DownOptions tune Down.
type DownOptions struct {
	Volumes       bool
	RemoveOrphans bool
	Timeout       *time.Duration
	// Services limits the down to these services and their dependents.
	Services []string
	// Images is --rmi: "", plan.RmiLocal or plan.RmiAll.
	Images string
}

// Down stops and removes the project's containers and networks, and its
// volumes and images when asked.
func (e *Engine) Down(ctx context.Context, p *model.Project, o DownOptions) error {
	obs, err := e.rt.ObserveBrief(ctx, p)
	if err != nil {
		return err
	}
	pl, err := plan.Down(p, obs, plan.DownOptions{Volumes: o.Volumes, RemoveOrphans: o.RemoveOrphans, Services: o.Services, Images: o.Images})
	if err != nil {
		return err
	}
	return e.apply(ctx, p, pl, applyOptions{timeout: o.Timeout, removeVolumes: o.Volumes})
}

// Stop stops the running containers of the services (all when none named).
func (e *Engine) Stop(ctx context.Context, p *model.Project, services []string, timeout *time.Duration) error {
	obs, err := e.rt.ObserveBrief(ctx, p)
	if err != nil {
		return err
	}
	pl, err := plan.StopServices(p, obs, services)
	if err != nil {
		return err
	}
	return e.apply(ctx, p, pl, applyOptions{timeout: timeout})
}

// Start starts the existing containers of the services, in dependency
// order, honouring depends_on conditions. beforeStart, when set, runs
// before each start, as UpOptions.BeforeStart does for up.
func (e *Engine) Start(ctx context.Context, p *model.Project, services []string, beforeStart func(ctx context.Context, svc *model.Service, id, name string) error) error {
	obs, err := e.rt.ObserveBrief(ctx, p)
	if err != nil {
		return err
	}
	pl, err := plan.Up(p, obs, plan.UpOptions{Services: services, StartOnly: true})
	if err != nil {
		return err
	}
	return e.apply(ctx, p, pl, applyOptions{beforeStart: beforeStart})
}

// Restart restarts the containers of the services, all at once, as
// compose does (dependencies are not waited for).
func (e *Engine) Restart(ctx context.Context, p *model.Project, services []string, timeout *time.Duration) error {
	cs, err := e.List(ctx, p, services, true)
	if err != nil {
		return err
	}
	pl := &plan.Plan{}
	for _, c := range cs {
		if c.OneOff {
			continue
		}
		pl.Ops = append(pl.Ops, &plan.Op{ID: len(pl.Ops) + 1, Kind: plan.Restart, Service: c.Service, Name: c.Name, ContainerID: c.ID, Number: c.Number})
	}
	return e.apply(ctx, p, pl, applyOptions{timeout: timeout})
}

// Containers returns the project's containers, of the named services only
// when some are named; stopped ones only when all is set. Each is
// inspected (exact StartedAt and restart count): List is the cheaper call.
func (e *Engine) Containers(ctx context.Context, p *model.Project, services []string, all bool) ([]model.Container, error) {
	return e.containers(ctx, p, services, all, e.rt.Observe)
}

// List is Containers from the engine's list (see Runtime.ProjectContainers):
// StartedAt is unknown and Status says how long a container has been up.
func (e *Engine) List(ctx context.Context, p *model.Project, services []string, all bool) ([]model.Container, error) {
	return e.containers(ctx, p, services, all, func(ctx context.Context, p *model.Project) (model.Observed, error) {
		cs, err := e.rt.ProjectContainers(ctx, p)
		return model.Observed{Containers: cs}, err
	})
}

func (e *Engine) containers(ctx context.Context, p *model.Project, services []string, all bool,
	observe func(context.Context, *model.Project) (model.Observed, error)) ([]model.Container, error) {
	if err := CheckServices(p, services); err != nil {
		return nil, err
	}
	obs, err := observe(ctx, p)
	if err != nil {
		return nil, err
	}
	want := map[string]bool{}
	for _, s := range services {
		want[s] = true
	}
	var out []model.Container
	for _, c := range obs.Containers {
		if len(want) > 0 && !want[c.Service] {
			continue
		}
		if !all && c.State != model.StateRunning && c.State != model.StateRestarting && c.State != model.StatePaused {
			continue
		}
		out = append(out, c)
	}
	return out, nil
}

// CheckServices fails, naming it, on a service the project does not define.
func CheckServices(p *model.Project, names []string) error {
	for _, s := range names {
		if _, ok := p.Service(s); !ok && !contains(p.Disabled, s) {
			return fmt.Errorf("no such service: %q (the project has: %s)", s, strings.Join(p.ServiceNames(), ", "))
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// applyOptions carry what a run of a plan needs beyond the plan itself.
type applyOptions struct {
	timeout       *time.Duration // stop grace period override
	removeVolumes bool           // remove anonymous volumes with containers
	noCache       bool           // builds
	beforeStart   func(ctx context.Context, svc *model.Service, id, name string) error
	// images is the observation the plan was made from (after its builds
	// and pulls): creates take their images' IDs and VOLUMEs from it.
	images model.Observed
}

// apply runs a plan: it is the thin executor the planner's decisions go
// through. Container IDs of created containers are recorded so later
// operations on the same container find them.
func (e *Engine) apply(ctx context.Context, p *model.Project, pl *plan.Plan, o applyOptions) error {
	if pl.Empty() {
		return nil
	}
	if err := pl.Validate(); err != nil {
		return err
	}
	if e.DryRun != nil {
		e.DryRun(pl)
		return nil
	}
	r := &applier{e: e, p: p, o: o, ids: map[string]string{}, stopped: map[string]chan struct{}{}, preStarts: map[string]*preStartGate{}}
	if needsEvents(pl) {
		w, err := e.newWaiter(ctx, p.Name)
		if err != nil {
			return err
		}
		defer w.close()
		r.w = w
	}
	err := execute(ctx, pl, e.Limit, r.run)
	// Stops released their dependents early (see stop); they still finish.
	r.background.Wait()
	if err == nil && len(r.lateErrs) > 0 {
		err = errors.Join(dedupe(r.lateErrs)...)
	}
	return err
}

func needsEvents(pl *plan.Plan) bool {
	for _, o := range pl.Ops {
		switch o.Kind {
		case plan.WaitHealthy, plan.WaitCompleted, plan.Confirm, plan.Stop:
			return true
		}
	}
	return false
}

type applier struct {
	e *Engine
	p *model.Project
	o applyOptions
	w *waiter

	mu  sync.Mutex
	ids map[string]string // container name -> ID, for containers created by this run

	background sync.WaitGroup           // stops still finishing after their container died
	stopped    map[string]chan struct{} // container name -> closed when its stop call returned; guarded by mu
	lateErrs   []error                  // their failures, guarded by mu
	preStarts  map[string]*preStartGate // service -> its pre_start run; guarded by mu
}

// stop stops a container. The operations waiting for it (its
// dependencies' stops) may go as soon as its process has died: the
// engine's clean-up after that (network, mounts) takes a third of a
// second per container and need not hold the next layer back. The stop
// call itself goes on in the background and apply waits for it; so does
// the container's removal (see remove).
func (a *applier) stop(ctx context.Context, o *plan.Op, svc *model.Service) error {
	id := a.id(o)
	done := make(chan error, 1)
	if a.w == nil {
		return a.e.rt.StopContainer(ctx, id, a.stopTimeout(svc))
	}
	died := a.w.subscribe(o.Name)
	defer a.w.unsubscribe(o.Name, died)
	returned := make(chan struct{})
	a.mu.Lock()
	a.stopped[o.Name] = returned
	a.mu.Unlock()
	a.background.Add(1)
	go func() {
		defer a.background.Done()
		err := a.e.rt.StopContainer(ctx, id, a.stopTimeout(svc))
		close(returned)
		done <- err
		if err != nil {
			a.mu.Lock()
			a.lateErrs = append(a.lateErrs, opError(o, err))
			a.mu.Unlock()
		}
	}()
	for {
		select {
		case err := <-done:
			return err
		case ev := <-died:
			if ev.Action == "die" {
				return nil
			}
		}
	}
}

// remove removes a container once its stop call, if any, returned. A
// removal racing the engine's clean-up after the process died leaks the
// container's network endpoint in Docker 20.10: the network then cannot
// be removed ("has active endpoints") until the daemon restarts.
func (a *applier) remove(ctx context.Context, o *plan.Op) error {
	a.mu.Lock()
	returned := a.stopped[o.Name]
	a.mu.Unlock()
	if returned != nil {
		select {
		case <-returned:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return a.e.rt.RemoveContainer(ctx, a.id(o), a.o.removeVolumes)
}

// record notes the ID of a container this run created or renamed, for
// the operations that follow it by name.
func (a *applier) record(name, id string) {
	a.mu.Lock()
	a.ids[name] = id
	a.mu.Unlock()
}

func (a *applier) id(o *plan.Op) string {
	if o.ContainerID != "" {
		return o.ContainerID
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.ids[o.Name]
}

func (a *applier) progress(o *plan.Op, kind, action string, start time.Time, err error) {
	name := o.Name
	if o.Replaces != nil {
		// People know the container by the name it keeps, not by the
		// temporary one its replacement is made under.
		name = o.Replaces.Name
	}
	ev := event.Progress{Time: a.e.now(), Kind: kind, Name: name, Service: o.Service, Action: action, Detail: o.Reason}
	if !start.IsZero() {
		ev.Duration = a.e.now().Sub(start).Seconds()
	}
	if err != nil {
		ev.Action = event.Failed
		ev.Error = err.Error()
	}
	a.e.sink.Publish(ev)
}

// run performs one operation.
func (a *applier) run(ctx context.Context, o *plan.Op) error {
	svc, _ := a.p.Service(o.Service)
	kind, doing, done := describe(o.Kind)
	if o.Replaces != nil {
		doing = event.Recreating
	}
	if done == event.Healthy && (svc == nil || svc.Healthcheck == nil || svc.Healthcheck.Disable) {
		done = event.Running
	}
	start := a.e.now()
	if doing != "" {
		a.progress(o, kind, doing, time.Time{}, nil)
	}
	err := a.do(ctx, o, svc)
	if err != nil {
		err = opError(o, err)
	}
	if done != "" || err != nil {
		shown := err
		if err != nil && ctx.Err() != nil && errors.Is(err, context.Canceled) {
			// Cut short by Ctrl-C: nothing broke, and the client's own
			// words (a request's URL, "context canceled") say less.
			shown = errInterrupted
		}
		a.progress(o, kind, done, start, shown)
	}
	return err
}

// errInterrupted is how a step cut short by its context is reported.
var errInterrupted = errors.New("interrupted")

func (a *applier) do(ctx context.Context, o *plan.Op, svc *model.Service) error {
	rt := a.e.rt
	switch o.Kind {
	case plan.CreateNetwork:
		return rt.CreateNetwork(ctx, a.p, keyOfNetwork(a.p, o.Name))
	case plan.CreateVolume:
		return rt.CreateVolume(ctx, a.p, keyOfVolume(a.p, o.Name))
	case plan.RemoveNetwork:
		return rt.RemoveNetwork(ctx, o.Name)
	case plan.RemoveVolume:
		return rt.RemoveVolume(ctx, o.Name)
	case plan.RemoveImage:
		err := rt.RemoveImage(ctx, o.Name)
		if errors.Is(err, ErrInUse) {
			// As Compose: an image another container still uses stays,
			// and that is no failure of the down.
			a.e.sink.Publish(event.Warning{Time: a.e.now(), Message: fmt.Sprintf("image %s is still in use by a container; it stays", o.Name)})
			return nil
		}
		return err
	case plan.Build:
		_, err := rt.Build(ctx, a.p, svc, BuildOptions{NoCache: a.o.noCache || svc.Build.NoCache, Pull: svc.Build.Pull, Tags: plan.SharedImages(o)}, a.e.sink)
		return err
	case plan.Pull:
		return rt.Pull(ctx, o.Name, a.e.sink)
	case plan.Create:
		co := CreateOptions{Name: o.Name, Warn: func(msg string) {
			a.e.sink.Publish(event.Warning{Time: a.e.now(), Service: o.Service, Message: o.Name + ": " + msg})
		}}
		if r := o.Replaces; r != nil {
			co.Replace, co.InheritVolumes = r.ID, !r.RenewVolumes
		}
		if id, ok := a.o.images.Images[svc.Image]; ok && id != "" {
			co.Image = &ImageFacts{ID: id, Volumes: a.o.images.ImageVolumes[svc.Image]}
		}
		id, err := rt.CreateContainer(ctx, a.p, svc, o.Number, co)
		if err != nil {
			return explainCreate(svc, err)
		}
		a.record(o.Name, id)
		return nil
	case plan.Rename:
		id := a.id(o)
		if err := rt.RenameContainer(ctx, id, o.To); err != nil {
			return err
		}
		a.record(o.To, id)
		return nil
	case plan.Start:
		if err := a.preStart(ctx, o, svc); err != nil {
			return err
		}
		if a.o.beforeStart != nil && svc != nil {
			name := o.Name
			if o.Replaces != nil {
				name = o.Replaces.Name
			}
			if err := a.o.beforeStart(ctx, svc, a.id(o), name); err != nil {
				return err
			}
		}
		if err := explainStart(svc, a.start(ctx, a.id(o))); err != nil || svc == nil {
			return err
		}
		return a.e.runHooks(ctx, "post_start", svc.PostStart, svc, o.Name, a.id(o), o.Number)
	case plan.Stop:
		if err := a.preStop(ctx, o, svc); err != nil {
			return err
		}
		return a.stop(ctx, o, svc)
	case plan.Restart:
		// As Compose's restart: pre_stop before, post_start after.
		if err := a.preStop(ctx, o, svc); err != nil {
			return err
		}
		restart := func(ctx context.Context) error { return rt.RestartContainer(ctx, a.id(o), a.stopTimeout(svc)) }
		if err := seeThrough(ctx, restart); err != nil || svc == nil {
			return err
		}
		return a.e.runHooks(ctx, "post_start", svc.PostStart, svc, o.Name, a.id(o), o.Number)
	case plan.Remove:
		return a.remove(ctx, o)
	case plan.WaitHealthy, plan.WaitCompleted, plan.Confirm:
		return a.w.wait(ctx, a.e, o, a.id(o), svc)
	case plan.Pause:
		return rt.PauseContainer(ctx, a.id(o))
	case plan.Unpause:
		return rt.UnpauseContainer(ctx, a.id(o))
	case plan.Kill:
		return rt.KillContainer(ctx, a.id(o), o.Signal)
	case plan.Orphan:
		if a.e.IgnoreOrphans {
			return nil
		}
		a.e.sink.Publish(event.Warning{Time: a.e.now(), Service: o.Service,
			Message: fmt.Sprintf("found orphan container %s of a service the project no longer defines; remove it with --remove-orphans", o.Name)})
		return nil
	}
	return fmt.Errorf("unknown operation %q", o.Kind)
}

// startLimit bounds a start seen through after an interrupt (see start).
const startLimit = time.Minute

// start starts a container and waits for the engine's answer even when
// ctx is cancelled meanwhile: cancelling the request does not cancel the
// start on the engine's side, which would start the container after the
// interrupted up had stopped the stack. Since execute waits for every
// operation in flight, when an interrupted run returns every container
// it started is running, and the stop that follows finds it.
func (a *applier) start(ctx context.Context, id string) error {
	return seeThrough(ctx, func(ctx context.Context) error { return a.e.rt.StartContainer(ctx, id) })
}

// seeThrough runs call, which makes the engine start a container, unless
// ctx is already cancelled, and waits for its answer even when ctx is
// cancelled meanwhile (see start; a restart starts one too).
func seeThrough(ctx context.Context, call func(context.Context) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), startLimit)
	defer cancel()
	return call(sctx)
}

func (a *applier) stopTimeout(svc *model.Service) *time.Duration {
	if a.o.timeout != nil {
		return a.o.timeout
	}
	if svc != nil {
		return svc.StopGracePeriod
	}
	return nil
}

// describe maps an operation to its progress kind and actions.
func describe(k plan.Kind) (kind, doing, done string) {
	switch k {
	case plan.CreateNetwork:
		return event.KindNetwork, event.Creating, event.Created
	case plan.CreateVolume:
		return event.KindVolume, event.Creating, event.Created
	case plan.RemoveNetwork:
		return event.KindNetwork, event.Removing, event.Removed
	case plan.RemoveVolume:
		return event.KindVolume, event.Removing, event.Removed
	case plan.RemoveImage:
		return event.KindImage, event.Removing, event.Removed
	case plan.Build:
		return event.KindImage, event.Building, event.Built
	case plan.Pull:
		return event.KindImage, event.Pulling, "pulled"
	case plan.Create:
		return event.KindContainer, event.Creating, event.Created
	case plan.Start:
		return event.KindContainer, event.Starting, event.Started
	case plan.Stop:
		return event.KindContainer, event.Stopping, event.Stopped
	case plan.Restart:
		return event.KindContainer, event.Restarting, event.Started
	case plan.Remove:
		return event.KindContainer, event.Removing, event.Removed
	case plan.Rename:
		return event.KindContainer, "", ""
	case plan.WaitHealthy:
		return event.KindContainer, event.Waiting, event.Healthy
	case plan.Confirm:
		return event.KindContainer, "", event.Healthy
	case plan.WaitCompleted:
		return event.KindContainer, event.Waiting, event.Exited
	case plan.Pause:
		return event.KindContainer, event.Pausing, event.Paused
	case plan.Unpause:
		return event.KindContainer, event.Unpausing, event.Unpaused
	case plan.Kill:
		return event.KindContainer, event.Killing, event.Killed
	}
	return event.KindContainer, "", ""
}

func keyOfNetwork(p *model.Project, name string) string {
	for k, n := range p.Networks {
		if n.Name == name {
			return k
		}
	}
	return name
}

func keyOfVolume(p *model.Project, name string) string {
	for k, v := range p.Volumes {
		if v.Name == name {
			return k
		}
	}
	return name
}

// explainCreate turns the engine's "no such image" into advice.
func explainCreate(svc *model.Service, err error) error {
	msg := strings.ToLower(err.Error())
	if strings.Contains(msg, "no such image") {
		if svc.Build != nil {
			return fmt.Errorf("image %q of service %q is missing: run `devstack build %s` (or up without --no-build): %w", svc.Image, svc.Name, svc.Name, err)
		}
		return fmt.Errorf("image %q of service %q is neither present nor pullable: build or load it, or give the service a build: section: %w", svc.Image, svc.Name, err)
	}
	return err
}

// explainStart names the service and port when a host port is taken.
func explainStart(svc *model.Service, err error) error {
	if err == nil || svc == nil {
		return err
	}
	msg := err.Error()
	if strings.Contains(msg, "port is already allocated") || strings.Contains(msg, "address already in use") {
		var ports []string
		for _, p := range svc.Ports {
			if p.Published != "" {
				ports = append(ports, p.Published+"/"+p.Protocol)
			}
		}
		return fmt.Errorf("service %q: a host port it publishes (%s) is already in use by another program or container: free it or change ports: in the compose file: %w",
			svc.Name, strings.Join(ports, ", "), err)
	}
	if strings.Contains(msg, "cpu.rt_runtime_us") && svc.CPURTRuntime != 0 {
		// The engine's own cgroup hands out real-time time only when
		// dockerd runs with --cpu-rt-runtime (and the kernel has
		// CONFIG_RT_GROUP_SCHED); otherwise every budget is refused.
		return fmt.Errorf("service %q: cpu_rt_runtime %dµs is more than the engine's cgroup can give (start dockerd with --cpu-rt-runtime, or lower or remove cpu_rt_runtime): %w",
			svc.Name, svc.CPURTRuntime, err)
	}
	return err
}
