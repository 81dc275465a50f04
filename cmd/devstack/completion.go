package main

import (
	"context"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"devstack/engine/load"
	"devstack/engine/model"
)

// Shell completion (cobra's dynamic completion, through its hidden
// __complete command): service names for the commands that take them,
// profiles for --profile, the engine's project names for -p. Completion
// never fails loudly: without a compose file or an engine it offers
// nothing, and it never prints the loader's warnings.

// Commands whose every argument is a service, and those whose first one is.
var (
	servicesArgs = []string{"up", "down", "start", "stop", "restart", "logs", "ps", "build", "pull", "create",
		"rm", "pause", "unpause", "kill", "top", "images", "wait", "events", "stats", "watch", "halt", "suspend", "resume"}
	serviceFirstArg = []string{"exec", "run", "port", "attach", "shell"}
	// Flags whose value is a service, per command.
	serviceFlags = map[string][]string{"up": {"exit-code-from", "attach", "no-attach"}}
)

// completionTimeout bounds what completion may wait for (the loader, the
// engine): a shell waits for it on every Tab.
const completionTimeout = 3 * time.Second

func addCompletions(g *globals, root *cobra.Command) {
	for _, c := range root.Commands() {
		switch {
		case slices.Contains(servicesArgs, c.Name()):
			c.ValidArgsFunction = func(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
				return withoutDone(g.completeServices(cmd.Context()), args), cobra.ShellCompDirectiveNoFileComp
			}
		case slices.Contains(serviceFirstArg, c.Name()):
			c.ValidArgsFunction = func(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
				if len(args) > 0 {
					return nil, cobra.ShellCompDirectiveDefault
				}
				return g.completeServices(cmd.Context()), cobra.ShellCompDirectiveNoFileComp
			}
		}
		for _, flag := range serviceFlags[c.Name()] {
			_ = c.RegisterFlagCompletionFunc(flag, func(cmd *cobra.Command, _ []string, _ string) ([]string, cobra.ShellCompDirective) {
				return g.completeServices(cmd.Context()), cobra.ShellCompDirectiveNoFileComp
			})
		}
	}
	_ = root.RegisterFlagCompletionFunc("profile", func(cmd *cobra.Command, _ []string, _ string) ([]string, cobra.ShellCompDirective) {
		ctx, cancel := context.WithTimeout(ctxOf(cmd), completionTimeout)
		defer cancel()
		names, _ := load.ProfileNames(ctx, g.loadOptions(nil))
		return names, cobra.ShellCompDirectiveNoFileComp
	})
	_ = root.RegisterFlagCompletionFunc("project-name", func(cmd *cobra.Command, _ []string, _ string) ([]string, cobra.ShellCompDirective) {
		return g.completeProjects(ctxOf(cmd)), cobra.ShellCompDirectiveNoFileComp
	})
}

func ctxOf(cmd *cobra.Command) context.Context {
	if ctx := cmd.Context(); ctx != nil {
		return ctx
	}
	return context.Background()
}

// completeServices lists the project's services, every profile's included
// (a service behind a profile may be named on the command line).
func (g *globals) completeServices(ctx context.Context) []string {
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithTimeout(ctx, completionTimeout)
	defer cancel()
	o := g.loadOptions(nil)
	o.Profiles = append(slices.Clone(o.Profiles), "*")
	p, err := load.Load(ctx, o)
	if err != nil {
		return nil
	}
	return p.ServiceNames()
}

// completeProjects lists the compose projects on the engine, Compose's
// and devstack's, from one container list.
func (g *globals) completeProjects(ctx context.Context) []string {
	ctx, cancel := context.WithTimeout(ctx, completionTimeout)
	defer cancel()
	rt, err := g.runtime(ctx)
	if err != nil {
		return nil
	}
	defer rt.Close()
	cs, err := rt.ListContainers(ctx, true)
	if err != nil {
		return nil
	}
	seen := map[string]bool{}
	for _, c := range cs {
		if name := c.Labels[model.LabelProject]; name != "" {
			seen[name] = true
		}
	}
	return slices.Sorted(maps.Keys(seen))
}

// withoutDone leaves out the services already on the command line.
func withoutDone(names, args []string) []string {
	return slices.DeleteFunc(names, func(n string) bool {
		return slices.ContainsFunc(args, func(a string) bool { return strings.EqualFold(a, n) })
	})
}
