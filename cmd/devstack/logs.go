package main

import (
	"fmt"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"devstack/cmd/devstack/render"
	"devstack/engine"
	"devstack/engine/event"
)

func newLogsCmd(g *globals) *cobra.Command {
	var (
		follow     bool
		tail       string
		timestamps bool
		noPrefix   bool
	)
	cmd := &cobra.Command{
		Use:   "logs [SERVICE...]",
		Short: "Show the output of the stack's containers",
		RunE: func(cmd *cobra.Command, args []string) error {
			p, rt, err := g.existing(cmd.Context())
			if err != nil {
				return err
			}
			defer rt.Close()
			if err := engine.CheckServices(p, args); err != nil {
				return err
			}
			var out event.Sink
			if g.progress == "json" {
				out = render.NewJSON(g.stdout)
			} else {
				plain := render.NewPlain(g.stdout, g.stderr, g.colour())
				out = &logLines{plain: plain, timestamps: timestamps, noPrefix: noPrefix, g: g}
			}
			ctx, stop := signalContext(cmd.Context(), nil)
			defer stop()
			err = engine.New(rt, out).Logs(ctx, p, engine.LogsOptions{Services: args, Tail: tail, Follow: follow})
			if ctx.Err() != nil {
				return nil // Ctrl-C ends -f
			}
			return err
		},
	}
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "follow the output, including containers that start later")
	cmd.Flags().StringVarP(&tail, "tail", "n", "all", "lines to show from the end of each container's output")
	cmd.Flags().BoolVarP(&timestamps, "timestamps", "t", false, "show timestamps")
	cmd.Flags().BoolVar(&noPrefix, "no-log-prefix", false, "leave out the container prefix")
	return cmd
}

// logLines renders only log events, with the options of `logs`.
type logLines struct {
	mu         sync.Mutex
	plain      *render.Plain
	timestamps bool
	noPrefix   bool
	g          *globals
}

func (l *logLines) Publish(e event.Event) {
	ev, ok := e.(event.Log)
	if !ok {
		return
	}
	if l.timestamps {
		ev.Line = ev.Time.UTC().Format(time.RFC3339Nano) + " " + ev.Line
	}
	if l.noPrefix {
		l.mu.Lock()
		fmt.Fprintln(l.g.stdout, ev.Line)
		l.mu.Unlock()
		return
	}
	l.plain.Publish(ev)
}
