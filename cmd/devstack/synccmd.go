package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"

	"github.com/spf13/cobra"

	"devstack/engine"
	"devstack/engine/model"
	devsync "devstack/sync"
)

// syncEngine adapts the engine to what live sync needs (sync.Engine).
type syncEngine struct {
	rt engine.Runtime
	e  *engine.Engine
	p  *model.Project
}

func newSyncEngine(s *session) *syncEngine {
	return &syncEngine{rt: s.rt, e: s.engine, p: s.project}
}

// Containers returns the running, non-one-off containers of a service;
// their user is the service's, so synced files belong to it.
func (a *syncEngine) Containers(ctx context.Context, service string) ([]devsync.Container, error) {
	cs, err := a.e.Containers(ctx, a.p, []string{service}, false)
	if err != nil {
		return nil, err
	}
	user := ""
	if svc, ok := a.p.Service(service); ok {
		user = svc.User
	}
	var out []devsync.Container
	for _, c := range cs {
		if c.Service == service && !c.OneOff && c.State == model.StateRunning {
			out = append(out, devsync.Container{ID: c.ID, Name: c.Name, User: user, Started: c.StartedAt})
		}
	}
	return out, nil
}

func (a *syncEngine) CopyTo(ctx context.Context, id, dir string, tar io.Reader) error {
	return a.rt.CopyTo(ctx, id, dir, tar)
}

func (a *syncEngine) CopyFrom(ctx context.Context, id, path string) (io.ReadCloser, error) {
	return a.rt.CopyFrom(ctx, id, path)
}

func (a *syncEngine) Exec(ctx context.Context, id string, x devsync.ExecSpec) (int, error) {
	return a.rt.Exec(ctx, id, engine.ExecOptions{Cmd: x.Cmd, User: x.User, WorkDir: x.WorkDir, Env: x.Env,
		Stdin: x.Stdin, Stdout: x.Stdout, Stderr: x.Stderr})
}

// Rebuild builds the service's image and lets up recreate what changed.
func (a *syncEngine) Rebuild(ctx context.Context, service string) error {
	return a.e.Up(ctx, a.p, engine.UpOptions{Services: []string{service}, Build: true, BeforeStart: seedSyncedBinds(a.p, a.rt, a.e)})
}

func (a *syncEngine) Restart(ctx context.Context, service string) error {
	return a.e.Restart(ctx, a.p, []string{service}, nil)
}

var _ devsync.Engine = (*syncEngine)(nil)

func newSyncCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sync",
		Short: "Inspect live sync: why a path is (not) synced, and drift between host and containers",
	}
	cmd.AddCommand(newSyncExplainCmd(g), newSyncCheckCmd(g))
	return cmd
}

func newSyncExplainCmd(g *globals) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "explain PATH...",
		Short: "Say whether a host path is synced, to which service and container path, or which ignore rule (file:line) excludes it",
		Long: "Say whether each host path is synced, to which service and container path, or which\n" +
			"ignore rule excludes it (.dockerignore file and line, the rule's ignore or include, or a\n" +
			"built-in such as editor swap files). Exits 1 when a path is not synced.",
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := g.project(cmd.Context(), nil)
			if err != nil {
				return err
			}
			all := true
			var out []devsync.Explanation
			for _, a := range args {
				abs, err := filepath.Abs(a)
				if err != nil {
					return err
				}
				e, err := devsync.Explain(p, abs)
				if err != nil {
					return err
				}
				all = all && e.Synced()
				out = append(out, e)
			}
			if err := printFormatted(g.stdout, format, out, func(w io.Writer) {
				for _, e := range out {
					fmt.Fprint(w, e.String())
				}
				// Where per-file watches would not fit the file limit
				// (macOS), say what sync does instead.
				if st, err := devsync.WatchStrategy(p); err == nil && st.Fallback() {
					fmt.Fprintf(w, "watching: %s\n", st)
				}
			}); err != nil {
				return err
			}
			if !all {
				return &exitError{code: 1}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&format, "format", "text", "output format: text or json")
	return cmd
}

func newSyncCheckCmd(g *globals) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "check [SERVICE...]",
		Short: "Compare the host trees of develop.watch sync rules with the running containers, changing nothing",
		Long: "Compare the host trees of develop.watch sync rules with each running container of the\n" +
			"services (all services with sync rules when none is named): files missing or different in\n" +
			"the container, files deleted on the host that sync will remove, and files the container\n" +
			"made itself, which sync never touches. Exits 1 when there is drift.",
		RunE: g.withSession(true, func(ctx context.Context, s *session, args []string) error {
			services := args
			if len(services) == 0 {
				for _, svc := range s.project.Services {
					if hasSyncRule(&svc) {
						services = append(services, svc.Name)
					}
				}
			}
			if len(services) == 0 {
				return fmt.Errorf("no service has develop.watch sync rules: nothing to check")
			}
			eng := newSyncEngine(s)
			var out []devsync.Drift
			clean := true
			for _, name := range services {
				d, err := devsync.Check(ctx, s.project, eng, name, devsync.CheckOptions{})
				if err != nil {
					return err
				}
				clean = clean && d.Clean()
				out = append(out, d)
			}
			if err := printFormatted(g.stdout, format, out, func(w io.Writer) {
				for _, d := range out {
					fmt.Fprint(w, d.String())
				}
			}); err != nil {
				return err
			}
			if !clean {
				return &exitError{code: 1}
			}
			return nil
		}),
	}
	cmd.Flags().StringVar(&format, "format", "text", "output format: text or json")
	return cmd
}

func hasSyncRule(svc *model.Service) bool {
	for _, w := range svc.Watch {
		switch w.Action {
		case model.WatchSync, model.WatchSyncRestart, model.WatchSyncExec:
			return true
		}
	}
	return false
}

// printFormatted writes v as indented JSON, or as text through text.
func printFormatted(w io.Writer, format string, v any, text func(io.Writer)) error {
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	case "text", "":
		text(w)
		return nil
	default:
		return fmt.Errorf("unknown format %q: use text or json", format)
	}
}
