package scratch

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"devstack/engine"
	"devstack/engine/event"
	"devstack/engine/model"
)

// ingredients are the parts of the dev environment a stack run puts back.
type ingredients struct {
	cache     bool // the build cache
	volumes   bool // copies of the dev volumes' data
	binds     bool // the bind mounts (read-only)
	shellEnv  bool // the shell's variables in interpolation
	devOrder  bool // the dev start order
	devImages bool // the dev environment's images of pulled tags, not the registry's now
}

func (in ingredients) with(category string) ingredients {
	switch category {
	case BuildCache:
		in.cache = true
	case VolumeState:
		in.volumes = true
	case BindMount:
		in.binds = true
	case HostEnv:
		in.shellEnv = true
	case StartOrder:
		in.devOrder = true
	case ImageDrift:
		in.devImages = true
	}
	return in
}

func (in ingredients) restored() []string {
	out := []string{}
	for _, x := range []struct {
		on  bool
		cat string
	}{{in.cache, BuildCache}, {in.shellEnv, HostEnv}, {in.binds, BindMount}, {in.volumes, VolumeState}, {in.devOrder, StartOrder}, {in.devImages, ImageDrift}} {
		if x.on {
			out = append(out, x.cat)
		}
	}
	return out
}

// stackRun is one scratch stack brought up, checked and removed.
type stackRun struct {
	result  RunResult
	stack   *Stack
	failure *Failure
	copies  []volumeCopy         // dev volume data put back
	gaps    map[string][]bindGap // service -> what its dropped bind mounts hid (run 1)
	broken  error                // the engine itself failed: the rebuild cannot go on
}

// runStack brings up one scratch stack with the given ingredients put
// back, waits for it, runs the checks, and removes it (unless kept).
func (r *rebuild) runStack(ctx context.Context, n int, in ingredients) *stackRun {
	start := r.now()
	name := r.projectName(n)
	run := &stackRun{result: RunResult{N: n, Project: name, Restored: in.restored()}}
	defer func() {
		run.result.Duration = r.now().Sub(start).Seconds()
		run.result.Status = StatusPass
		if run.failure != nil {
			run.result.Status = StatusFail
			run.result.Failure = run.failure
		}
		r.report.Runs = append(r.report.Runs, run.result)
	}()

	src := r.base
	if in.shellEnv {
		src = r.dev
	}
	if src == nil {
		run.failure = &Failure{Phase: "load", Message: r.baseErr.Error()}
		return run
	}
	st, err := NewStack(src, StackOptions{
		Name: name, ImageTag: fmt.Sprintf("%s-%d", r.id, n),
		KeepBinds: in.binds, KeepMounts: r.cfg.KeepMounts, DevOrder: in.devOrder,
		DevStarted: r.devStarted,
		Pinned:     r.pinned(in.devImages),
	})
	if err != nil {
		run.failure = &Failure{Phase: "load", Message: err.Error()}
		return run
	}
	run.stack = st
	p := st.Project
	r.record("project", p.Name)
	for _, img := range st.Images {
		r.record("image", img)
	}
	if !in.cache {
		r.reuseImages(st)
	} else {
		// The builder's cache prefers the newest matching layer: the
		// layers an earlier run built without the cache would hide the
		// dev environment's own, which this run is about.
		r.removeShared(ctx)
	}
	rec := newRecorder(r.o.Events)
	e := engine.New(r.rt, rec)
	keep := r.o.Keep && n == 1
	if keep {
		r.report.Kept = append(r.report.Kept, name)
	}
	defer func() {
		if !keep {
			r.timed("cleanup", n, "", func() { r.remove(ctx, st, rec) })
		}
	}()

	rctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	detail := fmt.Sprintf("run %d: %s", n, describeRun(in))

	r.publish("building", detail)
	var buildErr error
	r.timed("build", n, strings.Join(st.Images, ", "), func() {
		buildErr = e.BuildImages(rctx, p, nil, false, false, !in.cache)
	})
	if buildErr != nil {
		run.fail(rctx, rec, "build", buildErr)
		return run
	}
	if !in.cache {
		r.shareImages(st)
	}
	if in.volumes {
		var err error
		r.timed("volumes", n, "", func() { run.copies, err = copyVolumes(rctx, r.rt, st, r.devVolumes) })
		if err != nil {
			run.failure = &Failure{Phase: "volumes", Message: err.Error()}
			run.broken = err
			return run
		}
	}

	r.publish("starting", detail)
	var f *Failure
	r.timed("start", n, strings.Join(st.Order, " → "), func() {
		if err := e.Up(rctx, p, engine.UpOptions{NoBuild: true}); err != nil {
			run.fail(rctx, rec, "start", err)
			return
		}
		f = waitReady(rctx, r.rt, p, st.Order)
	})
	if run.failure == nil && f != nil {
		run.failure = f
	}
	if run.failure == nil {
		r.publish("checking", detail)
		r.timed("check", n, fmt.Sprintf("%d checks", len(r.cfg.Checks)), func() {
			run.failure = runChecks(rctx, r.rt, p, r.cfg.Checks)
			if run.failure == nil {
				// A service that died while the checks ran fails too.
				run.failure = stillUp(rctx, r.rt, p)
			}
		})
	}
	if run.failure != nil && n == 1 && len(st.Dropped) > 0 {
		r.timed("evidence", n, "bind mounts", func() { run.gaps = r.bindGaps(ctx, p, st) })
	}
	if run.failure != nil && run.broken == nil && ctx.Err() == nil {
		if err := r.rt.Ping(ctx); err != nil {
			run.broken = err
		}
	}
	return run
}

// fail records why an engine operation of the run failed.
func (run *stackRun) fail(ctx context.Context, rec *recorder, phase string, err error) {
	f := rec.failure()
	if f == nil {
		f = &Failure{Phase: phase, Message: err.Error()}
	}
	// The engine's wait errors end with the container's last log lines.
	if msg, tail, ok := strings.Cut(f.Message, "; its last log lines:\n"); ok {
		f.Message = msg
		for _, l := range strings.Split(tail, "\n") {
			if l = strings.TrimSpace(l); l != "" {
				f.Tail = append(f.Tail, l)
			}
		}
	}
	if ctx.Err() == context.DeadlineExceeded {
		f.Phase = "timeout"
		f.Message = "not up within the timeout: " + f.Message
	}
	run.failure = f
}

// stillUp checks that no service died since it was ready.
func stillUp(ctx context.Context, rt engine.Runtime, p *model.Project) *Failure {
	obs, err := rt.Observe(ctx, p)
	if err != nil {
		return &Failure{Phase: "check", Message: err.Error()}
	}
	for _, c := range obs.Containers {
		svc, ok := p.Service(c.Service)
		if !ok || c.OneOff {
			continue
		}
		if v, why := judge(svc, c, true, settle); v == broken {
			return &Failure{Phase: "check", Service: c.Service, Message: fmt.Sprintf("container %s %s while the checks ran", c.Name, why), Tail: logTail(ctx, rt, c.ID)}
		}
	}
	return nil
}

// bindGaps compares, for every service whose bind mounts were dropped,
// the host directories with what its image holds there.
func (r *rebuild) bindGaps(ctx context.Context, p *model.Project, st *Stack) map[string][]bindGap {
	if len(st.Dropped) == 0 {
		return nil
	}
	obs, err := r.rt.Observe(ctx, p)
	if err != nil {
		return nil
	}
	out := map[string][]bindGap{}
	for svc, mounts := range st.Dropped {
		id := ""
		for _, c := range obs.Containers {
			if c.Service == svc && !c.OneOff {
				id = c.ID
				break
			}
		}
		for _, m := range mounts {
			if id == "" {
				out[svc] = append(out[svc], bindGap{Mount: m, Err: "no container of the scratch image to compare with (its build failed?)"})
				continue
			}
			out[svc] = append(out[svc], imageLacks(ctx, r.rt, id, m))
		}
	}
	return out
}

// remove takes the scratch stack away (see removeProject), and the
// images its failed builds left behind (a successful build's layers go
// with its tag, pruned as untagged parents).
func (r *rebuild) remove(ctx context.Context, st *Stack, rec *recorder) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	errs := removeProject(ctx, r.rt, st.Project.Name)
	errs = append(errs, removeImages(ctx, r.rt, append(st.Images, rec.failedBuildImages()...))...)
	if len(errs) > 0 {
		r.warn(fmt.Sprintf("scratch project %s was not fully removed: %v", st.Project.Name, errors.Join(errs...)))
	}
}

// removeProject removes a scratch project: containers (force-removed,
// all at once: nothing in them is worth a graceful stop, nor an order),
// then networks and volumes.
func removeProject(ctx context.Context, rt engine.Runtime, name string) []error {
	p := &model.Project{Name: name}
	var mu sync.Mutex
	var errs []error
	add := func(err error) {
		if err != nil {
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
		}
	}
	// Twice: a create the engine was still carrying out when the run was
	// interrupted shows up only after the first look.
	for pass := 0; pass < 2; pass++ {
		obs, err := rt.Observe(ctx, p)
		if err != nil {
			add(err)
			break
		}
		if pass > 0 && len(obs.Containers)+len(obs.Networks)+len(obs.Volumes) == 0 {
			break
		}
		var g errgroup.Group
		for _, c := range obs.Containers {
			g.Go(func() error { add(rt.RemoveContainer(ctx, c.ID, true)); return nil })
		}
		_ = g.Wait()
		for _, name := range obs.Networks {
			g.Go(func() error { add(rt.RemoveNetwork(ctx, name)); return nil })
		}
		for _, name := range obs.Volumes {
			g.Go(func() error { add(rt.RemoveVolume(ctx, name)); return nil })
		}
		_ = g.Wait()
	}
	return errs
}

// removeImages removes image references the runtime can remove.
func removeImages(ctx context.Context, rt engine.Runtime, images []string) []error {
	rm, ok := rt.(ImageRemover)
	if !ok {
		return nil
	}
	var errs []error
	for _, img := range images {
		if err := rm.RemoveImage(ctx, img); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// ImageRemover is implemented by runtimes that can remove an image
// reference (engine/docker's does); without it scratch images stay.
type ImageRemover interface {
	RemoveImage(ctx context.Context, ref string) error
}

func describeRun(in ingredients) string {
	r := in.restored()
	if len(r) == 0 {
		return "from scratch"
	}
	return "with " + strings.Join(r, ", ") + " put back"
}

// projectName names run n's scratch project: <project>-scratch-<id> for
// the scratch run, -<n> appended for the re-runs.
func (r *rebuild) projectName(n int) string {
	name := r.dev.Name + "-scratch-" + r.id
	if n > 1 {
		name += fmt.Sprintf("-%d", n)
	}
	return name
}

// sortedKeys returns a map's keys, sorted.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

var _ event.Sink = (*recorder)(nil)

// reuseImages points the stack's built services at the images an earlier
// run built without the cache from the same build: building them again,
// without the cache, would make the same image, and builds are most of a
// run's time.
func (r *rebuild) reuseImages(st *Stack) {
	p := st.Project
	retag := map[string]string{} // this run's tag -> the earlier one
	for _, svc := range p.Services {
		if svc.Build == nil {
			continue
		}
		if tag, ok := r.reuse[svc.Build.Key()]; ok {
			retag[svc.Image] = tag
		}
	}
	if len(retag) == 0 {
		return
	}
	for i := range p.Services {
		if tag, ok := retag[p.Services[i].Image]; ok {
			p.Services[i].Image = tag
			p.Services[i].ConfigHash = model.Hash(p.Services[i])
		}
	}
	var own []string
	for _, img := range st.Images {
		if _, reused := retag[img]; !reused {
			own = append(own, img)
		}
	}
	st.Images = own
}

// shareImages hands the images a no-cache build made over to the later
// runs; they are removed when the rebuild ends.
func (r *rebuild) shareImages(st *Stack) {
	for _, svc := range st.Project.Services {
		if svc.Build == nil {
			continue
		}
		if _, ok := r.reuse[svc.Build.Key()]; ok {
			continue
		}
		r.reuse[svc.Build.Key()] = svc.Image
		r.shared = append(r.shared, svc.Image)
	}
	var own []string
	for _, img := range st.Images {
		if !contains(r.shared, img) {
			own = append(own, img)
		}
	}
	st.Images = own
}

// removeShared removes the images runs shared, unless the kept stack
// runs them.
func (r *rebuild) removeShared(ctx context.Context) {
	rm, ok := r.rt.(ImageRemover)
	if !ok || r.o.Keep || len(r.shared) == 0 {
		return
	}
	defer func() {
		r.shared = nil
		r.reuse = map[string]string{}
	}()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	r.timed("cleanup", 0, "images", func() {
		for _, img := range r.shared {
			if err := rm.RemoveImage(ctx, img); err != nil {
				r.warn(err.Error())
			}
		}
	})
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
