package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
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
	fl.DurationVar(&f.waitTimeout, "wait-timeout", 0, "give up waiting after this long (e.g. 2m)")
	fl.BoolVar(&f.build, "build", false, "build images before starting, even when present")
	fl.BoolVar(&f.noBuild, "no-build", false, "never build; fail when an image is missing")
	fl.BoolVar(&f.forceRecreate, "force-recreate", false, "recreate containers even when unchanged")
	fl.BoolVar(&f.noRecreate, "no-recreate", false, "keep existing containers even when changed")
	fl.BoolVarP(&f.renewVolumes, "renew-anon-volumes", "V", false, "give recreated containers new anonymous volumes instead of the old containers' (with --force-recreate: every container)")
	fl.BoolVar(&f.removeOrphans, "remove-orphans", false, "remove containers of services the file no longer defines")
	fl.IntVarP(&f.timeout, "timeout", "t", -1, "seconds to wait for containers to stop when interrupted (default: each service's stop_grace_period)")
	fl.BoolVar(&f.noTUI, "no-tui", false, "stream prefixed logs instead of opening the dashboard")
	fl.BoolVar(&f.noSync, "no-sync", false, "do not sync files for develop.watch rules")
	fl.BoolVar(&f.noForward, "no-forward", false, "on a remote engine over SSH, do not forward published ports to 127.0.0.1 here")
	return cmd
}

func runUp(ctx context.Context, g *globals, f upFlags, services []string) error {
	if f.build && f.noBuild {
		return fmt.Errorf("--build and --no-build contradict each other: pick one")
	}
	if f.forceRecreate && f.noRecreate {
		return fmt.Errorf("--force-recreate and --no-recreate contradict each other: pick one")
	}
	if f.renewVolumes && f.noRecreate {
		return fmt.Errorf("--renew-anon-volumes and --no-recreate contradict each other: new volumes come only with new containers")
	}
	if f.wait {
		f.detach = true
	}
	s, err := g.open(ctx, services)
	if err != nil {
		return err
	}
	defer s.Close()
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
	}

	sync := !f.noSync && hasWatchRules(s.project, services)

	// On a terminal, attached up is the dashboard. It handles Ctrl-C as a
	// key (quit, asking whether to stop the stack), so no signal handler.
	if !f.detach && !f.noTUI && (g.progress == "auto" || g.progress == "tty") && isTerminal(g.stdout) {
		return runDashboard(ctx, g, s.project, s.rt, dashboardOptions{
			services: services, quit: tui.QuitAsk, tail: "all", forward: !f.noForward,
			work: func(ctx context.Context, e *engine.Engine) error {
				if err := e.Up(ctx, s.project, opts); err != nil {
					return err
				}
				if sync {
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
		if err := s.engine.Up(ctx, s.project, opts); err != nil {
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
	attached, stopMonitor := context.WithCancel(context.Background())
	defer stopMonitor()
	monitorDone := make(chan error, 1)
	go func() {
		monitorDone <- s.engine.Monitor(attached, s.project, engine.MonitorOptions{
			Services: services, Logs: true, Tail: "all", UntilStopped: true,
		})
	}()
	upErr := s.engine.Up(ctx, s.project, opts)
	if upErr != nil && ctx.Err() == nil {
		// A failed up leaves what it made for the next up or down.
		stopMonitor()
		<-monitorDone
		return &exitError{code: 1, err: upErr}
	}
	if upErr == nil && sync {
		go func() {
			if err := runSync(attached, s.engine, s.project, services, ""); err != nil && attached.Err() == nil {
				s.out.Publish(event.Warning{Time: time.Now(), Message: "live sync stopped: " + err.Error()})
			}
		}()
	}
	if upErr == nil {
		select {
		case <-ctx.Done(): // Ctrl-C
		case <-monitorDone: // every container stopped by itself
			return nil
		}
	}
	// Interrupted: stop what was started, as compose does.
	fmt.Fprintln(g.stderr, "Gracefully stopping... (press Ctrl+C again to force)")
	stopCtx, cancel := context.WithCancel(killCtx)
	defer cancel()
	var timeout *time.Duration
	if f.timeout >= 0 {
		d := time.Duration(f.timeout) * time.Second
		timeout = &d
	}
	stopErr := s.engine.Stop(stopCtx, s.project, services, timeout)
	if killCtx.Err() != nil {
		zero := time.Duration(0)
		stopErr = s.engine.Stop(context.Background(), s.project, services, &zero)
	}
	stopMonitor()
	<-monitorDone
	if stopErr != nil {
		return &exitError{code: 1, err: stopErr}
	}
	return &exitError{code: 130}
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
