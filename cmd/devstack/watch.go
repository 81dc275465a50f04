package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"devstack/engine"
	"devstack/engine/model"
	devsync "devstack/sync"
)

func newWatchCmd(g *globals) *cobra.Command {
	var (
		noUp      bool
		transport string
		noForward bool
	)
	cmd := &cobra.Command{
		Use:   "watch [SERVICE...]",
		Short: "Start the services in the background and keep them in line with the host as develop.watch says",
		Long: "Start the services in the background (as up -d does), then follow develop.watch: copy\n" +
			"changed files into every container of the service (one way: the host tree is only ever\n" +
			"read), rebuild or restart as the rules say. Each container gets an initial sync of what\n" +
			"differs (x-devstack.sync.initial: false turns it off). Ctrl-C stops watching and leaves\n" +
			"the stack running.",
		RunE: g.withSession(true, func(ctx context.Context, s *session, args []string) error {
			g.warnRemoteBinds(s)
			ctx, stop := signalContext(ctx, nil)
			defer stop()
			// Watch leaves the stack running: its forwards go to a
			// background forwarder when it ends.
			fw := g.startForwarding(ctx, s.project, s.rt, s.out, noForward)
			defer fw.stop(true)
			if !noUp {
				if err := s.engine.Up(ctx, s.project, engine.UpOptions{Services: args, BeforeStart: seedSyncedBinds(s.project, s.rt, s.engine)}); err != nil {
					if ctx.Err() != nil {
						return nil
					}
					return &exitError{code: 1, err: err}
				}
			}
			err := runSync(ctx, s.engine, s.project, args, transport)
			if ctx.Err() != nil {
				return nil // Ctrl-C ends watch
			}
			return err
		}),
	}
	cmd.Flags().BoolVar(&noForward, "no-forward", false, "on a remote engine, do not forward published ports to 127.0.0.1 here")
	cmd.Flags().BoolVar(&noUp, "no-up", false, "do not start the services first: sync the running ones")
	cmd.Flags().StringVar(&transport, "transport", "", "force the way files go into containers: exec (a long-lived tar in the container) or archive (the engine's archive API); default: exec when the image has a shell and tar")
	return cmd
}

// runSync keeps the containers of services (all with develop.watch rules
// when none is named) in line with the host until ctx ends. Its events go
// where e's go, and rebuilds run through e; a monitor of container states
// tells it when containers start, so restarted and recreated containers
// get their initial sync.
func runSync(ctx context.Context, e *engine.Engine, p *model.Project, services []string, transport string) error {
	if len(services) > 0 {
		var watched []string
		for _, name := range services {
			if svc, ok := p.Service(name); ok && len(svc.Watch) > 0 {
				watched = append(watched, name)
			}
		}
		if len(watched) == 0 {
			return fmt.Errorf("none of %v has develop.watch rules: nothing to watch", services)
		}
		services = watched
	}
	sy, err := devsync.New(devsync.Options{
		Project:   p,
		Services:  services,
		Engine:    &syncEngine{rt: e.Runtime(), e: e, p: p},
		Sink:      e.Sink(),
		Transport: transport,
		Compress:  isRemote(e.Runtime()),
	})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	monitorDone := make(chan error, 1)
	go func() {
		// Container states go to the syncer only (it is an event.Sink).
		monitorDone <- engine.New(e.Runtime(), sy).Monitor(ctx, p, engine.MonitorOptions{Services: sy.Services(), States: true})
	}()
	err = sy.Run(ctx)
	cancel()
	if merr := <-monitorDone; merr != nil && !errors.Is(merr, context.Canceled) && err == nil {
		err = merr
	}
	return err
}
