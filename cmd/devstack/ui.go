package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/muesli/cancelreader"
	"github.com/spf13/cobra"

	"devstack/engine"
	"devstack/engine/event"
	"devstack/engine/model"
	"devstack/engine/scratch"
	"devstack/tui"
)

func newUICmd(g *globals) *cobra.Command {
	var (
		tail      string
		onQuit    string
		noForward bool
	)
	cmd := &cobra.Command{
		Use:   "ui [SERVICE...]",
		Short: "Open the dashboard on the running stack: states, logs, sync, and keys to restart, rebuild or enter a service",
		RunE: g.withSession(true, func(ctx context.Context, s *session, args []string) error {
			quit, err := quitBehaviour(onQuit)
			if err != nil {
				return err
			}
			return runDashboard(ctx, g, s.project, s.rt, dashboardOptions{services: args, quit: quit, tail: tail, forward: !noForward})
		}),
	}
	cmd.Flags().StringVarP(&tail, "tail", "n", "200", "lines of each container's earlier output to show (a number or all)")
	cmd.Flags().BoolVar(&noForward, "no-forward", false, "on a remote engine, do not forward published ports to 127.0.0.1 here")
	cmd.Flags().StringVar(&onQuit, "on-quit", "ask", "what q does to the stack: ask, leave (keep it running) or stop")
	return cmd
}

func quitBehaviour(s string) (tui.QuitBehaviour, error) {
	switch s {
	case "ask", "":
		return tui.QuitAsk, nil
	case "leave":
		return tui.QuitLeave, nil
	case "stop":
		return tui.QuitStop, nil
	}
	return 0, fmt.Errorf("--on-quit %q: use ask, leave or stop", s)
}

// dashboardOptions are what runDashboard needs besides the project.
type dashboardOptions struct {
	services []string          // only these services (all when empty)
	quit     tui.QuitBehaviour // what q does to the stack
	tail     string            // earlier output to show per container ("all", "200")
	// work, when set, runs alongside the dashboard with an engine whose
	// events the dashboard shows (up brings the stack up this way); a
	// failure is shown in the dashboard, which stays open.
	work func(ctx context.Context, e *engine.Engine) error
	// forward forwards a remote engine's published ports while the
	// dashboard is open.
	forward bool
}

// runDashboard shows the dashboard until the user quits: states, logs and
// stats stream in from the engine's monitor, and the keys act through an
// engine publishing to the dashboard too.
func runDashboard(ctx context.Context, g *globals, p *model.Project, rt engine.Runtime, o dashboardOptions) error {
	if !isTerminal(g.stdout) {
		return errors.New("the dashboard needs a terminal: use `devstack logs -f` (or up --no-tui) to follow the stack in a pipe")
	}
	feed := tui.NewFeed(1024)
	e := engine.New(rt, feed)
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	// The forwards stop after the feed closed (a full feed would block
	// them once the dashboard no longer reads it).
	var fw *forwarding
	defer func() { fw.stop(true) }()
	defer func() {
		cancel()
		wg.Wait()
		feed.Close()
	}()

	fw = g.startForwarding(ctx, p, rt, feed, !o.forward)

	// Follow first, so that no line of what work starts is missed.
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = e.Monitor(ctx, p, engine.MonitorOptions{Services: o.services, Logs: true, Tail: o.tail, Stats: true, States: true})
	}()
	if o.work != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := o.work(ctx, e); err != nil && ctx.Err() == nil {
				feed.Publish(event.Warning{Time: time.Now(), Message: err.Error()})
			}
		}()
	}

	// Scratch rebuilds: S runs one now, and the project's
	// x-devstack.scratch schedule (if any) runs in the background.
	sched, err := scratch.Background(scratch.Options{Runtime: rt, Load: g.loadOptions(nil), Project: p, Sink: feed})
	if err != nil {
		feed.Publish(event.Warning{Time: time.Now(), Message: "scratch rebuilds unavailable: " + err.Error()})
	} else {
		sched.Start(ctx)
		// Quitting cancels ctx; a running rebuild then removes what it made.
		defer sched.Wait()
	}

	services := o.services
	if len(services) == 0 {
		services = p.ServiceNames()
	}
	err = tui.Run(ctx, tui.Options{
		Project:    p.Name,
		Engine:     rt.Host(),
		Services:   services,
		Controller: &dashboardController{e: e, p: p, services: o.services, scratch: sched},
		Quit:       o.quit,
		NoColor:    g.noColor,
	}, feed.Events())
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// dashboardController carries out the dashboard's keys with the engine.
type dashboardController struct {
	e        *engine.Engine
	p        *model.Project
	services []string // what the dashboard shows (all when empty)
	scratch  *scratch.Scheduler
}

func (c *dashboardController) Restart(ctx context.Context, service string) error {
	return c.e.Restart(ctx, c.p, []string{service}, nil)
}

// Rebuild builds the service's image and recreates its containers when
// the image changed (the planner compares image IDs).
func (c *dashboardController) Rebuild(ctx context.Context, service string) error {
	svc, ok := c.p.Service(service)
	if !ok {
		return fmt.Errorf("no service %q in the project", service)
	}
	if svc.Build == nil {
		return fmt.Errorf("%s has no build: section, nothing to rebuild (r restarts it)", service)
	}
	return c.e.Up(ctx, c.p, engine.UpOptions{Services: []string{service}, Build: true, BeforeStart: seedSyncedBinds(c.p, c.e.Runtime(), c.e)})
}

func (c *dashboardController) Stop(ctx context.Context, service string) error {
	return c.e.Stop(ctx, c.p, []string{service}, nil)
}

func (c *dashboardController) Start(ctx context.Context, service string) error {
	return c.e.Start(ctx, c.p, []string{service}, seedSyncedBinds(c.p, c.e.Runtime(), c.e))
}

// Scratch starts a scratch rebuild in the background; its progress and
// result arrive as scratch events.
func (c *dashboardController) Scratch(context.Context) error {
	if c.scratch == nil {
		return errors.New("scratch rebuilds are unavailable (see the warning in the log)")
	}
	if !c.scratch.RunNow() {
		return errors.New("a scratch rebuild is already running")
	}
	return nil
}

func (c *dashboardController) StopStack(ctx context.Context) error {
	return c.e.Stop(ctx, c.p, c.services, nil)
}

func (c *dashboardController) Shell(container string) tui.ExecCommand {
	rt := c.e.Runtime()
	return &dashboardShell{where: container, exec: func(ctx context.Context, cmd []string, stdin io.Reader, stdout, stderr io.Writer, sizes chan engine.TermSize) error {
		// The shell's exit code is its last command's: not the dashboard's concern.
		_, err := rt.Exec(ctx, container, engine.ExecOptions{Cmd: cmd, Tty: true, Stdin: stdin, Stdout: stdout, Stderr: stderr, Resize: sizes})
		return err
	}}
}

// dashboardShell is an interactive shell in a container or pod, run with
// the terminal the dashboard hands over: bash when the image has it, else sh.
type dashboardShell struct {
	where string // the container or pod, for messages
	// exec runs cmd there with a terminal of the sizes given.
	exec           func(ctx context.Context, cmd []string, stdin io.Reader, stdout, stderr io.Writer, sizes chan engine.TermSize) error
	stdin          io.Reader
	stdout, stderr io.Writer
}

func (s *dashboardShell) SetStdin(r io.Reader)  { s.stdin = r }
func (s *dashboardShell) SetStdout(w io.Writer) { s.stdout = w }
func (s *dashboardShell) SetStderr(w io.Writer) { s.stderr = w }

// Run runs the shell until it exits. The terminal goes raw for the
// container's own line editing, and stdin is read through a cancelable
// reader: otherwise the goroutine copying it would stay blocked in Read
// after the shell ends and swallow the dashboard's next key.
func (s *dashboardShell) Run() error {
	t, err := openTerminal(&globals{stdin: s.stdin}, true)
	if err != nil {
		return err
	}
	defer t.close()
	in, err := newCancelableStdin(s.stdin)
	if err != nil {
		return err
	}
	defer in.stop()
	fmt.Fprintf(s.stdout, "devstack: shell in %s; exit to return to the dashboard\r\n", s.where)
	cmd := []string{"sh", "-c", "if command -v bash >/dev/null 2>&1; then exec bash; else exec sh; fi"}
	if err := s.exec(context.Background(), cmd, in, s.stdout, s.stderr, t.sizes); err != nil {
		return fmt.Errorf("unable to open a shell in %s: %w", s.where, err)
	}
	return nil
}

// cancelableStdin lets the shell's stdin copier be stopped without
// consuming a byte. The cancel reader's descriptors are closed only once
// no Read is in flight: a copier still on its way into epoll_wait could
// otherwise wait on a reused descriptor (the dashboard's own reader) and
// steal a key from it.
type cancelableStdin struct {
	r      cancelreader.CancelReader
	mu     sync.Mutex
	active int // Reads in flight
	idle   *sync.Cond
}

func newCancelableStdin(r io.Reader) (*cancelableStdin, error) {
	cr, err := cancelreader.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("unable to read the terminal: %w", err)
	}
	c := &cancelableStdin{r: cr}
	c.idle = sync.NewCond(&c.mu)
	return c, nil
}

func (c *cancelableStdin) Read(p []byte) (int, error) {
	c.mu.Lock()
	c.active++
	c.mu.Unlock()
	n, err := c.r.Read(p)
	c.mu.Lock()
	c.active--
	c.idle.Broadcast()
	c.mu.Unlock()
	return n, err
}

// stop cancels pending and later Reads, and frees the reader once no
// Read uses it (or leaves it, rather than race, if one is stuck).
func (c *cancelableStdin) stop() {
	c.r.Cancel()
	idle := make(chan struct{})
	go func() {
		c.mu.Lock()
		for c.active > 0 {
			c.idle.Wait()
		}
		c.mu.Unlock()
		close(idle)
	}()
	select {
	case <-idle:
		_ = c.r.Close()
	case <-time.After(time.Second):
	}
}
