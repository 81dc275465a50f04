package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"devstack/engine"
	"devstack/engine/model"
)

// shellScript starts bash where the image has it, else sh.
const shellScript = "if command -v bash >/dev/null 2>&1; then exec bash; else exec sh; fi"

func newShellCmd(g *globals) *cobra.Command {
	var index int
	cmd := &cobra.Command{
		Use:     "shell [SERVICE]",
		Aliases: []string{"ssh"},
		Short:   "An interactive shell in a service's container (default: the first service with a build)",
		Long: `Opens bash (or sh, where the image has no bash) in the service's running container, as the
service's user and in its working_dir, with the terminal's size kept in sync: Vagrant's "vagrant ssh".
Without SERVICE: the first service the compose file builds, else the first one running.`,
		Args: cobra.MaximumNArgs(1),
		RunE: g.withExisting(func(ctx context.Context, s *session, args []string) error {
			cs, err := s.engine.Containers(ctx, s.project, nil, false)
			if err != nil {
				return err
			}
			svc, err := shellService(s.project, cs, args)
			if err != nil {
				return err
			}
			var target *model.Container
			for i := range cs {
				if cs[i].Service == svc.Name && cs[i].Number == index && !cs[i].OneOff && cs[i].State == model.StateRunning {
					target = &cs[i]
				}
			}
			if target == nil {
				return fmt.Errorf("service %q has no running container number %d: start it with `devstack up -d %s`", svc.Name, index, svc.Name)
			}
			opts := engine.ExecOptions{User: svc.User, WorkDir: svc.WorkingDir}
			// A probe first: without a shell the engine's own error
			// ("OCI runtime exec failed…") would say little.
			var out bytes.Buffer
			probe := opts
			probe.Cmd, probe.Stdout, probe.Stderr = []string{"sh", "-c", "exit 0"}, &out, &out
			if code, err := s.rt.Exec(ctx, target.ID, probe); err != nil || code != 0 {
				why := strings.TrimSpace(out.String())
				if err != nil {
					why = err.Error()
				}
				return fmt.Errorf("service %q has no shell: the image of %s has neither bash nor sh (%s); run one of its own programs with `devstack exec %s PROGRAM`", svc.Name, target.Name, why, svc.Name)
			}
			tty := wantTTY(g, false)
			t, err := openTerminal(g, tty)
			if err != nil {
				return err
			}
			defer t.close()
			opts.Cmd, opts.Tty, opts.Resize = []string{"sh", "-c", shellScript}, tty, t.sizes
			opts.Stdin, opts.Stdout, opts.Stderr = g.stdin, g.stdout, g.stderr
			if term := os.Getenv("TERM"); tty && term != "" {
				opts.Env = []string{"TERM=" + term}
			}
			code, err := s.rt.Exec(ctx, target.ID, opts)
			if err != nil {
				return err
			}
			if code != 0 {
				return &exitError{code: code}
			}
			return nil
		}),
	}
	cmd.Flags().IntVar(&index, "index", 1, "which replica, when the service has several")
	return cmd
}

// shellService is the service named, else the first the compose file
// builds, else the first with a running container.
func shellService(p *model.Project, cs []model.Container, args []string) (*model.Service, error) {
	if len(args) == 1 {
		svc, ok := p.Service(args[0])
		if !ok {
			return nil, engine.CheckServices(p, args)
		}
		return svc, nil
	}
	for i := range p.Services {
		if p.Services[i].Build != nil {
			return &p.Services[i], nil
		}
	}
	for _, c := range cs {
		if c.State == model.StateRunning && !c.OneOff {
			if svc, ok := p.Service(c.Service); ok {
				return svc, nil
			}
		}
	}
	return nil, fmt.Errorf("project %s has no service with a build and none running: name the service (`devstack shell SERVICE`)", p.Name)
}
