package main

import (
	"context"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/spf13/cobra"

	"devstack/engine/docker"
	"devstack/engine/load"
)

func newBuildCmd(g *globals) *cobra.Command {
	var noCache, pull bool
	cmd := &cobra.Command{
		Use:   "build [SERVICE...]",
		Short: "Build the images of services that have a build: section",
		RunE: g.withSession(true, func(ctx context.Context, s *session, args []string) error {
			targets := args
			if len(targets) == 0 {
				for _, svc := range s.project.Services {
					if svc.Build != nil {
						targets = append(targets, svc.Name)
					}
				}
			}
			for _, name := range targets {
				svc, _ := s.project.Service(name)
				if svc.Build == nil {
					return fmt.Errorf("service %q has no build: section, so there is nothing to build", name)
				}
				svc.Build.Pull = svc.Build.Pull || pull
			}
			if len(targets) == 0 {
				fmt.Fprintln(g.stderr, "no service has a build: section; nothing to build")
				return nil
			}
			return s.engine.Build(ctx, s.project, targets, noCache)
		}),
	}
	cmd.Flags().BoolVar(&noCache, "no-cache", false, "do not use the build cache")
	cmd.Flags().BoolVar(&pull, "pull", false, "always try to pull newer base images")
	return cmd
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
			out, err := load.Config(cmd.Context(), g.loadOptions(nil), format)
			if err != nil {
				return err
			}
			if !quiet {
				_, err = g.stdout.Write(out)
			}
			return err
		},
	}
	cmd.Flags().StringVar(&format, "format", "yaml", "output format: yaml or json")
	cmd.Flags().BoolVar(&services, "services", false, "print the service names, one per line")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "only validate")
	return cmd
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
