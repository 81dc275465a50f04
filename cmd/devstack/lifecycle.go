package main

import (
	"time"

	"github.com/spf13/cobra"

	"devstack/engine"
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
	)
	cmd := &cobra.Command{
		Use:   "down",
		Short: "Stop and remove the stack's containers and networks (and volumes with -v)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := g.open(cmd.Context(), nil)
			if err != nil {
				return err
			}
			defer s.Close()
			return s.engine.Down(cmd.Context(), s.project, engine.DownOptions{Volumes: volumes, RemoveOrphans: orphans, Timeout: timeout.duration()})
		},
	}
	cmd.Flags().BoolVarP(&volumes, "volumes", "v", false, "also remove named volumes declared in the file and anonymous volumes")
	cmd.Flags().BoolVar(&orphans, "remove-orphans", false, "also remove containers of services the file no longer defines")
	addTimeout(cmd, &timeout)
	return cmd
}

func newStartCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "start [SERVICE...]",
		Short: "Start existing containers, in dependency order",
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := g.open(cmd.Context(), nil)
			if err != nil {
				return err
			}
			defer s.Close()
			return s.engine.Start(cmd.Context(), s.project, args)
		},
	}
}

func newStopCmd(g *globals) *cobra.Command {
	var timeout timeoutFlag
	cmd := &cobra.Command{
		Use:   "stop [SERVICE...]",
		Short: "Stop running containers without removing them",
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := g.open(cmd.Context(), nil)
			if err != nil {
				return err
			}
			defer s.Close()
			if err := engine.CheckServices(s.project, args); err != nil {
				return err
			}
			return s.engine.Stop(cmd.Context(), s.project, args, timeout.duration())
		},
	}
	addTimeout(cmd, &timeout)
	return cmd
}

func newRestartCmd(g *globals) *cobra.Command {
	var timeout timeoutFlag
	cmd := &cobra.Command{
		Use:   "restart [SERVICE...]",
		Short: "Restart containers",
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := g.open(cmd.Context(), nil)
			if err != nil {
				return err
			}
			defer s.Close()
			return s.engine.Restart(cmd.Context(), s.project, args, timeout.duration())
		},
	}
	addTimeout(cmd, &timeout)
	return cmd
}
