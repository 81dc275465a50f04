package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strings"
	gosync "sync"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"devstack/engine"
	"devstack/engine/graph"
	"devstack/engine/model"
)

// ioFlags are the stdio flags exec and run share.
type ioFlags struct {
	noTTY   bool
	user    string
	workdir string
	env     []string
}

func (f *ioFlags) add(cmd *cobra.Command) {
	cmd.Flags().BoolVarP(&f.noTTY, "no-tty", "T", false, "do not allocate a terminal (default: one when stdin is a terminal)")
	cmd.Flags().StringVarP(&f.user, "user", "u", "", "run as this user")
	cmd.Flags().StringVarP(&f.workdir, "workdir", "w", "", "working directory inside the container")
	cmd.Flags().StringArrayVarP(&f.env, "env", "e", nil, "set an environment variable (NAME=value)")
}

// terminal hands the local terminal to a container: raw mode while it
// runs, and every window size change forwarded.
type terminal struct {
	fd      int
	restore func()
	sizes   chan engine.TermSize
	stop    func()
}

func openTerminal(g *globals, tty bool) (*terminal, error) {
	t := &terminal{restore: func() {}, stop: func() {}}
	f, ok := g.stdin.(*os.File)
	if !tty || !ok || !term.IsTerminal(int(f.Fd())) {
		return t, nil
	}
	t.fd = int(f.Fd())
	state, err := term.MakeRaw(t.fd)
	if err != nil {
		return nil, fmt.Errorf("unable to put the terminal in raw mode: %w", err)
	}
	undoOutput := prepareOutput(g.stdout)
	t.restore = func() { _ = term.Restore(t.fd, state); undoOutput() }
	// The window's size is read from the output when it is the terminal:
	// a Windows console answers only for its screen buffer (stdout), a
	// Unix terminal for either.
	sizeFd := t.fd
	if out, ok := g.stdout.(*os.File); ok && term.IsTerminal(int(out.Fd())) {
		sizeFd = int(out.Fd())
	}
	t.sizes = make(chan engine.TermSize, 1)
	var (
		mu   gosync.Mutex
		last engine.TermSize
	)
	send := func() {
		w, h, err := term.GetSize(sizeFd)
		if err != nil {
			return
		}
		size := engine.TermSize{Width: uint(w), Height: uint(h)}
		mu.Lock()
		defer mu.Unlock()
		if size == last {
			return // a poll (Windows) that found nothing new
		}
		select {
		case t.sizes <- size:
			last = size
		default:
		}
	}
	send()
	t.stop = watchResize(send)
	return t, nil
}

func (t *terminal) close() {
	t.stop()
	t.restore()
}

func wantTTY(g *globals, noTTY bool) bool {
	f, ok := g.stdin.(*os.File)
	return !noTTY && ok && term.IsTerminal(int(f.Fd()))
}

func newExecCmd(g *globals) *cobra.Command {
	var (
		f          ioFlags
		index      int
		detach     bool
		privileged bool
	)
	cmd := &cobra.Command{
		Use:   "exec [flags] SERVICE COMMAND [ARG...]",
		Short: "Run a command in a running container of a service",
		Args:  cobra.MinimumNArgs(2),
		RunE: g.withSession(false, func(ctx context.Context, s *session, args []string) error {
			service := args[0]
			cs, err := s.engine.List(ctx, s.project, []string{service}, false)
			if err != nil {
				return err
			}
			var target *model.Container
			for i := range cs {
				if cs[i].Number == index && !cs[i].OneOff {
					target = &cs[i]
				}
			}
			if target == nil {
				return fmt.Errorf("service %q has no running container number %d: start it with `devstack up -d %s`", service, index, service)
			}
			tty := wantTTY(g, f.noTTY)
			t, err := openTerminal(g, tty)
			if err != nil {
				return err
			}
			defer t.close()
			opts := engine.ExecOptions{Privileged: privileged, Cmd: args[1:], User: f.user, WorkDir: f.workdir, Env: f.env, Tty: tty,
				Stdout: g.stdout, Stderr: g.stderr, Resize: t.sizes}
			if !detach {
				opts.Stdin = g.stdin
			} else {
				opts.Stdout, opts.Stderr = io.Discard, io.Discard
			}
			if g.dryRun {
				fmt.Fprintf(g.stdout, "exec %q in %s\n", args[1:], target.Name)
				return nil
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
	cmd.Flags().SetInterspersed(false)
	f.add(cmd)
	cmd.Flags().IntVar(&index, "index", 1, "which replica, when the service has several")
	cmd.Flags().BoolVarP(&detach, "detach", "d", false, "run the command in the background")
	cmd.Flags().BoolVar(&privileged, "privileged", false, "give the command every capability")
	return cmd
}

func newRunCmd(g *globals) *cobra.Command {
	var (
		f            ioFlags
		remove       bool
		noDeps       bool
		name         string
		servicePorts bool
		entrypoint   string
	)
	cmd := &cobra.Command{
		Use:   "run [flags] SERVICE [COMMAND...]",
		Short: "Run a one-off command in a new container of a service",
		Args:  cobra.MinimumNArgs(1),
		RunE: g.withSession(false, func(ctx context.Context, s *session, args []string) error {
			g.warnRemoteBinds(s)
			svc, ok := s.project.Service(args[0])
			if !ok {
				return engine.CheckServices(s.project, args[:1])
			}
			if !noDeps {
				gr, err := graph.New(s.project)
				if err != nil {
					return err
				}
				if deps := gr.Dependencies(svc.Name); len(deps) > 0 {
					if err := s.engine.Up(ctx, s.project, engine.UpOptions{Services: deps, BeforeStart: seedSyncedBinds(s.project, s.rt, s.engine)}); err != nil {
						return err
					}
				}
			}
			if err := s.engine.BuildImages(ctx, s.project, []string{svc.Name}, false, false, false); err != nil {
				return err
			}
			one := *svc
			if len(args) > 1 {
				one.Command = args[1:]
			}
			if entrypoint != "" {
				one.Entrypoint = strings.Fields(entrypoint)
			}
			if f.user != "" {
				one.User = f.user
			}
			if f.workdir != "" {
				one.WorkingDir = f.workdir
			}
			one.Environment = map[string]*string{}
			for k, v := range svc.Environment {
				one.Environment[k] = v
			}
			for _, kv := range f.env {
				k, v, found := strings.Cut(kv, "=")
				if found {
					one.Environment[k] = &v
				} else {
					one.Environment[k] = nil
				}
			}
			one.Restart = "no"
			tty := wantTTY(g, f.noTTY)
			if name == "" {
				name = fmt.Sprintf("%s-%s-run-%s", s.project.Name, svc.Name, randomSuffix())
			}
			if g.dryRun {
				fmt.Fprintf(g.stdout, "run %s in a new container of %s\n", strings.Join(one.Command, " "), svc.Name)
				return nil
			}
			id, err := s.rt.CreateContainer(ctx, s.project, &one, 1, engine.CreateOptions{
				Name: name, OneOff: true, Tty: &tty, Stdin: true, NoPorts: !servicePorts,
			})
			if err != nil {
				return err
			}
			if remove {
				defer func() {
					rmCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
					defer cancel()
					_ = s.rt.RemoveContainer(rmCtx, id, true)
				}()
			}
			t, err := openTerminal(g, tty)
			if err != nil {
				return err
			}
			defer t.close()
			code, err := s.rt.AttachStart(ctx, id, engine.ExecOptions{Tty: tty, Stdin: g.stdin, Stdout: g.stdout, Stderr: g.stderr, Resize: t.sizes})
			if err != nil {
				return err
			}
			if code != 0 {
				return &exitError{code: code}
			}
			return nil
		}),
	}
	cmd.Flags().SetInterspersed(false)
	f.add(cmd)
	cmd.Flags().BoolVar(&remove, "rm", false, "remove the container when it exits")
	cmd.Flags().BoolVar(&noDeps, "no-deps", false, "do not start the service's dependencies")
	cmd.Flags().StringVar(&name, "name", "", "container name")
	cmd.Flags().BoolVarP(&servicePorts, "service-ports", "P", false, "publish the service's ports")
	cmd.Flags().StringVar(&entrypoint, "entrypoint", "", "override the image's entrypoint")
	return cmd
}

func randomSuffix() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
