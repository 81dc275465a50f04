package main

import (
	"fmt"
	"strconv"
	"strings"
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
		since      string
		until      string
		index      int
	)
	cmd := &cobra.Command{
		Use:   "logs [SERVICE...]",
		Short: "Show the output of the stack's containers",
		RunE: func(cmd *cobra.Command, args []string) error {
			now := time.Now()
			from, err := logTime("--since", since, now)
			if err != nil {
				return err
			}
			to, err := logTime("--until", until, now)
			if err != nil {
				return err
			}
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
			// Following, the window and the replica are applied to the lines
			// as they come (the engine's follow has no end time).
			out = &logWindow{next: out, since: from, until: to, index: index}
			err = engine.New(rt, out).Logs(ctx, p, engine.LogsOptions{Services: args, Tail: tail, Follow: follow, Since: from, Until: to, Index: index})
			if ctx.Err() != nil {
				return nil // Ctrl-C ends -f
			}
			return err
		},
	}
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "follow the output, including containers that start later")
	cmd.Flags().StringVar(&since, "since", "", "only lines since this time: RFC 3339 (2026-01-02T13:23:37Z), a Unix time, or relative (42m, 1h30m)")
	cmd.Flags().StringVar(&until, "until", "", "only lines before this time: RFC 3339, a Unix time, or relative (42m)")
	cmd.Flags().IntVar(&index, "index", 0, "only this replica of each service (default: all)")
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

// logTime reads --since/--until as Compose does: RFC 3339 (with or
// without a zone or seconds), a Unix time, or a duration before now.
func logTime(flag, v string, now time.Time) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(v); err == nil {
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, v, time.Local); err == nil {
			return t, nil
		}
	}
	if sec, frac, ok := strings.Cut(v, "."); ok || sec != "" {
		if s, err := strconv.ParseInt(sec, 10, 64); err == nil {
			ns := int64(0)
			if ok {
				frac = (frac + "000000000")[:9]
				if ns, err = strconv.ParseInt(frac, 10, 64); err != nil {
					return time.Time{}, fmt.Errorf("invalid %s %q: use RFC 3339 (2026-01-02T13:23:37Z), a Unix time or a duration (42m)", flag, v)
				}
			}
			return time.Unix(s, ns), nil
		}
	}
	return time.Time{}, fmt.Errorf("invalid %s %q: use RFC 3339 (2026-01-02T13:23:37Z), a Unix time or a duration (42m)", flag, v)
}

// logWindow passes on the log lines of the chosen replica within the
// time window, and every other event.
type logWindow struct {
	next         event.Sink
	since, until time.Time
	index        int
}

func (w *logWindow) Publish(e event.Event) {
	if l, ok := e.(event.Log); ok {
		if (w.index > 0 && l.Replica != w.index) || (!w.since.IsZero() && l.Time.Before(w.since)) || (!w.until.IsZero() && !l.Time.Before(w.until)) {
			return
		}
	}
	w.next.Publish(e)
}
