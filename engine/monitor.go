package engine

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"devstack/engine/event"
	"devstack/engine/model"
)

// MonitorOptions choose what Monitor streams.
type MonitorOptions struct {
	Services []string // only these services' containers (all when empty)
	Logs     bool     // follow every container's output
	Tail     string   // log lines to show from before now ("all", "0", a number)
	Stats    bool     // sample CPU and memory
	States   bool     // publish State events
	// UntilStopped ends Monitor once every followed container has stopped
	// (attached `up` and `logs -f` end when the stack does).
	UntilStopped bool
	// OnStop, when set, is called each time a followed container stops
	// for good: not about to be started again by its restart policy, and
	// not the old container of a recreate (its replacement takes over).
	// Attached `up` decides its exit code and --abort-on-container-exit
	// with it. It is called from the monitor's goroutine: keep it short.
	OnStop func(c model.Container)
	// UpDone, with UntilStopped, holds the end while `up` is still
	// starting the stack (a container waiting for a dependency to
	// complete has not started yet; the stack has not stopped). Up sends
	// the names of the containers it started, then closes it; Monitor
	// then ends once each of those has stopped too.
	UpDone <-chan []string
}

// Monitor publishes the project's container states, logs and stats until
// ctx ends. It follows containers that start later (restarts, recreations,
// scale-ups) and, when the engine connection breaks, reports it and
// reconnects by itself, resuming every stream.
func (e *Engine) Monitor(ctx context.Context, p *model.Project, o MonitorOptions) error {
	m := &monitor{e: e, p: p, o: o, followed: map[string]context.CancelFunc{}, again: map[string]model.Container{}, running: map[string]bool{}, lastLine: map[string]time.Time{}, known: map[string]model.Container{}, replaced: map[string]bool{}, expect: map[string]bool{}, held: o.UpDone != nil}
	want := map[string]bool{}
	for _, s := range o.Services {
		want[s] = true
	}
	m.want = want
	backoff := minRetry
	connected := true
	for {
		err := m.session(ctx, &connected)
		if err == errAllStopped {
			// Every container stopped: their log streams end by
			// themselves once the last line is read. Let them, so a
			// short-lived container's output is not cut off.
			m.drain(ctx, 10*time.Second)
		}
		if ctx.Err() != nil || err == errAllStopped {
			m.stopAll()
			return nil
		}
		if connected {
			// The link was up: this outage starts again from short
			// waits, whatever the previous one grew them to.
			connected = false
			backoff = minRetry
			e.sink.Publish(event.Connection{Time: e.now(), Host: e.rt.Host(), Connected: false, Error: errString(err)})
		}
		select {
		case <-ctx.Done():
			m.stopAll()
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxRetry)
	}
}

// The monitor's waits between attempts to reach the engine again. An
// attempt costs next to nothing when the engine is away (a refused
// connection), and every second of waiting is a second the dashboard
// shows the engine gone after it is back: so never more than a second.
const (
	minRetry = 100 * time.Millisecond
	maxRetry = time.Second
)

var errAllStopped = fmt.Errorf("every container stopped")

func errString(err error) string {
	if err == nil {
		return "event stream ended"
	}
	return err.Error()
}

type monitor struct {
	e    *Engine
	p    *model.Project
	o    MonitorOptions
	want map[string]bool

	mu       sync.Mutex
	followed map[string]context.CancelFunc // container ID -> stops its log/stats streams
	again    map[string]model.Container    // container ID -> started again while its last run's stream was open
	running  map[string]bool               // container ID -> running, for UntilStopped
	logs     sync.WaitGroup                // the log streams running
	lastLine map[string]time.Time          // container ID -> time of the last line published
	known    map[string]model.Container    // container ID -> its last published state
	// replaced holds the IDs of containers a recreate is replacing: their
	// end is not the stack's (the replacement, created first, takes over).
	replaced map[string]bool
	// expect holds the names of containers up started whose stop the
	// monitor has not seen yet; held is set until up is done.
	expect map[string]bool
	held   bool
}

// session runs one connection's worth of monitoring: it subscribes to
// events, takes a snapshot, and follows until the stream breaks.
func (m *monitor) session(ctx context.Context, connected *bool) error {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	events, errs := m.e.rt.Events(sctx, m.p.Name)
	if m.o.States {
		m.publishListed(sctx)
	}
	obs, err := m.e.rt.Observe(sctx, m.p)
	if err != nil {
		return err
	}
	if !*connected {
		*connected = true
		m.e.sink.Publish(event.Connection{Time: m.e.now(), Host: m.e.rt.Host(), Connected: true})
	}
	cs := obs.Containers
	sort.Slice(cs, func(i, j int) bool { return cs[i].Name < cs[j].Name })
	for _, c := range cs {
		if !m.wanted(c) {
			continue
		}
		m.publishState(c)
		tail := m.o.Tail
		if m.shown(c.ID) {
			// Followed before the engine went away: only what came
			// after the last line shown (it may have written more
			// before it stopped, and again since it restarted).
			tail = "resume"
		}
		if c.State == model.StateRunning || c.State == model.StateRestarting {
			m.follow(ctx, c, tail)
		} else if m.o.Logs && m.o.Tail != "0" && !m.o.UntilStopped {
			m.follow(ctx, c, tail)
		}
	}
	if m.o.UntilStopped && m.allStopped() {
		return errAllStopped
	}
	upDone := m.o.UpDone
	if !m.isHeld() {
		upDone = nil
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-errs:
			return err
		case names, ok := <-upDone:
			if !ok {
				upDone = nil
				m.release(nil)
			} else {
				m.release(names)
			}
			if m.o.UntilStopped && m.allStopped() {
				return errAllStopped
			}
		case ev, ok := <-events:
			if !ok {
				return nil
			}
			if ev.OneOff || (len(m.want) > 0 && !m.want[ev.Service]) {
				continue
			}
			m.handle(ctx, ev)
			if m.o.UntilStopped && m.allStopped() {
				return errAllStopped
			}
		}
	}
}

// publishListed shows the containers as the engine's list has them, before
// the full snapshot: one call, where the snapshot inspects every container
// (on a loaded or distant engine, most of a second for 20). Their StartedAt
// is unknown (zero) until the snapshot's states follow; nothing else of
// the monitor's own bookkeeping is touched.
func (m *monitor) publishListed(ctx context.Context) {
	cs, err := m.e.rt.ProjectContainers(ctx, m.p)
	if err != nil {
		return // the snapshot reports it
	}
	now := m.e.now()
	for _, c := range cs {
		if m.wanted(c) {
			m.e.sink.Publish(StateEvent(c, now))
		}
	}
}

// shown reports whether a line of container id was published already.
func (m *monitor) shown(id string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.lastLine[id]
	return ok
}

func (m *monitor) wanted(c model.Container) bool {
	return !c.OneOff && (len(m.want) == 0 || m.want[c.Service])
}

func (m *monitor) handle(ctx context.Context, ev ContainerEvent) {
	switch ev.Action {
	case "start", "health_status", "die", "create", "restart", "oom", "pause", "unpause",
		"rename": // a recreate's replacement taking its final name
	case "destroy":
		m.stoppedName(ev.Name)
		m.unfollow(ev.ID)
		m.mu.Lock()
		delete(m.known, ev.ID)
		m.mu.Unlock()
		m.e.sink.Publish(event.State{Time: ev.Time, Service: ev.Service, Container: strings.TrimPrefix(ev.Name, "/"), ID: ev.ID, Replica: ev.Number, State: "removed"})
		return
	default:
		return
	}
	if ev.Action == "oom" {
		// Nothing to inspect: an oom changes no state by itself (the die
		// that follows when the main process was the one killed does),
		// and the inspect, held while the engine cleans up after the
		// kill, would delay that die's report by up to a second.
		m.e.sink.Publish(event.Warning{Time: ev.Time, Service: ev.Service, Message: m.outOfMemory(ev)})
		return
	}
	if ev.Action == "die" {
		m.died(ev)
	}
	c, err := m.e.rt.InspectContainer(ctx, ev.ID)
	if err != nil {
		return
	}
	m.publishState(c)
	if ev.Action == "start" {
		// A new or restarted container: everything it wrote, or for one
		// followed before, everything after the last line shown — so no
		// line is lost and none is repeated. (Its StartedAt is no good as
		// a bound: the engine records it after the process has started.)
		m.follow(ctx, c, "resume")
	}
	if ev.Action == "die" && c.State != model.StateRestarting && c.State != model.StateRunning {
		m.mu.Lock()
		replaced := m.replaced[c.ID]
		if !replaced {
			m.running[c.ID] = false
		}
		m.mu.Unlock()
		if !replaced {
			m.stoppedName(c.Name)
			if m.o.OnStop != nil {
				m.o.OnStop(c)
			}
		}
	}
}

// died reports a container's exit the moment the engine says so. The
// inspect that follows can wait a good part of a second: the engine
// holds the container while it cleans up after the process. Whether
// it stopped for good (UntilStopped) is left to that inspect: a restart
// policy may be about to start it again.
func (m *monitor) died(ev ContainerEvent) {
	m.mu.Lock()
	c, ok := m.known[ev.ID]
	m.mu.Unlock()
	if !ok || !m.o.States {
		return
	}
	c.State, c.Health, c.ExitCode = model.StateExited, "", ev.ExitCode
	m.e.sink.Publish(StateEvent(c, m.e.now()))
}

// outOfMemory explains an oom event: the kernel killed a process of the
// container (its main one, or another: then it may run on).
func (m *monitor) outOfMemory(ev ContainerEvent) string {
	limit := "no mem_limit: the machine itself ran out"
	if svc, ok := m.p.Service(ev.Service); ok && svc.MemLimit > 0 {
		limit = fmt.Sprintf("mem_limit %s", mebibytes(svc.MemLimit))
	}
	return fmt.Sprintf("%s ran out of memory (%s): the kernel killed a process in it", strings.TrimPrefix(ev.Name, "/"), limit)
}

func mebibytes(n int64) string {
	if n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}

func (m *monitor) publishState(c model.Container) {
	m.mu.Lock()
	m.known[c.ID] = c
	// Only containers seen running count for UntilStopped: one just
	// created is about to start, not stopped.
	up := c.State == model.StateRunning || c.State == model.StateRestarting
	if old := c.Labels[model.LabelReplace]; old != "" && c.State == model.StateCreated {
		// The replacement of a recreate, created while the old container
		// still runs: the old one's stop is not the stack's, and the new
		// one counts as up until it has run and stopped.
		m.replaced[old] = true
		delete(m.running, old)
		up = true
	}
	if _, seen := m.running[c.ID]; seen || up {
		m.running[c.ID] = up
	}
	m.mu.Unlock()
	if !m.o.States {
		return
	}
	m.e.sink.Publish(StateEvent(c, m.e.now()))
}

// StateEvent turns an observed container into a State event.
func StateEvent(c model.Container, now time.Time) event.State {
	var ports []string
	for _, p := range c.Ports {
		ports = append(ports, FormatPort(p))
	}
	return event.State{Time: now, Service: c.Service, Container: c.Name, ID: c.ID, Replica: c.Number,
		State: c.State, Health: c.Health, ExitCode: c.ExitCode, Restarts: c.Restarts, StartedAt: c.StartedAt,
		Ports: ports, Image: c.Image}
}

// FormatPort renders a published port as docker does: 0.0.0.0:8080->80/tcp.
func FormatPort(p model.PublishedPort) string {
	if p.HostPort == 0 {
		return fmt.Sprintf("%d/%s", p.Target, p.Protocol)
	}
	ip := p.HostIP
	if ip == "" {
		ip = "0.0.0.0"
	}
	if strings.Contains(ip, ":") {
		ip = "[" + ip + "]"
	}
	return fmt.Sprintf("%s:%d->%d/%s", ip, p.HostPort, p.Target, p.Protocol)
}

func (m *monitor) allStopped() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return !m.held && len(m.expect) == 0 && len(m.running) > 0 && !anyTrue(m.running)
}

func (m *monitor) isHeld() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.held
}

// release records what up started (names), or, with nil, that up is done.
// A started container whose stop was seen already is not waited for.
func (m *monitor) release(names []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if names == nil {
		m.held = false
		return
	}
	stopped := map[string]bool{}
	for id, c := range m.known {
		if up, seen := m.running[id]; seen && !up {
			stopped[c.Name] = true
		}
	}
	for _, n := range names {
		if !stopped[n] {
			m.expect[n] = true
		}
	}
}

// stoppedName forgets an expected container once its stop is seen.
func (m *monitor) stoppedName(name string) {
	m.mu.Lock()
	delete(m.expect, strings.TrimPrefix(name, "/"))
	m.mu.Unlock()
}

func anyTrue(m map[string]bool) bool {
	for _, v := range m {
		if v {
			return true
		}
	}
	return false
}

// follow starts the log and stats streams of a container unless they run.
func (m *monitor) follow(ctx context.Context, c model.Container, tail string) {
	if !m.o.Logs && !m.o.Stats {
		return
	}
	m.mu.Lock()
	if _, ok := m.followed[c.ID]; ok {
		// A start seen while the previous run's stream is still open (the
		// engine ends it a while after the stop): follow again once it
		// ends, or this run's lines would never be read.
		m.again[c.ID] = c
		m.mu.Unlock()
		return
	}
	fctx, cancel := context.WithCancel(ctx)
	m.followed[c.ID] = cancel
	m.mu.Unlock()

	if m.o.Logs {
		m.logs.Add(1)
		go func() {
			defer m.logs.Done()
			if tail == "" {
				tail = "all"
			}
			opts := LogOptions{Follow: true, Tail: tail}
			if tail == "resume" {
				opts.Tail = "all"
				m.mu.Lock()
				if last, ok := m.lastLine[c.ID]; ok {
					opts.Since = last.Add(time.Nanosecond)
				}
				m.mu.Unlock()
			}
			_ = m.e.rt.Logs(fctx, c.ID, opts, func(stream, line string, t time.Time) {
				m.mu.Lock()
				m.lastLine[c.ID] = t
				m.mu.Unlock()
				m.e.sink.Publish(event.Log{Time: t, Service: c.Service, Container: c.Name, Replica: c.Number, Stream: stream, Line: line})
			})
			// The stream ends when the container stops; a later start
			// follows it again.
			m.unfollow(c.ID)
			m.mu.Lock()
			next, again := m.again[c.ID]
			delete(m.again, c.ID)
			m.mu.Unlock()
			if again && ctx.Err() == nil {
				m.follow(ctx, next, "resume")
			}
		}()
	}
	if m.o.Stats && c.State == model.StateRunning {
		go func() {
			_ = m.e.rt.Stats(fctx, c.ID, func(cpu float64, mem, limit uint64) {
				m.e.sink.Publish(event.Stats{Time: m.e.now(), Service: c.Service, Container: c.Name, CPUPercent: cpu, MemBytes: mem, MemLimit: limit})
			})
		}()
	}
}

// drain waits, at most for limit, until the log streams have ended.
func (m *monitor) drain(ctx context.Context, limit time.Duration) {
	done := make(chan struct{})
	go func() {
		m.logs.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
	case <-time.After(limit):
	}
}

func (m *monitor) unfollow(id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if cancel, ok := m.followed[id]; ok {
		cancel()
		delete(m.followed, id)
	}
}

func (m *monitor) stopAll() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for id, cancel := range m.followed {
		cancel()
		delete(m.followed, id)
	}
}

// LogsOptions tune Logs.
type LogsOptions struct {
	Services []string
	Tail     string
	Follow   bool
	// Since and Until bound the lines by time (zero: unbounded); Index
	// picks one replica (0: all). Without Follow.
	Since, Until time.Time
	Index        int
}

// Logs publishes the output of the project's containers. Without Follow
// it returns once every container's output so far was published, one
// container after the other; with Follow it goes on until ctx ends or
// every container has stopped.
func (e *Engine) Logs(ctx context.Context, p *model.Project, o LogsOptions) error {
	if o.Follow {
		return e.Monitor(ctx, p, MonitorOptions{Services: o.Services, Logs: true, Tail: o.Tail, UntilStopped: false})
	}
	cs, err := e.List(ctx, p, o.Services, true)
	if err != nil {
		return err
	}
	sort.Slice(cs, func(i, j int) bool { return cs[i].Name < cs[j].Name })
	for _, c := range cs {
		if c.OneOff || (o.Index > 0 && c.Number != o.Index) {
			continue
		}
		tail := o.Tail
		if tail == "" {
			tail = "all"
		}
		err := e.rt.Logs(ctx, c.ID, LogOptions{Tail: tail, Since: o.Since, Until: o.Until}, func(stream, line string, t time.Time) {
			e.sink.Publish(event.Log{Time: t, Service: c.Service, Container: c.Name, Replica: c.Number, Stream: stream, Line: line})
		})
		if err != nil {
			return fmt.Errorf("unable to read the logs of %s: %w", c.Name, err)
		}
	}
	return nil
}
