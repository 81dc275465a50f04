package sync

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	gosync "sync"
	"time"

	"devstack/engine/event"
	"devstack/engine/model"
	"devstack/sync/batch"
	"devstack/sync/clock"
	"devstack/sync/ignore"
	"devstack/sync/manifest"
)

// service syncs one service: one batcher for its rules, one goroutine
// applying batches to its replicas one batch at a time (replicas in
// parallel), so batches never overtake each other.
type service struct {
	s          *Syncer
	name       string
	model      *model.Service
	rules      []*rule
	syncRules  []*rule
	batcher    *batch.Batcher
	initial    bool
	ignoreFile string
	wake       chan struct{}

	mu         gosync.Mutex
	startedIDs map[string]bool // containers reported started since the last refresh; guarded by mu
	refreshDue bool            // guarded by mu

	// Owned by the service goroutine.
	replicas map[string]*replica
	touched  changes // every change of the session, for containers started when the initial sync is off
	retry    clock.Timer
}

func newService(s *Syncer, svc *model.Service, rules []*rule) *service {
	sv := &service{
		s:          s,
		name:       svc.Name,
		model:      svc,
		rules:      rules,
		batcher:    batch.New(batchOptions(s.o.Project, svc, s.o.Clock)),
		initial:    initialSync(s.o.Project, svc),
		ignoreFile: ignore.IgnoreFile(svc.Build),
		wake:       make(chan struct{}, 1),
		startedIDs: map[string]bool{},
		replicas:   map[string]*replica{},
		touched:    changes{},
	}
	for _, r := range rules {
		if r.syncs() {
			sv.syncRules = append(sv.syncRules, r)
		}
	}
	return sv
}

func (sv *service) poke() {
	select {
	case sv.wake <- struct{}{}:
	default:
	}
}

func (sv *service) containerStarted(id string) {
	sv.mu.Lock()
	sv.startedIDs[id] = true
	sv.refreshDue = true
	sv.mu.Unlock()
	sv.poke()
}

func (sv *service) markRefresh() {
	sv.mu.Lock()
	sv.refreshDue = true
	sv.mu.Unlock()
}

// reloadIgnore reads the .dockerignore again after it changed, and
// resyncs: paths it no longer ignores must be sent.
func (sv *service) reloadIgnore() {
	for _, r := range sv.rules {
		if err := r.reload(sv.model); err != nil {
			sv.s.warn(sv.name, fmt.Sprintf("%v; keeping the previous ignore rules", err))
			return
		}
	}
	if w := sv.s.watcher.Load(); w != nil {
		w.Rescan()
	}
	sv.batcher.Resync()
}

func (sv *service) run(ctx context.Context, ready func()) {
	defer sv.closeAll()
	sv.refresh(ctx)
	sv.syncNew(ctx)
	ready()
	var tick func()
	tick = func() {
		if ctx.Err() != nil {
			return
		}
		sv.markRefresh()
		sv.poke()
		sv.s.o.Clock.AfterFunc(sv.s.o.Refresh, tick)
	}
	sv.s.o.Clock.AfterFunc(sv.s.o.Refresh, tick)
	for {
		select {
		case <-ctx.Done():
			return
		case <-sv.batcher.Ready():
		case <-sv.wake:
		}
		sv.mu.Lock()
		due := sv.refreshDue
		sv.refreshDue = false
		sv.mu.Unlock()
		if due {
			sv.refresh(ctx)
		}
		sv.syncNew(ctx)
		if b := sv.batcher.Take(); b != nil {
			sv.handle(ctx, b)
		} else if sv.hasPending() {
			sv.publish("sync", sv.s.o.Clock.Now(), nil, sv.each(ctx, func(rp *replica) result { return rp.apply(ctx, changes{}) }), nil)
		}
		sv.scheduleRetry()
	}
}

func (sv *service) closeAll() {
	for id, rp := range sv.replicas {
		rp.close()
		delete(sv.replicas, id)
	}
}

// refresh brings the set of replicas in line with the running containers.
func (sv *service) refresh(ctx context.Context) {
	cs, err := sv.s.o.Engine.Containers(ctx, sv.name)
	if err != nil {
		if ctx.Err() == nil {
			sv.s.warn(sv.name, fmt.Sprintf("unable to list the containers: %v", err))
			sv.markRefresh()
		}
		return
	}
	sv.mu.Lock()
	started := sv.startedIDs
	sv.startedIDs = map[string]bool{}
	sv.mu.Unlock()
	seen := map[string]bool{}
	for _, c := range cs {
		seen[c.ID] = true
		rp := sv.replicas[c.ID]
		switch {
		case rp == nil:
			rp = newReplica(sv, c)
			sv.replicas[c.ID] = rp
			sv.catchUp(rp)
			sv.s.noteStarted(c)
		case started[c.ID]:
			// Restarted: its exec died with it, and changes made while it
			// was down may have failed.
			rp.closeTransport()
			sv.catchUp(rp)
		}
		rp.c = c
	}
	for id, rp := range sv.replicas {
		if !seen[id] {
			rp.close()
			delete(sv.replicas, id)
		}
	}
}

// catchUp gives a (re)started replica what it may have missed: a full
// resync, or with the initial sync turned off, every change of the session.
func (sv *service) catchUp(rp *replica) {
	if sv.initial {
		rp.needResync = true
	} else {
		rp.pending.merge(sv.touched)
	}
}

// syncNew runs the initial sync of replicas that need one.
func (sv *service) syncNew(ctx context.Context) {
	var need []*replica
	for _, rp := range sv.replicas {
		if rp.needResync {
			need = append(need, rp)
		}
	}
	if len(need) == 0 {
		return
	}
	start := sv.s.o.Clock.Now()
	res := sv.eachOf(need, func(rp *replica) result { return rp.resync(ctx) })
	sv.publish("initial", start, nil, res, nil)
}

// handle applies one batch.
func (sv *service) handle(ctx context.Context, b *batch.Batch) {
	ch := changes{}
	var actions []string
	execRules := map[*rule]bool{}
	for path, c := range b.Paths {
		for _, r := range sv.rules {
			d := r.decide(path)
			if !d.Covered || !d.Synced && !d.NotIncluded {
				continue
			}
			actions = append(actions, r.w.Action)
			if r.syncs() {
				if rel, ok := r.rel(path); ok {
					ch.add(r, rel, c.Created)
				}
			}
			if r.w.Action == model.WatchSyncExec {
				execRules[r] = true
			}
		}
	}
	if b.Resync {
		actions = append(actions, model.WatchSync)
	}
	if len(actions) == 0 {
		return
	}
	action := strongest(actions)
	if action == model.WatchRebuild {
		// As compose does: a rebuild replaces the containers, whose
		// initial sync then carries the other changes.
		err := sv.s.o.Engine.Rebuild(ctx, sv.name)
		if err != nil {
			err = fmt.Errorf("unable to rebuild %s: %w", sv.name, err)
		}
		sv.markRefresh()
		sv.poke()
		sv.publishEvent(event.Sync{Service: sv.name, Action: model.WatchRebuild, Files: len(b.Paths), LatencyMS: ms(sv.s.o.Clock.Now().Sub(b.First)), Paths: few(b.Paths), Error: errString(err)})
		return
	}
	if !sv.initial {
		sv.touched.merge(ch)
	}
	var res []result
	if len(sv.syncRules) > 0 && (ch.count() > 0 || b.Resync) {
		huge := b.Resync || ch.count() > sv.s.o.HugeBatch
		res = sv.each(ctx, func(rp *replica) result {
			if huge || rp.needResync {
				r := rp.resync(ctx)
				if r.err != nil {
					rp.needResync = true
				}
				return r
			}
			return rp.apply(ctx, ch)
		})
	}
	var errs []error
	if len(sv.syncRules) > 0 && len(sv.replicas) == 0 && ch.count() > 0 {
		errs = append(errs, errors.New("no running container: the changes are sent when one starts"))
	}
	for r := range execRules {
		for _, rs := range res {
			if rs.err == nil {
				errs = append(errs, sv.runExec(ctx, rs.rp, r))
			}
		}
	}
	if action == model.WatchRestart || action == model.WatchSyncRestart {
		if err := sv.s.o.Engine.Restart(ctx, sv.name); err != nil {
			errs = append(errs, fmt.Errorf("unable to restart %s: %w", sv.name, err))
		}
		// Each container's exec ended with it.
		for _, rp := range sv.replicas {
			rp.closeTransport()
		}
	}
	sv.publish(action, b.First, ch, res, errors.Join(errs...))
}

// runExec runs a sync+exec rule's command in one container.
func (sv *service) runExec(ctx context.Context, rp *replica, r *rule) error {
	var env []string
	for k, v := range r.w.ExecEnv {
		env = append(env, k+"="+v)
	}
	sort.Strings(env)
	var out tailWriter
	code, err := sv.s.o.Engine.Exec(ctx, rp.c.ID, ExecSpec{Cmd: r.w.Exec, User: r.w.ExecUser, WorkDir: r.w.ExecWorkDir, Env: env, Stdout: &out, Stderr: &out})
	if err != nil {
		return fmt.Errorf("%s: exec %s: %w", rp.c.Name, strings.Join(r.w.Exec, " "), err)
	}
	if code != 0 {
		return fmt.Errorf("%s: exec %s exited with %d: %s", rp.c.Name, strings.Join(r.w.Exec, " "), code, out.String())
	}
	return nil
}

// each runs f for every replica in parallel.
func (sv *service) each(ctx context.Context, f func(*replica) result) []result {
	var all []*replica
	for _, rp := range sv.replicas {
		all = append(all, rp)
	}
	return sv.eachOf(all, f)
}

func (sv *service) eachOf(rps []*replica, f func(*replica) result) []result {
	out := make([]result, len(rps))
	var wg gosync.WaitGroup
	for i, rp := range rps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = f(rp)
		}()
	}
	wg.Wait()
	for _, r := range out {
		if r.err != nil {
			r.rp.failures++
			sv.markRefresh() // the container may be gone
		} else {
			r.rp.failures = 0
		}
	}
	return out
}

func (sv *service) hasPending() bool {
	for _, rp := range sv.replicas {
		if rp.pending.count() > 0 || rp.needResync {
			return true
		}
	}
	return false
}

// scheduleRetry wakes the loop again while something is pending, backing
// off from 100ms to 5s.
func (sv *service) scheduleRetry() {
	if sv.retry != nil {
		sv.retry.Stop()
		sv.retry = nil
	}
	worst := -1
	for _, rp := range sv.replicas {
		if (rp.pending.count() > 0 || rp.needResync) && rp.failures > worst {
			worst = rp.failures
		}
	}
	if worst < 0 {
		return
	}
	d := 100 * time.Millisecond << min(worst, 6)
	if worst == 0 {
		d = 50 * time.Millisecond // a file changed while read: send it again soon
	}
	d = min(d, 5*time.Second)
	sv.retry = sv.s.o.Clock.AfterFunc(d, sv.poke)
}

// publish reports one batch.
func (sv *service) publish(action string, start time.Time, ch changes, res []result, extra error) {
	e := event.Sync{Service: sv.name, Action: action, LatencyMS: ms(sv.s.o.Clock.Now().Sub(start))}
	var errs []error
	for _, r := range res {
		e.Containers = append(e.Containers, r.rp.c.Name)
		if len(r.conflicts) > 0 {
			errs = append(errs, fmt.Errorf("%s: %w", r.rp.c.Name, &manifest.SymlinkError{Paths: r.conflicts}))
		}
		if r.err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", r.rp.c.Name, r.err))
			continue
		}
		e.Files = max(e.Files, r.files)
		e.Deleted = max(e.Deleted, r.deleted)
		e.Bytes = max(e.Bytes, r.bytes)
	}
	sort.Strings(e.Containers)
	if extra != nil {
		errs = append(errs, extra)
	}
	e.Error = errString(errors.Join(errs...))
	if ch != nil {
		e.Paths = ch.rels(5)
	}
	if action != "initial" && e.Files == 0 && e.Deleted == 0 && e.Error == "" && (action == model.WatchSync || action == "") {
		return // nothing happened (an editor's temp file came and went)
	}
	sv.publishEvent(e)
}

func (sv *service) publishEvent(e event.Sync) {
	e.Time = sv.s.o.Clock.Now()
	sv.s.o.Sink.Publish(e)
}

// strongest picks the action a batch reports: a rebuild wins over a
// restart, which wins over an exec, which wins over a plain sync.
func strongest(actions []string) string {
	rank := map[string]int{model.WatchSync: 1, model.WatchSyncExec: 2, model.WatchRestart: 3, model.WatchSyncRestart: 4, model.WatchRebuild: 5}
	best := ""
	for _, a := range actions {
		if rank[a] > rank[best] {
			best = a
		}
	}
	return best
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func few(paths map[string]batch.Change) []string {
	var out []string
	for p := range paths {
		out = append(out, p)
	}
	sort.Strings(out)
	if len(out) > 5 {
		out = out[:5]
	}
	return out
}

// tailWriter keeps the end of a command's output for error messages.
type tailWriter struct {
	mu  gosync.Mutex
	buf []byte
}

func (t *tailWriter) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > 1024 {
		t.buf = t.buf[len(t.buf)-1024:]
	}
	return len(p), nil
}

func (t *tailWriter) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(t.buf))
}
