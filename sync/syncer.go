package sync

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	gosync "sync"
	"sync/atomic"
	"time"

	"devstack/engine/event"
	"devstack/engine/model"
	"devstack/engine/state"
	"devstack/sync/batch"
	"devstack/sync/clock"
	"devstack/sync/ignore"
	"devstack/sync/record"
	"devstack/sync/watch"
)

// Syncer keeps the containers of a project's services in line with the
// host paths of their develop.watch rules.
type Syncer struct {
	o        Options
	services []*service
	ready    chan struct{}

	mu      gosync.Mutex
	started map[string]time.Time // container ID -> StartedAt last seen in a State event; guarded by mu
	warned  map[string]bool      // warnings already published; guarded by mu

	watcher atomic.Pointer[watch.Watcher] // set once watching started
}

// DefaultStateDir is where records of synced paths are kept for a
// project: under the user's state directory (see state.Dir), never a
// shared temporary one where another user could read or plant files.
func DefaultStateDir(project string) (string, error) {
	if project == "" || strings.ContainsAny(project, `/\`) || project == "." || project == ".." {
		return "", fmt.Errorf("unable to keep sync records for project %q: not a project name", project)
	}
	dir, err := state.Dir()
	if err != nil {
		return "", fmt.Errorf("unable to keep sync records: %w", err)
	}
	return filepath.Join(dir, "sync", project), nil
}

// New checks the watch rules of the selected services and prepares a
// Syncer; nothing is watched until Run.
func New(o Options) (*Syncer, error) {
	if o.Project == nil || o.Engine == nil {
		return nil, errors.New("sync needs a project and an engine")
	}
	if o.Sink == nil {
		o.Sink = event.Discard
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.HugeBatch <= 0 {
		o.HugeBatch = 1000
	}
	if o.Refresh <= 0 {
		o.Refresh = 5 * time.Second
	}
	switch o.Transport {
	case TransportAuto, TransportExec, TransportArchive:
	default:
		return nil, fmt.Errorf("unknown sync transport %q (want exec or archive)", o.Transport)
	}
	switch o.StateDir {
	case "":
		dir, err := DefaultStateDir(o.Project.Name)
		if err != nil {
			return nil, err
		}
		o.StateDir = dir
	case "-":
		o.StateDir = ""
	}
	s := &Syncer{o: o, ready: make(chan struct{}), started: map[string]time.Time{}, warned: map[string]bool{}}
	for _, name := range o.Services {
		if _, ok := o.Project.Service(name); !ok {
			return nil, fmt.Errorf("no such service: %s", name)
		}
	}
	for i := range o.Project.Services {
		svc := &o.Project.Services[i]
		if len(o.Services) > 0 && !contains(o.Services, svc.Name) {
			continue
		}
		if len(svc.Watch) == 0 {
			if len(o.Services) > 0 {
				return nil, fmt.Errorf("service %s has no develop.watch rules to sync", svc.Name)
			}
			continue
		}
		rules, err := newRules(svc)
		if err != nil {
			return nil, err
		}
		s.services = append(s.services, newService(s, svc, rules))
	}
	if len(s.services) == 0 {
		return nil, errors.New("no service has develop.watch rules: nothing to sync (see https://docs.docker.com/compose/how-tos/file-watch/)")
	}
	return s, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Services returns the names of the services being synced.
func (s *Syncer) Services() []string {
	var out []string
	for _, sv := range s.services {
		out = append(out, sv.name)
	}
	return out
}

// Ready is closed once every watch is in place and the first sync of
// every running container is done.
func (s *Syncer) Ready() <-chan struct{} { return s.ready }

// Run watches and syncs until ctx ends. It returns an error only when
// watching cannot start; later problems are published as events.
func (s *Syncer) Run(ctx context.Context) error {
	if s.o.StateDir != "" {
		record.Prune(s.o.StateDir, 30*24*time.Hour)
	}
	var roots []string
	for _, sv := range s.services {
		for _, r := range sv.rules {
			if _, err := os.Lstat(r.root); err != nil {
				s.warn(sv.name, fmt.Sprintf("%s: %v (watching for it to appear)", r, err))
			}
			roots = append(roots, r.watchPath())
		}
	}
	w, err := watch.Start(watch.Options{
		Roots:      roots,
		SkipDir:    s.skipDir,
		OnChange:   s.dispatch,
		OnOverflow: s.overflow,
		OnError:    func(err error) { s.warn("", err.Error()) },
	})
	if err != nil {
		return err
	}
	defer w.Close()
	s.watcher.Store(w)
	if st := w.Strategy(); st.Fallback() {
		s.o.Sink.Publish(event.Sync{Time: s.o.Clock.Now(), Service: strings.Join(s.Services(), ","), Action: event.SyncWatch, Note: st.String()})
	}

	var wg gosync.WaitGroup
	var readyWG gosync.WaitGroup
	for _, sv := range s.services {
		wg.Add(1)
		readyWG.Add(1)
		go func() {
			defer wg.Done()
			sv.run(ctx, readyWG.Done)
		}()
	}
	go func() {
		readyWG.Wait()
		close(s.ready)
	}()
	<-ctx.Done()
	wg.Wait()
	return nil
}

// ContainerStarted tells the syncer a container of service is (again)
// running: it gets an initial sync (or the changes it missed, when the
// initial sync is turned off). The wiring calls it on event.State
// "running"; Publish does that by itself.
func (s *Syncer) ContainerStarted(service, id string) {
	for _, sv := range s.services {
		if sv.name == service {
			sv.containerStarted(id)
		}
	}
}

// Publish makes the Syncer an event.Sink: put it in the engine's fan-out
// and a container's start (a new StartedAt in a "running" State event)
// calls ContainerStarted. Health changes repeat "running" with the same
// StartedAt and are ignored, as are states without one (the monitor's
// first listing).
func (s *Syncer) Publish(e event.Event) {
	st, ok := e.(event.State)
	if !ok || st.State != model.StateRunning || st.StartedAt.IsZero() {
		return // a zero StartedAt: a listing, not yet the start itself
	}
	s.mu.Lock()
	last, seen := s.started[st.ID]
	s.started[st.ID] = st.StartedAt
	s.mu.Unlock()
	if seen && last.Equal(st.StartedAt) {
		return
	}
	s.ContainerStarted(st.Service, st.ID)
}

// noteStarted remembers a container's start time, so that the State
// event reporting that same start does not sync it a second time.
func (s *Syncer) noteStarted(c Container) {
	if c.Started.IsZero() {
		return
	}
	s.mu.Lock()
	if _, ok := s.started[c.ID]; !ok {
		s.started[c.ID] = c.Started
	}
	s.mu.Unlock()
}

// dispatch hands a changed path to every service with a rule covering it.
func (s *Syncer) dispatch(path string, created bool) {
	for _, p := range s.asWritten(path) {
		s.dispatchOne(p, created)
	}
}

// asWritten returns the paths a watched path stands for: itself, and the
// same path below every symlinked watch path pointing to where it is.
func (s *Syncer) asWritten(path string) []string {
	out := []string{path}
	for _, sv := range s.services {
		for _, r := range sv.rules {
			if p, ok := r.fromWatched(path); ok && !contains(out, p) {
				out = append(out, p)
			}
		}
	}
	return out
}

func (s *Syncer) dispatchOne(path string, created bool) {
	for _, sv := range s.services {
		if path == sv.ignoreFile {
			sv.reloadIgnore()
			continue
		}
		for _, r := range sv.rules {
			if d := r.decide(path); d.Covered && (d.Synced || d.NotIncluded) {
				sv.batcher.Add(path, created)
				break
			}
		}
	}
}

// skipDir: a directory is not watched when every rule covering it
// excludes all of it.
func (s *Syncer) skipDir(watched string) bool {
	covered := false
	for _, dir := range s.asWritten(watched) {
		for _, sv := range s.services {
			for _, r := range sv.rules {
				if _, ok := ignore.Rel(r.root, dir); !ok || r.file() {
					continue
				}
				covered = true
				if !r.m.Load().SkipDir(dir) {
					return false
				}
			}
		}
	}
	return covered
}

// overflow: the kernel dropped events, so every service resyncs.
func (s *Syncer) overflow() {
	s.warn("", "too many file changes at once: the kernel dropped some events; resynchronising")
	for _, sv := range s.services {
		sv.batcher.Resync()
	}
}

// warn publishes a warning once per message.
func (s *Syncer) warn(service, msg string) {
	s.mu.Lock()
	key := service + "\x00" + msg
	seen := s.warned[key]
	s.warned[key] = true
	s.mu.Unlock()
	if !seen {
		s.o.Sink.Publish(event.Warning{Time: s.o.Clock.Now(), Service: service, Message: "sync: " + msg})
	}
}

// batchOptions picks a service's timing: its own x-devstack.sync, else
// the project's, else the defaults.
func batchOptions(p *model.Project, svc *model.Service, c Clock) batch.Options {
	o := batch.Options{Quiet: p.Ext.Sync.Quiet, MaxWait: p.Ext.Sync.MaxWait, Clock: c}
	if svc.Ext.Sync.Quiet > 0 {
		o.Quiet = svc.Ext.Sync.Quiet
	}
	if svc.Ext.Sync.MaxWait > 0 {
		o.MaxWait = svc.Ext.Sync.MaxWait
	}
	return o
}

// initialSync reports whether containers get an initial sync: yes unless
// x-devstack.sync.initial is false (service, then project) and no rule
// asks for it with initial_sync: true.
func initialSync(p *model.Project, svc *model.Service) bool {
	for _, w := range svc.Watch {
		if w.InitialSync {
			return true
		}
	}
	if svc.Ext.Sync.Initial != nil {
		return *svc.Ext.Sync.Initial
	}
	if p.Ext.Sync.Initial != nil {
		return *p.Ext.Sync.Initial
	}
	return true
}

// WatchStrategy says how `up` and `watch` would watch the project's
// develop.watch paths now: with a watch per file, or (where each costs an
// open file and they do not fit the limit) directories rescanned.
func WatchStrategy(p *model.Project) (watch.Strategy, error) {
	s := &Syncer{o: Options{Project: p, Clock: clock.Real{}}}
	var roots []string
	for i := range p.Services {
		svc := &p.Services[i]
		if len(svc.Watch) == 0 {
			continue
		}
		rules, err := newRules(svc)
		if err != nil {
			return watch.Strategy{}, err
		}
		s.services = append(s.services, newService(s, svc, rules))
		for _, r := range rules {
			roots = append(roots, r.watchPath())
		}
	}
	return watch.Plan(roots, s.skipDir), nil
}
