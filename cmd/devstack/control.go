package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

func newPauseCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "pause [SERVICE...]",
		Short: "Pause the running containers of services",
		RunE: g.withExisting(func(ctx context.Context, s *session, args []string) error {
			return s.engine.Pause(ctx, s.project, args)
		}),
	}
}

func newUnpauseCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "unpause [SERVICE...]",
		Short: "Unpause the paused containers of services",
		RunE: g.withExisting(func(ctx context.Context, s *session, args []string) error {
			return s.engine.Unpause(ctx, s.project, args)
		}),
	}
}

func newKillCmd(g *globals) *cobra.Command {
	var signal string
	cmd := &cobra.Command{
		Use:   "kill [SERVICE...]",
		Short: "Send a signal to the running containers of services (default SIGKILL)",
		RunE: g.withExisting(func(ctx context.Context, s *session, args []string) error {
			sig, err := normaliseSignal(signal)
			if err != nil {
				return err
			}
			return s.engine.Kill(ctx, s.project, args, sig)
		}),
	}
	cmd.Flags().StringVarP(&signal, "signal", "s", "SIGKILL", "signal to send: a name (SIGTERM, HUP) or a number")
	return cmd
}

// knownSignals are the names the engine accepts on Linux.
var knownSignals = map[string]bool{
	"ABRT": true, "ALRM": true, "BUS": true, "CHLD": true, "CONT": true, "FPE": true, "HUP": true, "ILL": true,
	"INT": true, "IO": true, "IOT": true, "KILL": true, "PIPE": true, "POLL": true, "PROF": true, "PWR": true,
	"QUIT": true, "SEGV": true, "STKFLT": true, "STOP": true, "SYS": true, "TERM": true, "TRAP": true, "TSTP": true,
	"TTIN": true, "TTOU": true, "URG": true, "USR1": true, "USR2": true, "VTALRM": true, "WINCH": true, "XCPU": true, "XFSZ": true,
}

// normaliseSignal checks a signal before any container gets it, so a typo
// fails once with advice rather than once per container.
func normaliseSignal(s string) (string, error) {
	up := strings.ToUpper(strings.TrimSpace(s))
	name := strings.TrimPrefix(up, "SIG")
	if knownSignals[name] {
		return "SIG" + name, nil
	}
	var n int
	if _, err := fmt.Sscanf(up, "%d", &n); err == nil && n > 0 && n < 65 && fmt.Sprint(n) == up {
		return up, nil
	}
	if strings.HasPrefix(name, "RTMIN") || strings.HasPrefix(name, "RTMAX") {
		return "SIG" + name, nil
	}
	return "", fmt.Errorf("invalid --signal %q: use a signal name (SIGTERM, HUP, KILL) or number", s)
}
