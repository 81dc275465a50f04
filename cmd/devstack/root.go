package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"devstack/cmd/devstack/render"
	"devstack/engine"
	"devstack/engine/docker"
	"devstack/engine/event"
	"devstack/engine/load"
	"devstack/engine/model"
	"devstack/engine/plan"
)

// globals are the flags every command shares, as Docker Compose has them.
type globals struct {
	// shared: the command may reach an SSH engine through the connection
	// a background forwarder shares (docker.Options.Shared).
	shared      bool
	files       []string
	projectName string
	profiles    []string
	envFiles    []string
	projectDir  string
	host        string
	dockerCtx   string
	progress    string // auto | tty | plain | json | quiet
	noColor     bool
	ansi        string // never | always | auto
	dryRun      bool
	parallel    int
	// parallelFlag is --parallel as given (or COMPOSE_PARALLEL_LIMIT),
	// read into parallel by checkGlobals.
	parallelFlag string
	// noRemoteSync keeps bind mounts binds on a remote engine.
	noRemoteSync bool
	kube         kubeFlags
	// preloaded is a project the runtime choice already loaded, taken by
	// the next load of the same services (the file is read once).
	preloaded *preloaded

	stdout, stderr io.Writer
	stdin          io.Reader
}

// exitError carries a specific exit code out of a command.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}
func (e *exitError) Unwrap() error { return e.err }

// Main runs the CLI with os.Args and returns the process exit code.
func Main() int {
	return run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if err := serveDebug(); err != nil {
		fmt.Fprintln(stderr, "devstack:", err)
		return 1
	}
	g := &globals{stdin: stdin, stdout: stdout, stderr: stderr}
	root := newRootCmd(g)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetIn(stdin)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintln(stderr, "devstack:", ee.err)
		}
		return ee.code
	}
	if errors.Is(err, context.Canceled) {
		fmt.Fprintln(stderr, "devstack: interrupted")
		return 130
	}
	fmt.Fprintln(stderr, "devstack:", err)
	return 1
}

func newRootCmd(g *globals) *cobra.Command {
	root := &cobra.Command{
		Use:           "devstack",
		Short:         "Your whole development stack from one compose file, local or remote, with a live dashboard",
		SilenceUsage:  true,
		SilenceErrors: true,
		// Global flags come before the command, as with compose, so that
		// commands may reuse their letters (logs -f is --follow).
		TraverseChildren: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			g.shared = sharesConnection[cmd.Name()] && cmd.Parent() == cmd.Root()
			return g.checkGlobals(cmd.Root().Flags().Changed)
		},
		// Runnable, so that cobra checks its arguments: an unknown command
		// ("devstack dwon") is an error with cobra's suggestion, not the
		// help and exit 0 a script would take for success.
		// (TraverseChildren skips cobra's own check of the root's args.)
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return nil
			}
			msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
			if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
				msg += "\n\nDid you mean this?\n\t" + strings.Join(s, "\n\t")
			}
			return errors.New(msg + "\n\nRun 'devstack --help' for the commands.")
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return cmd.Help()
		},
	}
	root.SuggestionsMinimumDistance = 2
	f := root.Flags()
	f.StringArrayVarP(&g.files, "file", "f", nil, "compose file (repeatable; default: compose.yaml and friends, searched upwards)")
	f.StringVarP(&g.projectName, "project-name", "p", "", "project name (default: COMPOSE_PROJECT_NAME, the file's name:, or the directory)")
	f.StringArrayVar(&g.profiles, "profile", nil, "enable a profile (repeatable; default: COMPOSE_PROFILES)")
	f.StringArrayVar(&g.envFiles, "env-file", envList("COMPOSE_ENV_FILES"), "an alternate environment file (repeatable; default: COMPOSE_ENV_FILES, comma-separated)")
	f.StringVar(&g.projectDir, "project-directory", "", "an alternate working directory (default: the first compose file's directory)")
	f.StringVarP(&g.host, "host", "H", "", "Docker engine to use: unix://, tcp:// or ssh://user@host (default: DOCKER_HOST, the docker context)")
	f.StringVar(&g.dockerCtx, "context", "", "docker context to use (default: DOCKER_CONTEXT, the current context)")
	f.StringVar(&g.progress, "progress", envOr("COMPOSE_PROGRESS", "auto"), "progress output: auto, tty, plain, json or quiet (default: COMPOSE_PROGRESS)")
	root.PersistentFlags().BoolVar(&g.noRemoteSync, "no-remote-sync", false, "on a remote engine, bind the engine machine's own paths for bind mounts, as Compose does, instead of syncing this machine's into volumes")
	f.BoolVar(&g.noColor, "no-color", os.Getenv("NO_COLOR") != "", "plain output without colours")
	f.StringVar(&g.ansi, "ansi", envOr("COMPOSE_ANSI", "auto"), "colours and control characters: never, always or auto (when the output is a terminal; default: COMPOSE_ANSI)")
	f.BoolVar(&g.dryRun, "dry-run", false, "print the plan of what the command would do, and change nothing")
	f.StringVar(&g.parallelFlag, "parallel", envOr("COMPOSE_PARALLEL_LIMIT", "-1"), "at most this many engine operations at once (-1: devstack's default; default: COMPOSE_PARALLEL_LIMIT)")
	f.StringVar(&g.kube.context, "kube-context", "", "run on the Kubernetes cluster of this kubeconfig context (KUBECONFIG, ~/.kube/config) instead of the Docker engine")
	f.StringVar(&g.kube.namespace, "namespace", "", "Kubernetes namespace (default: x-devstack.namespace, else the project name)")
	f.StringVar(&g.kube.registry, "registry", "", "registry that images built for the cluster are pushed to (default: x-devstack.registry)")

	root.AddCommand(
		newUpCmd(g),
		newDownCmd(g),
		newStartCmd(g),
		newStopCmd(g),
		newRestartCmd(g),
		newPsCmd(g),
		newPortCmd(g),
		newForwardCmd(g),
		newLogsCmd(g),
		newExecCmd(g),
		newRunCmd(g),
		newBuildCmd(g),
		newPullCmd(g),
		newConfigCmd(g),
		newVersionCmd(g),
		newUICmd(g),
		newWatchCmd(g),
		newSyncCmd(g),
		newScratchCmd(g),
		newInitCmd(g),
		newLsCmd(g),
		newPauseCmd(g),
		newUnpauseCmd(g),
		newKillCmd(g),
		newSnapshotCmd(g),
		newRmCmd(g),
		newCreateCmd(g),
		newWaitCmd(g),
		newTopCmd(g),
		newImagesCmd(g),
		newStatsCmd(g),
		newScaleCmd(g),
		newEventsCmd(g),
		newAttachCmd(g),
		newCpCmd(g),
		newShellCmd(g),
		newStatusCmd(g),
		newDestroyCmd(g),
		newReloadCmd(g),
	)
	addVagrantAliases(root)
	groupCommands(root)
	addCompletions(g, root)
	routeKube(g, root)
	return root
}

// loadOptions turns the global flags into loader options.
func (g *globals) loadOptions(services []string) load.Options {
	return load.Options{
		Files:       g.files,
		ProjectName: g.projectName,
		Profiles:    g.profiles,
		EnvFiles:    g.envFiles,
		ProjectDir:  g.projectDir,
		Services:    services,
		CacheDir:    load.DefaultCacheDir(),
		BeforeParse: releaseInitPages,
	}
}

// project loads the compose project and reports its warnings.
func (g *globals) project(ctx context.Context, services []string) (*model.Project, error) {
	if pre := g.preloaded; pre != nil && pre.services == strings.Join(services, ",") {
		g.preloaded = nil
		return pre.p, pre.err
	}
	p, err := load.Load(ctx, g.loadOptions(services))
	if err != nil {
		return nil, err
	}
	for _, w := range p.Warnings {
		fmt.Fprintln(g.stderr, "warning:", w.String())
	}
	return p, nil
}

// runtime connects to the Docker engine the flags and environment name.
func (g *globals) runtime(ctx context.Context) (*docker.Runtime, error) {
	rt, err := docker.New(ctx, docker.Options{Host: g.host, Context: g.dockerCtx, Shared: g.shared})
	if err == nil {
		if w := rt.CleartextWarning(); w != "" {
			fmt.Fprintln(g.stderr, "warning:", w)
		}
	}
	return rt, err
}

// sharesConnection are the commands that reach an SSH engine through the
// connection a background forwarder shares, when one does: every command
// that leaves the stack's containers in place, whose time on a slow link
// would otherwise be mostly the SSH handshake. Not those that stop or
// take over the forwarder (up, down, watch, ui, forward, and what runs
// them: reload, destroy), nor those that may remove every container and
// so end it (rm, scale, run --rm), nor scratch's own stacks: their calls
// would go through the process they end.
var sharesConnection = map[string]bool{
	"ps": true, "logs": true, "port": true, "exec": true, "ls": true, "top": true, "images": true, "events": true,
	"stats": true, "cp": true, "version": true, "wait": true, "pause": true, "unpause": true, "kill": true,
	"start": true, "stop": true, "restart": true, "attach": true, "build": true, "pull": true, "status": true,
}

// session is what most commands need: the project, an engine on a
// connected runtime and the renderer its events go to.
type session struct {
	project *model.Project
	rt      *docker.Runtime
	engine  *engine.Engine
	out     render.Renderer
}

func (s *session) Close() {
	s.out.Close()
	s.rt.Close()
}

// open loads the project, connects to the engine and picks the renderer.
func (g *globals) open(ctx context.Context, services []string) (*session, error) {
	p, rt, loadErr, connErr := g.loadAndConnect(ctx, services)
	if err := cmp.Or(loadErr, connErr); err != nil {
		if rt != nil {
			rt.Close()
		}
		return nil, err
	}
	return g.session(p, rt), nil
}

// loadAndConnect loads the project while it connects to the engine: on a
// remote engine the SSH handshake's round trips need not wait for the
// compose file. The runtime, when connected, is returned even if loading
// failed (the caller closes it); a load error is reported before an
// engine one.
func (g *globals) loadAndConnect(ctx context.Context, services []string) (p *model.Project, rt *docker.Runtime, loadErr, connErr error) {
	type connected struct {
		rt  *docker.Runtime
		err error
	}
	ch := make(chan connected, 1)
	go func() {
		rt, err := g.runtime(ctx)
		ch <- connected{rt, err}
	}()
	p, loadErr = g.project(ctx, services)
	c := <-ch
	if loadErr == nil && c.err == nil && c.rt.Remote() && !g.noRemoteSync {
		loadErr = syncRemoteBinds(p)
	}
	return p, c.rt, loadErr, c.err
}

func (g *globals) session(p *model.Project, rt *docker.Runtime) *session {
	out := g.renderer()
	return &session{project: p, rt: rt, engine: g.engine(rt, out), out: out}
}

// existing loads the project and connects to the engine, for commands
// that act on a stack already there (down, ps, logs, start, stop,
// restart): given a project name and no compose file, it reads the
// project from its containers' labels instead, as Compose does.
func (g *globals) existing(ctx context.Context) (*model.Project, *docker.Runtime, error) {
	p, rt, loadErr, connErr := g.loadAndConnect(ctx, nil)
	var notFound *load.NotFoundError
	name := g.nameWithoutFile()
	noFile := errors.As(loadErr, &notFound) && name != ""
	var err error
	switch {
	case loadErr != nil && !noFile:
		err = loadErr
	case connErr != nil:
		err = connErr
	}
	if err != nil {
		if rt != nil {
			rt.Close()
		}
		return nil, nil, err
	}
	if p == nil {
		if p, err = engine.Discover(ctx, rt, name); err != nil {
			rt.Close()
			var none *engine.NoProjectError
			if errors.As(err, &none) {
				notFound.Also = none.Error()
				err = notFound
			}
			return nil, nil, err
		}
	}
	return p, rt, nil
}

// nameWithoutFile is the project name given without a compose file:
// -p, else COMPOSE_PROJECT_NAME.
func (g *globals) nameWithoutFile() string {
	if g.projectName != "" {
		return g.projectName
	}
	return os.Getenv("COMPOSE_PROJECT_NAME")
}

// withSession adapts a command body that needs a session: it opens one
// (project, engine connection, renderer), checks that the services named
// in args exist when servicesInArgs is set, and closes it afterwards.
func (g *globals) withSession(servicesInArgs bool, body func(ctx context.Context, s *session, args []string) error) func(*cobra.Command, []string) error {
	return g.withOpen(g.open, servicesInArgs, body)
}

// withExisting is withSession for commands on a stack already there
// (see existing).
func (g *globals) withExisting(body func(ctx context.Context, s *session, args []string) error) func(*cobra.Command, []string) error {
	return g.withOpen(func(ctx context.Context, _ []string) (*session, error) {
		p, rt, err := g.existing(ctx)
		if err != nil {
			return nil, err
		}
		return g.session(p, rt), nil
	}, true, func(ctx context.Context, s *session, args []string) error {
		// Ctrl-C lets the command finish the step it is in (a container
		// half-removed is worse than one left running) and exit 130; a
		// second one exits at once, since the engine may be what hangs.
		ctx, stop := signalContext(ctx, func() {
			fmt.Fprintln(g.stderr, "devstack: interrupted again: exiting now; run the command again to finish")
			os.Exit(130)
		})
		defer stop()
		return body(ctx, s, args)
	})
}

// withExistingArgs is withExisting for commands whose arguments are not
// all service names (the command checks them itself).
func (g *globals) withExistingArgs(body func(ctx context.Context, s *session, args []string) error) func(*cobra.Command, []string) error {
	return g.withOpen(func(ctx context.Context, _ []string) (*session, error) {
		p, rt, err := g.existing(ctx)
		if err != nil {
			return nil, err
		}
		return g.session(p, rt), nil
	}, false, body)
}

func (g *globals) withOpen(open func(context.Context, []string) (*session, error), servicesInArgs bool, body func(ctx context.Context, s *session, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		s, err := open(cmd.Context(), nil)
		if err != nil {
			return err
		}
		defer s.Close()
		if servicesInArgs {
			if err := engine.CheckServices(s.project, args); err != nil {
				return err
			}
		}
		return body(cmd.Context(), s, args)
	}
}

// renderer picks the event renderer for --progress.
func (g *globals) renderer() render.Renderer {
	mode := g.progress
	if mode == "auto" || mode == "tty" {
		mode = "plain"
	}
	switch mode {
	case "json":
		return render.NewJSON(g.stdout)
	case "quiet":
		return render.NewQuiet(g.stderr)
	default:
		status := g.stderr
		if envBool("COMPOSE_STATUS_STDOUT") {
			status = g.stdout // as Compose: progress and status on stdout
		}
		return render.NewPlain(g.stdout, status, g.colour())
	}
}

var _ event.Sink = render.Renderer(nil)

// signalContext returns a context cancelled on the first SIGINT/SIGTERM;
// a second one calls onSecond (e.g. to kill instead of stopping).
func signalContext(parent context.Context, onSecond func()) (context.Context, func()) {
	ctx, cancel := context.WithCancel(parent)
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case <-ch:
			cancel()
		case <-done:
			return
		}
		select {
		case <-ch:
			if onSecond != nil {
				onSecond()
			}
		case <-done:
		}
	}()
	return ctx, func() {
		close(done)
		signal.Stop(ch)
		cancel()
	}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// engine is an engine on rt with the global flags' settings: --parallel
// bounds its pool, --dry-run prints each plan instead of running it.
func (g *globals) engine(rt engine.Runtime, sink event.Sink) *engine.Engine {
	e := engine.New(rt, sink)
	if g.parallel > 0 {
		e.Limit = g.parallel
	}
	e.IgnoreOrphans = envBool("COMPOSE_IGNORE_ORPHANS")
	if g.dryRun {
		e.DryRun = func(pl *plan.Plan) { fmt.Fprint(g.stdout, pl.String()) }
	}
	return e
}

// colour says whether plain output is coloured: --ansi, else --no-color,
// else whether stdout is a terminal.
func (g *globals) colour() bool {
	switch g.ansi {
	case "never":
		return false
	case "always":
		return true
	}
	return !g.noColor && isTerminal(g.stdout)
}

// checkGlobals refuses global flag values that mean nothing, naming the
// variable a value came from when no flag gave it.
func (g *globals) checkGlobals(changed func(flag string) bool) error {
	from := func(flag, env string) string {
		if changed(flag) || os.Getenv(env) == "" {
			return ""
		}
		return " (from " + env + ")"
	}
	switch g.ansi {
	case "never", "always", "auto":
	default:
		return fmt.Errorf("invalid --ansi %q%s: use never, always or auto", g.ansi, from("ansi", "COMPOSE_ANSI"))
	}
	switch g.progress {
	case "auto", "tty", "plain", "json", "quiet":
	default:
		return fmt.Errorf("invalid --progress %q%s: use auto, tty, plain, json or quiet", g.progress, from("progress", "COMPOSE_PROGRESS"))
	}
	n, err := strconv.Atoi(g.parallelFlag)
	if err != nil || n == 0 || n < -1 {
		return fmt.Errorf("invalid --parallel %s%s: use a number of operations, 1 or more (-1: the default)", g.parallelFlag, from("parallel", "COMPOSE_PARALLEL_LIMIT"))
	}
	g.parallel = n
	return nil
}
