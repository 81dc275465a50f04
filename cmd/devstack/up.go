package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"devstack/engine"
	"devstack/engine/event"
	"devstack/engine/model"
	"devstack/tui"
)

type upFlags struct {
	detach        bool
	wait          bool
	waitTimeout   time.Duration
	build         bool
	noBuild       bool
	forceRecreate bool
	noRecreate    bool
	renewVolumes  bool
	removeOrphans bool
	timeout       int
	noTUI         bool
	noSync        bool
	noForward     bool

	// Attached up for CI, as Compose has them.
	abortOnExit    bool
	abortOnFailure bool
	exitCodeFrom   string
	attach         []string
	noAttach       []string
	noLogPrefix    bool
	timestamps     bool

	noDeps             bool
	noStart            bool
	alwaysRecreateDeps bool
	scale              []string // SERVICE=N
	pull               string
	quietPull          bool
}

// logOnly reports whether a flag asks for the plain log stream rather than
// the dashboard: they speak of attached logs and exit codes.
func (f upFlags) logOnly() bool {
	return f.abortOnExit || f.abortOnFailure || f.exitCodeFrom != "" || len(f.attach) > 0 ||
		len(f.noAttach) > 0 || f.noLogPrefix || f.timestamps
}

func newUpCmd(g *globals) *cobra.Command {
	var f upFlags
	cmd := &cobra.Command{
		Use:   "up [SERVICE...]",
		Short: "Build, create and start the stack (attached: logs or the dashboard; -d: in the background)",
		RunE: func(cmd *cobra.Command, args []string) error {
			return runUp(cmd.Context(), g, f, args)
		},
	}
	fl := cmd.Flags()
	fl.BoolVarP(&f.detach, "detach", "d", false, "start in the background and return")
	fl.BoolVar(&f.wait, "wait", false, "wait until every service is running and healthy (implies -d)")
	fl.Var((*secondsOrDuration)(&f.waitTimeout), "wait-timeout", "give up waiting after this long: seconds, as Compose, or a duration (2m)")
	fl.BoolVar(&f.build, "build", false, "build images before starting, even when present")
	fl.BoolVar(&f.noBuild, "no-build", false, "never build; fail when an image is missing")
	fl.BoolVar(&f.forceRecreate, "force-recreate", false, "recreate containers even when unchanged")
	fl.BoolVar(&f.noRecreate, "no-recreate", false, "keep existing containers even when changed")
	fl.BoolVarP(&f.renewVolumes, "renew-anon-volumes", "V", false, "give recreated containers new anonymous volumes instead of the old containers' (with --force-recreate: every container)")
	fl.BoolVar(&f.removeOrphans, "remove-orphans", envBool("COMPOSE_REMOVE_ORPHANS"), "remove containers of services the file no longer defines (default: COMPOSE_REMOVE_ORPHANS)")
	fl.IntVarP(&f.timeout, "timeout", "t", -1, "seconds to wait for containers to stop when interrupted (default: each service's stop_grace_period)")
	fl.BoolVar(&f.noTUI, "no-tui", false, "stream prefixed logs instead of opening the dashboard")
	fl.BoolVar(&f.noSync, "no-sync", false, "do not sync files for develop.watch rules")
	fl.BoolVar(&f.noForward, "no-forward", false, "on a remote engine, do not forward published ports to 127.0.0.1 here")
	fl.BoolVar(&f.abortOnExit, "abort-on-container-exit", false, "stop the stack when any attached container stops, and exit with its code (implies --no-tui)")
	fl.BoolVar(&f.abortOnFailure, "abort-on-container-failure", false, "stop the stack when any attached container exits non-zero, and exit with its code (implies --no-tui)")
	fl.StringVar(&f.exitCodeFrom, "exit-code-from", "", "exit with the code of this service's container; implies --abort-on-container-exit")
	fl.StringArrayVar(&f.attach, "attach", nil, "show the output of these services only (repeatable; implies --no-tui)")
	fl.StringArrayVar(&f.noAttach, "no-attach", nil, "do not show the output of these services (repeatable; implies --no-tui)")
	fl.BoolVar(&f.noLogPrefix, "no-log-prefix", false, "leave out the container prefix of log lines (implies --no-tui)")
	fl.BoolVar(&f.timestamps, "timestamps", false, "show timestamps on log lines (implies --no-tui)")
	fl.BoolVar(&f.noDeps, "no-deps", false, "do not start the services the named ones depend on")
	fl.BoolVar(&f.noStart, "no-start", false, "create the containers, start none (implies -d)")
	fl.BoolVar(&f.alwaysRecreateDeps, "always-recreate-deps", false, "recreate the containers of the services the named ones depend on, even when unchanged")
	fl.StringArrayVar(&f.scale, "scale", nil, "run N containers of SERVICE, over the file's scale/replicas (SERVICE=N, repeatable)")
	fl.StringVar(&f.pull, "pull", "policy", "pull images: always, missing, never, or policy (each service's pull_policy)")
	fl.BoolVar(&f.quietPull, "quiet-pull", false, "pull without showing progress")
	return cmd
}

// secondsOrDuration is a flag taking Compose's whole seconds ("30") or a
// Go duration ("2m").
type secondsOrDuration time.Duration

func (d *secondsOrDuration) String() string { return time.Duration(*d).String() }
func (d *secondsOrDuration) Type() string   { return "duration" }
func (d *secondsOrDuration) Set(s string) error {
	if n, err := strconv.Atoi(s); err == nil && n >= 0 {
		*d = secondsOrDuration(time.Duration(n) * time.Second)
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil || v < 0 {
		return fmt.Errorf("%q is neither seconds nor a duration such as 90s or 2m", s)
	}
	*d = secondsOrDuration(v)
	return nil
}

// parseScale reads --scale SERVICE=N values.
func parseScale(values []string) (map[string]int, error) {
	if len(values) == 0 {
		return nil, nil
	}
	out := map[string]int{}
	for _, v := range values {
		name, num, ok := strings.Cut(v, "=")
		n, err := strconv.Atoi(num)
		if !ok || name == "" || err != nil || n < 0 {
			return nil, fmt.Errorf("--scale %q: use SERVICE=N with N a whole number (web=3)", v)
		}
		out[name] = n
	}
	return out, nil
}

// pullEvents drops image pull progress (up --quiet-pull); failures still
// come back as errors.
type pullEvents struct{ next event.Sink }

func (q pullEvents) Publish(e event.Event) {
	if p, ok := e.(event.Progress); ok && p.Kind == event.KindImage && p.Action == event.Pulling {
		return
	}
	q.next.Publish(e)
}

func runUp(ctx context.Context, g *globals, f upFlags, services []string) error {
	if f.build && f.noBuild {
		return fmt.Errorf("--build and --no-build contradict each other: pick one")
	}
	if err := checkOrphanFlags(f.removeOrphans); err != nil {
		return err
	}
	if f.forceRecreate && f.noRecreate {
		return fmt.Errorf("--force-recreate and --no-recreate contradict each other: pick one")
	}
	if f.renewVolumes && f.noRecreate {
		return fmt.Errorf("--renew-anon-volumes and --no-recreate contradict each other: new volumes come only with new containers")
	}
	if f.exitCodeFrom != "" && !f.abortOnFailure {
		f.abortOnExit = true // as Compose: the code is known once the stack stops
	}
	if f.abortOnExit && f.abortOnFailure {
		return fmt.Errorf("--abort-on-container-exit and --abort-on-container-failure contradict each other: pick one")
	}
	if (f.detach || f.wait) && f.logOnly() {
		return fmt.Errorf("-d/--wait cannot be combined with --abort-on-container-exit, --abort-on-container-failure, --exit-code-from, --attach, --no-attach, --no-log-prefix or --timestamps: they act on the attached output")
	}
	switch f.pull {
	case "policy", "":
		f.pull = ""
	case "always", "missing", "never":
	default:
		return fmt.Errorf("--pull %q: use always, missing, never or policy", f.pull)
	}
	scale, err := parseScale(f.scale)
	if err != nil {
		return err
	}
	if f.noStart && (f.wait || f.logOnly()) {
		return fmt.Errorf("--no-start starts nothing: it cannot be combined with --wait or the flags of attached output")
	}
	if f.alwaysRecreateDeps && f.noRecreate {
		return fmt.Errorf("--always-recreate-deps and --no-recreate contradict each other: pick one")
	}
	if f.wait || f.noStart || g.dryRun { // a dry run has nothing to attach to
		f.detach = true
	}
	s, err := g.open(ctx, services)
	if err != nil {
		return err
	}
	defer s.Close()
	if f.exitCodeFrom != "" {
		if _, ok := s.project.Service(f.exitCodeFrom); !ok {
			return fmt.Errorf("--exit-code-from %s: no such service in the project (it has %v)", f.exitCodeFrom, s.project.ServiceNames())
		}
	}
	if !g.dryRun {
		if err := finishRestore(ctx, g, s); err != nil {
			return err
		}
	}
	attachTo, err := attachTargets(s.project, services, f.attach, f.noAttach, f.exitCodeFrom)
	if err != nil {
		return err
	}
	g.warnRemoteBinds(s)
	opts := engine.UpOptions{
		Services:         services,
		Build:            f.build,
		NoBuild:          f.noBuild,
		ForceRecreate:    f.forceRecreate,
		NoRecreate:       f.noRecreate,
		RenewAnonVolumes: f.renewVolumes,
		RemoveOrphans:    f.removeOrphans,
		Wait:             f.wait,
		WaitTimeout:      f.waitTimeout,

		NoDeps:             f.noDeps,
		NoStart:            f.noStart,
		AlwaysRecreateDeps: f.alwaysRecreateDeps,
		Scale:              scale,
		Pull:               f.pull,
		BeforeStart:        seedSyncedBinds(s.project, s.rt, s.engine),
	}
	var upSink event.Sink = s.out
	if f.quietPull {
		upSink = pullEvents{next: s.out}
	}

	liveSync := !f.noSync && hasWatchRules(s.project, services)

	// On a terminal, attached up is the dashboard. It handles Ctrl-C as a
	// key (quit, asking whether to stop the stack), so no signal handler.
	if !f.detach && !f.noTUI && !f.logOnly() && (g.progress == "auto" || g.progress == "tty") && isTerminal(g.stdout) {
		return runDashboard(ctx, g, s.project, s.rt, dashboardOptions{
			services: services, quit: tui.QuitAsk, tail: "all", forward: !f.noForward,
			work: func(ctx context.Context, e *engine.Engine) error {
				opts := opts
				opts.BeforeStart = seedSyncedBinds(s.project, s.rt, e) // its events on the dashboard
				if err := e.Up(ctx, s.project, opts); err != nil {
					return err
				}
				if liveSync {
					return runSync(ctx, e, s.project, services, "")
				}
				return nil
			},
		})
	}

	// The first Ctrl-C cancels ctx; the second kills what is being stopped.
	killCtx, kill := context.WithCancel(context.Background())
	defer kill()
	ctx, stopSignals := signalContext(ctx, kill)
	defer stopSignals()

	if f.detach {
		if err := g.engine(s.rt, upSink).Up(ctx, s.project, opts); err != nil {
			if ctx.Err() != nil {
				// Ctrl-C: what was made stays for the next up or down,
				// as with Compose; the exit status says it is not done.
				return &exitError{code: 130, err: errors.New("interrupted: the stack is not fully up; run up again to finish, or down")}
			}
			return &exitError{code: 1, err: err}
		}
		g.ensureForwarder(ctx, s.project, s.rt, s.out, f.noForward)
		return nil
	}

	// Attached: this process forwards the ports while it runs, and hands
	// them to a background forwarder if it leaves the stack running.
	fw := g.startForwarding(ctx, s.project, s.rt, s.out, f.noForward)
	defer fw.stop(true)

	// Attached: follow logs from before the first container starts, so no
	// line is missed, and until every container has stopped.
	policy := &exitPolicy{from: f.exitCodeFrom}
	switch {
	case f.abortOnExit:
		policy.cascade = cascadeExit
	case f.abortOnFailure:
		policy.cascade = cascadeFailure
	}
	abort := make(chan struct{})
	var abortOnce sync.Once
	var stopping atomic.Bool // exits after this are the stop's own, not news
	// The monitor ends only once up has started everything and each
	// container it started has stopped: a service waiting for another
	// to complete starts after the first one's exit.
	upDone := make(chan []string, 1)
	started := &startedNames{next: upSink, services: attachTo}
	upEngine := g.engine(s.rt, started)
	logs := &logStyle{next: s.out, out: g.stdout, timestamps: f.timestamps, noPrefix: f.noLogPrefix}
	attached, stopMonitor := context.WithCancel(context.Background())
	defer stopMonitor()
	monitorDone := make(chan error, 1)
	if len(attachTo) == 0 {
		// Nothing to follow (every service --no-attach or attach: false):
		// up runs until Ctrl-C, as Compose does.
		go func() { <-attached.Done(); monitorDone <- nil }()
	} else {
		go func() {
			monitorDone <- engine.New(s.rt, logs).Monitor(attached, s.project, engine.MonitorOptions{
				Services: attachTo, Logs: true, Tail: "all", UntilStopped: true, UpDone: upDone,
				OnStop: func(c model.Container) {
					if !stopping.Load() {
						fmt.Fprintf(g.stdout, "%s exited with code %d\n", c.Name, c.ExitCode)
					}
					if policy.stopped(c.Service, c.ExitCode) {
						abortOnce.Do(func() { close(abort) })
					}
				},
			})
		}()
	}
	upErr := upEngine.Up(ctx, s.project, opts)
	upDone <- started.names()
	close(upDone)
	if upErr != nil && ctx.Err() == nil {
		// A failed up leaves what it made for the next up or down.
		stopMonitor()
		<-monitorDone
		return &exitError{code: 1, err: upErr}
	}
	if upErr == nil && liveSync {
		go func() {
			if err := runSync(attached, s.engine, s.project, services, ""); err != nil && attached.Err() == nil {
				s.out.Publish(event.Warning{Time: time.Now(), Message: "live sync stopped: " + err.Error()})
			}
		}()
	}
	aborting := false
	if upErr == nil {
		select {
		case <-ctx.Done(): // Ctrl-C
		case <-abort:
			aborting = true
		case err := <-monitorDone: // every container stopped by itself
			select {
			case <-abort: // ...the last one's exit asks to stop the rest
				aborting = true
				monitorDone <- err // read again below
			default:
				return exitCode(policy.exitCode())
			}
		}
	}
	// Interrupted: stop what was started, as compose does.
	stopping.Store(true)
	if aborting {
		fmt.Fprintln(g.stderr, "Aborting on container exit...")
	} else {
		fmt.Fprintln(g.stderr, "Gracefully stopping... (press Ctrl+C again to force)")
	}
	stopCtx, cancel := context.WithCancel(killCtx)
	defer cancel()
	var timeout *time.Duration
	if f.timeout >= 0 {
		d := time.Duration(f.timeout) * time.Second
		timeout = &d
	}
	// Up has returned: every start it asked for has been answered (the
	// engine sees them through), so this stop finds all it started.
	stopErr := s.engine.Stop(stopCtx, s.project, services, timeout)
	if killCtx.Err() != nil {
		zero := time.Duration(0)
		stopErr = s.engine.Stop(context.Background(), s.project, services, &zero)
	}
	// The monitor ends by itself once it has seen every container stop,
	// which is when the last exit code (--exit-code-from's) is known.
	if len(attachTo) == 0 {
		stopMonitor()
	}
	select {
	case <-monitorDone:
	case <-time.After(30 * time.Second):
		stopMonitor()
		<-monitorDone
	}
	if stopErr != nil {
		return &exitError{code: 1, err: stopErr}
	}
	if aborting && ctx.Err() == nil {
		return exitCode(policy.exitCode())
	}
	return &exitError{code: 130}
}

// exitCode turns a container's exit code into up's result.
func exitCode(code int) error {
	if code == 0 {
		return nil
	}
	return &exitError{code: code}
}

// hasWatchRules reports whether any of the services (all when none are
// named) has develop.watch rules, so that up runs live sync.
func hasWatchRules(p *model.Project, services []string) bool {
	for _, svc := range p.Services {
		if len(services) > 0 && !slices.Contains(services, svc.Name) {
			continue
		}
		if len(svc.Watch) > 0 {
			return true
		}
	}
	return false
}
