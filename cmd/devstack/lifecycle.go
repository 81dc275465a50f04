package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"devstack/engine"
	"devstack/engine/forward"
	"devstack/engine/plan"
)

// timeoutFlag is -t/--timeout in seconds; -1 means each service's own
// stop_grace_period.
type timeoutFlag int

func (t timeoutFlag) duration() *time.Duration {
	if t < 0 {
		return nil
	}
	d := time.Duration(t) * time.Second
	return &d
}

func addTimeout(cmd *cobra.Command, t *timeoutFlag) {
	cmd.Flags().IntVarP((*int)(t), "timeout", "t", -1, "seconds to wait for a container to stop before killing it (default: its stop_grace_period, else 10)")
}

func newDownCmd(g *globals) *cobra.Command {
	var (
		volumes, orphans bool
		timeout          timeoutFlag
		rmi              string
	)
	cmd := &cobra.Command{
		Use:   "down [SERVICE...]",
		Short: "Stop and remove the stack's containers and networks (and volumes with -v)",
		Long: `Stop and remove the stack's containers and networks (and volumes with -v, images with --rmi).

Given services, only their containers go, with those of the services that depend
on them; a network or volume another container still uses stays.`,
		PreRunE: func(*cobra.Command, []string) error {
			if err := checkOrphanFlags(orphans); err != nil {
				return err
			}
			switch rmi {
			case "", plan.RmiLocal, plan.RmiAll:
				return nil
			}
			return fmt.Errorf("invalid --rmi %q: use local (images built under the default name) or all (every image the services use)", rmi)
		},
		RunE: g.withExisting(func(ctx context.Context, s *session, args []string) error {
			err := s.engine.Down(ctx, s.project, engine.DownOptions{Volumes: volumes, RemoveOrphans: orphans, Timeout: timeout.duration(),
				Services: args, Images: rmi})
			if err == nil && len(args) == 0 {
				// The stack is gone: so are its forwards.
				if _, serr := forward.StopBackground(s.rt.Host(), s.project.Name, 5*time.Second); serr != nil {
					fmt.Fprintln(g.stderr, "warning:", serr)
				}
			}
			return err
		}),
	}
	cmd.Flags().BoolVarP(&volumes, "volumes", "v", false, "also remove named volumes declared in the file and anonymous volumes")
	cmd.Flags().BoolVar(&orphans, "remove-orphans", envBool("COMPOSE_REMOVE_ORPHANS"), "also remove containers of services the file no longer defines (default: COMPOSE_REMOVE_ORPHANS)")
	cmd.Flags().StringVar(&rmi, "rmi", "", "also remove images: local (built under the default name) or all (every image the services use)")
	addTimeout(cmd, &timeout)
	return cmd
}

func newStartCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "start [SERVICE...]",
		Short: "Start existing containers, in dependency order",
		RunE: g.withExisting(func(ctx context.Context, s *session, args []string) error {
			if err := s.engine.Start(ctx, s.project, args, seedSyncedBinds(s.project, s.rt, s.engine)); err != nil {
				return err
			}
			g.ensureForwarder(ctx, s.project, s.rt, s.out, false)
			return nil
		}),
	}
}

func newStopCmd(g *globals) *cobra.Command {
	var timeout timeoutFlag
	cmd := &cobra.Command{
		Use:   "stop [SERVICE...]",
		Short: "Stop running containers without removing them",
		RunE: g.withExisting(func(ctx context.Context, s *session, args []string) error {
			return s.engine.Stop(ctx, s.project, args, timeout.duration())
		}),
	}
	addTimeout(cmd, &timeout)
	return cmd
}

func newRestartCmd(g *globals) *cobra.Command {
	var timeout timeoutFlag
	cmd := &cobra.Command{
		Use:   "restart [SERVICE...]",
		Short: "Restart containers",
		RunE: g.withExisting(func(ctx context.Context, s *session, args []string) error {
			return s.engine.Restart(ctx, s.project, args, timeout.duration())
		}),
	}
	addTimeout(cmd, &timeout)
	return cmd
}
