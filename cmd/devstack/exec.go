package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	gosync "sync"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"devstack/cmd/devstack/render"
	"devstack/engine"
	"devstack/engine/event"
	"devstack/engine/graph"
	"devstack/engine/load"
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

// runFlags are run's flags beyond the terminal ones.
type runFlags struct {
	remove       bool
	noDeps       bool
	name         string
	servicePorts bool
	entrypoint   string
	detach       bool
	volumes      []string
	publish      []string
	labels       []string
	capAdd       []string
	capDrop      []string
	pull         string
	build        bool
	useAliases   bool
	quietPull    bool
}

// check refuses flag values that mean nothing, before anything is made.
func (r *runFlags) check() error {
	switch r.pull {
	case "policy", "always", "missing", "never":
	default:
		return fmt.Errorf("invalid --pull %q: use always, missing, never or policy (the service's pull_policy)", r.pull)
	}
	if r.servicePorts && len(r.publish) > 0 {
		return fmt.Errorf("--service-ports and --publish contradict each other: pick one")
	}
	for _, l := range r.labels {
		if k, _, _ := strings.Cut(l, "="); k == "" {
			return fmt.Errorf("invalid --label %q: write KEY=VALUE", l)
		}
	}
	return nil
}

// service returns the one-off container's service: svc with the flags'
// changes (a copy; the project's own is untouched).
func (r *runFlags) service(svc *model.Service, f ioFlags, command []string, dir string) (model.Service, error) {
	one := *svc
	if len(command) > 0 {
		one.Command = command
	}
	if r.entrypoint != "" {
		one.Entrypoint = strings.Fields(r.entrypoint)
	}
	if f.user != "" {
		one.User = f.user
	}
	if f.workdir != "" {
		one.WorkingDir = f.workdir
	}
	one.Environment = maps.Clone(svc.Environment)
	if one.Environment == nil {
		one.Environment = map[string]*string{}
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
	if len(r.volumes) > 0 {
		one.Volumes = slices.Clone(svc.Volumes)
		for _, spec := range r.volumes {
			m, err := load.ParseVolumeFlag(spec, dir)
			if err != nil {
				return one, err
			}
			// A flag's mount takes the place of the file's at the same target.
			one.Volumes = slices.DeleteFunc(one.Volumes, func(old model.Mount) bool { return old.Target == m.Target })
			one.Volumes = append(one.Volumes, m)
		}
	}
	if len(r.publish) > 0 {
		one.Ports = nil // as Compose: --publish replaces the service's ports
		for _, spec := range r.publish {
			ps, err := load.ParsePublishFlag(spec)
			if err != nil {
				return one, err
			}
			one.Ports = append(one.Ports, ps...)
		}
	}
	if len(r.labels) > 0 {
		one.Labels = maps.Clone(svc.Labels)
		if one.Labels == nil {
			one.Labels = map[string]string{}
		}
		for _, l := range r.labels {
			k, v, _ := strings.Cut(l, "=")
			one.Labels[k] = v
		}
	}
	if len(r.capAdd) > 0 {
		one.CapAdd = append(slices.Clone(svc.CapAdd), r.capAdd...)
	}
	if len(r.capDrop) > 0 {
		one.CapDrop = append(slices.Clone(svc.CapDrop), r.capDrop...)
	}
	if r.pull != "policy" && svc.Build == nil {
		one.PullPolicy = r.pull
	}
	return one, nil
}

func newRunCmd(g *globals) *cobra.Command {
	var (
		f ioFlags
		r runFlags
	)
	cmd := &cobra.Command{
		Use:   "run [flags] SERVICE [COMMAND...]",
		Short: "Run a one-off command in a new container of a service",
		Args:  cobra.MinimumNArgs(1),
		PreRunE: func(*cobra.Command, []string) error {
			return r.check()
		},
		RunE: g.withSession(false, func(ctx context.Context, s *session, args []string) error {
			g.warnRemoteBinds(s)
			svc, ok := s.project.Service(args[0])
			if !ok {
				return engine.CheckServices(s.project, args[:1])
			}
			one, err := r.service(svc, f, args[1:], s.project.WorkingDir)
			if err != nil {
				return err
			}
			e := s.engine
			if r.quietPull {
				e = g.engine(s.rt, pullEvents{next: s.out})
			}
			if !r.noDeps {
				gr, err := graph.New(s.project)
				if err != nil {
					return err
				}
				if deps := gr.Dependencies(svc.Name); len(deps) > 0 {
					if err := e.Up(ctx, s.project, engine.UpOptions{Services: deps, BeforeStart: seedSyncedBinds(s.project, s.rt, e)}); err != nil {
						return err
					}
				}
			}
			// The images are those of a project where the service is the
			// one-off's (its pull policy is --pull's).
			rp := *s.project
			rp.Services = slices.Clone(s.project.Services)
			for i := range rp.Services {
				if rp.Services[i].Name == one.Name {
					rp.Services[i] = one
				}
			}
			if err := e.BuildImages(ctx, &rp, []string{svc.Name}, r.build, false, false); err != nil {
				return err
			}
			// With --no-deps nothing else made its networks and volumes.
			if err := e.EnsureResources(ctx, &rp, []string{svc.Name}); err != nil {
				return err
			}
			tty := wantTTY(g, f.noTTY) && !r.detach
			name := r.name
			if name == "" {
				name = fmt.Sprintf("%s-%s-run-%s", s.project.Name, svc.Name, randomSuffix())
			}
			if g.dryRun {
				fmt.Fprintf(g.stdout, "run %s in a new container of %s\n", strings.Join(one.Command, " "), svc.Name)
				return nil
			}
			id, err := s.rt.CreateContainer(ctx, s.project, &one, 1, engine.CreateOptions{
				Name: name, OneOff: true, Tty: &tty, Stdin: !r.detach, NoPorts: !r.servicePorts && len(r.publish) == 0,
				AutoRemove: r.detach && r.remove, UseAliases: r.useAliases,
				// What the engine dropped, said as up says it.
				Warn: func(msg string) {
					s.out.Publish(event.Warning{Time: time.Now(), Service: svc.Name, Message: name + ": " + msg})
				},
			})
			if err != nil {
				return err
			}
			postStart := runHooks(g, s, &one, name, id)
			if r.detach {
				// As Compose: the container runs on; its name is printed
				// for the commands that follow (logs, exec, rm).
				if err := s.rt.StartContainer(ctx, id); err != nil {
					return err
				}
				if err := postStart(ctx); err != nil {
					return err
				}
				fmt.Fprintln(g.stdout, name)
				return nil
			}
			if r.remove {
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
			// The hooks run once the container has started, beside the
			// attached streams (a hook may wait for what the command
			// prepares), and their outcome is read when it has exited.
			var hookErr chan error
			started := func() {
				hookErr = make(chan error, 1)
				go func() { hookErr <- postStart(ctx) }()
			}
			code, err := s.rt.AttachStart(ctx, id, engine.ExecOptions{Tty: tty, Stdin: g.stdin, Stdout: g.stdout, Stderr: g.stderr, Resize: t.sizes, Started: started})
			if hookErr != nil {
				if herr := <-hookErr; herr != nil {
					if err != nil || code != 0 {
						fmt.Fprintf(g.stderr, "devstack: %v\n", herr)
					} else {
						err = herr
					}
				}
			}
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
	fl := cmd.Flags()
	fl.BoolVar(&r.remove, "rm", false, "remove the container when it exits")
	fl.BoolVar(&r.noDeps, "no-deps", false, "do not start the service's dependencies")
	fl.StringVar(&r.name, "name", "", "container name")
	fl.BoolVarP(&r.servicePorts, "service-ports", "P", false, "publish the service's ports")
	fl.StringVar(&r.entrypoint, "entrypoint", "", "override the image's entrypoint")
	fl.BoolVarP(&r.detach, "detach", "d", false, "run in the background and print the container's name")
	fl.StringArrayVarP(&r.volumes, "volume", "v", nil, "mount a volume or bind, as the file's short syntax (SOURCE:TARGET[:ro]; repeatable)")
	fl.StringArrayVarP(&r.publish, "publish", "p", nil, "publish a port ([HOST_IP:][HOST_PORT:]CONTAINER_PORT[/PROTOCOL]; repeatable; replaces the service's ports)")
	fl.StringArrayVarP(&r.labels, "label", "l", nil, "add or override a label (KEY=VALUE; repeatable)")
	fl.StringArrayVar(&r.capAdd, "cap-add", nil, "add a Linux capability (repeatable)")
	fl.StringArrayVar(&r.capDrop, "cap-drop", nil, "drop a Linux capability (repeatable)")
	fl.StringVar(&r.pull, "pull", "policy", "pull the image: always, missing, never, or policy (the service's pull_policy)")
	fl.BoolVar(&r.build, "build", false, "build the image before starting, even if it is there")
	fl.BoolVar(&r.useAliases, "use-aliases", false, "give the container the service's name and network aliases, so it receives the service's traffic")
	fl.BoolVar(&r.quietPull, "quiet-pull", false, "pull without showing progress")
	return cmd
}

// runHooks returns what runs a one-off container's post_start hooks once
// it has started, as Compose's run does: their output goes to stderr,
// prefixed "NAME ->" as up shows it, so the command's own output on
// stdout stays the command's. A container that exited before a hook
// could run is a warning, not a failure: a short command often ends
// before the hook's exec reaches it.
func runHooks(g *globals, s *session, svc *model.Service, name, id string) func(context.Context) error {
	return func(ctx context.Context) error {
		if len(svc.PostStart) == 0 {
			return nil
		}
		hooks := g.engine(s.rt, render.NewPlain(g.stderr, g.stderr, g.colour()))
		err := hooks.PostStart(ctx, svc, name, id)
		if errors.Is(err, engine.ErrNotRunning) {
			s.out.Publish(event.Warning{Time: time.Now(), Service: svc.Name,
				Message: name + ": its post_start hooks did not run: the container had already exited"})
			return nil
		}
		return err
	}
}

func randomSuffix() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
