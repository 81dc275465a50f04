package main

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"devstack/cmd/devstack/render"
	"devstack/engine/docker"
	"devstack/engine/event"
	"devstack/engine/graph"
	"devstack/engine/load"
	"devstack/engine/model"
)

// buildFlags are build's Compose flags.
type buildFlags struct {
	noCache, pull, push, quiet, withDeps bool
	args                                 []string
	ssh                                  string
}

func newBuildCmd(g *globals) *cobra.Command {
	var f buildFlags
	cmd := &cobra.Command{
		Use:   "build [SERVICE...]",
		Short: "Build the images of services that have a build: section",
		PreRunE: func(*cobra.Command, []string) error {
			if _, err := parseBuildSSH(f.ssh); err != nil {
				return err
			}
			for _, a := range f.args {
				if k, _, _ := strings.Cut(a, "="); k == "" {
					return fmt.Errorf("invalid --build-arg %q: write KEY=VALUE, or KEY to take its value from the environment", a)
				}
			}
			return nil
		},
		RunE: g.withSession(true, func(ctx context.Context, s *session, args []string) error {
			return runBuild(ctx, g, s, args, f)
		}),
	}
	fl := cmd.Flags()
	fl.BoolVar(&f.noCache, "no-cache", false, "do not use the build cache")
	fl.BoolVar(&f.pull, "pull", false, "always try to pull newer base images")
	fl.StringArrayVar(&f.args, "build-arg", nil, "set a build argument, KEY=VALUE or KEY (its value from the environment; repeatable)")
	fl.BoolVar(&f.push, "push", false, "push each built image to its registry (the service's image: name)")
	fl.StringVar(&f.ssh, "ssh", "", "SSH agents or keys the build may use (RUN --mount=type=ssh): default (your agent), or ID=PATH, comma-separated")
	fl.BoolVarP(&f.quiet, "quiet", "q", false, "print nothing but errors")
	fl.BoolVar(&f.withDeps, "with-dependencies", false, "also build the images of the services they depend on")
	return cmd
}

func runBuild(ctx context.Context, g *globals, s *session, args []string, f buildFlags) error {
	targets := args
	if len(targets) > 0 && f.withDeps {
		gr, err := graph.New(s.project)
		if err != nil {
			return err
		}
		targets = gr.Closure(targets)
	}
	explicit := len(args) > 0
	if len(targets) == 0 {
		for _, svc := range s.project.Services {
			if svc.Build != nil {
				targets = append(targets, svc.Name)
			}
		}
	}
	ssh, _ := parseBuildSSH(f.ssh)
	var built []string
	for _, name := range targets {
		svc, _ := s.project.Service(name)
		if svc.Build == nil {
			if explicit && slices.Contains(args, name) {
				return fmt.Errorf("service %q has no build: section, so there is nothing to build", name)
			}
			continue // a dependency with an image of its own
		}
		b := *svc.Build
		b.Pull = b.Pull || f.pull
		if len(f.args) > 0 {
			b.Args = maps.Clone(b.Args)
			if b.Args == nil {
				b.Args = map[string]*string{}
			}
			for _, a := range f.args {
				k, v, found := strings.Cut(a, "=")
				if !found {
					// As Compose: KEY alone takes its value from the
					// environment (.env included); unset, the Dockerfile's
					// default holds.
					val, ok := s.project.Environment[k]
					if !ok {
						b.Args[k] = nil
						continue
					}
					v = val
				}
				b.Args[k] = &v
			}
		}
		for _, k := range ssh {
			b.SSH = slices.DeleteFunc(slices.Clone(b.SSH), func(old model.SSHKey) bool { return old.ID == k.ID })
			b.SSH = append(b.SSH, k)
		}
		svc.Build = &b
		built = append(built, name)
	}
	if len(built) == 0 {
		fmt.Fprintln(g.stderr, "no service has a build: section; nothing to build")
		return nil
	}
	e, sink := s.engine, event.Sink(s.out)
	if f.quiet {
		sink = render.NewQuiet(g.stderr)
		e = g.engine(s.rt, sink)
	}
	if err := e.Build(ctx, s.project, built, f.noCache); err != nil {
		return err
	}
	if !f.push || g.dryRun {
		return nil
	}
	pushed := map[string]bool{}
	for _, name := range built {
		svc, _ := s.project.Service(name)
		if pushed[svc.Image] {
			continue
		}
		pushed[svc.Image] = true
		start := time.Now()
		if _, err := s.rt.Push(ctx, svc.Image, svc.Image, sink); err != nil {
			return fmt.Errorf("service %q: %w", name, err)
		}
		sink.Publish(event.Progress{Time: time.Now(), Kind: event.KindImage, Name: svc.Image, Service: name, Action: "pushed", Duration: time.Since(start).Seconds()})
	}
	return nil
}

// parseBuildSSH reads --ssh: "default" (the agent), "ID=PATH" (a key file
// or an agent's socket), comma-separated, as Compose and docker build take it.
func parseBuildSSH(spec string) ([]model.SSHKey, error) {
	if spec == "" {
		return nil, nil
	}
	var out []model.SSHKey
	for _, part := range strings.Split(spec, ",") {
		id, path, _ := strings.Cut(strings.TrimSpace(part), "=")
		if id == "" {
			return nil, fmt.Errorf("invalid --ssh %q: write default, or ID=PATH of a key or agent socket, comma-separated", spec)
		}
		if path != "" {
			abs, err := filepath.Abs(path)
			if err != nil {
				return nil, err
			}
			path = abs
		}
		out = append(out, model.SSHKey{ID: id, Path: path})
	}
	return out, nil
}

func newPullCmd(g *globals) *cobra.Command {
	var ignoreFailures bool
	cmd := &cobra.Command{
		Use:   "pull [SERVICE...]",
		Short: "Pull the images of services",
		RunE: g.withSession(true, func(ctx context.Context, s *session, args []string) error {
			err := s.engine.Pull(ctx, s.project, args)
			if err != nil && ignoreFailures {
				fmt.Fprintln(g.stderr, "warning:", err)
				return nil
			}
			return err
		}),
	}
	cmd.Flags().BoolVar(&ignoreFailures, "ignore-pull-failures", false, "report failures but exit 0")
	return cmd
}

func newConfigCmd(g *globals) *cobra.Command {
	var (
		format   string
		services bool
		quiet    bool
	)
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Validate the compose file and print it resolved (interpolated, merged, normalised)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if services {
				p, err := g.project(cmd.Context(), nil)
				if err != nil {
					return err
				}
				for _, n := range p.ServiceNames() {
					fmt.Fprintln(g.stdout, n)
				}
				return nil
			}
			if format != "yaml" && format != "json" {
				return fmt.Errorf("unknown --format %q: use yaml or json", format)
			}
			out, warnings, err := load.Config(cmd.Context(), g.loadOptions(nil), format)
			if err != nil {
				return err
			}
			// The warnings up would print (ignored fields, unset
			// variables, an obsolete version:), on stderr as up has them.
			for _, w := range warnings {
				fmt.Fprintln(g.stderr, "warning:", w.String())
			}
			if !quiet {
				_, err = g.stdout.Write(escapeDollars(out))
			}
			return err
		},
	}
	cmd.Flags().StringVar(&format, "format", "yaml", "output format: yaml or json")
	cmd.Flags().BoolVar(&services, "services", false, "print the service names, one per line")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "only validate")
	return cmd
}

// escapeDollars writes each $ of the resolved project as $$, as Compose's
// config does: the output is a compose file again, and fed back to config
// (or up) its values come out as they went in instead of being
// interpolated a second time.
func escapeDollars(b []byte) []byte {
	return bytes.ReplaceAll(b, []byte("$"), []byte("$$"))
}

// version is set at build time with -ldflags "-X main.version=...".
var version = ""

// buildVersion is the release version stamped in at link time, else the
// module's, else the commit the binary was built from.
func buildVersion() string {
	if version != "" {
		return version
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "dev"
	}
	if v := info.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	rev, modified := "", false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if rev == "" {
		return "dev"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if modified {
		rev += ", modified"
	}
	return "dev (commit " + rev + ")"
}

func newVersionCmd(g *globals) *cobra.Command {
	var short bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version of devstack (and of the engine it reaches)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := buildVersion()
			if short {
				fmt.Fprintln(g.stdout, v)
				return nil
			}
			fmt.Fprintf(g.stdout, "devstack version %s\n", v)
			// The engine too, as `docker version` does; devstack's own
			// version is known either way, so an unreachable engine is
			// reported, not an error.
			ctx, cancel := context.WithTimeout(cmd.Context(), 5*time.Second)
			defer cancel()
			rt, err := g.runtime(ctx)
			if err == nil {
				defer rt.Close()
				var ev docker.EngineVersion
				if ev, err = rt.EngineVersion(ctx); err == nil {
					fmt.Fprintf(g.stdout, "engine %s (API %s, %s/%s) at %s\n", ev.Version, ev.APIVersion, ev.OS, ev.Arch, rt.Host())
					return nil
				}
			}
			fmt.Fprintf(g.stdout, "engine: not reachable: %v\n", err)
			return nil
		},
	}
	cmd.Flags().BoolVar(&short, "short", false, "only the version number")
	return cmd
}
