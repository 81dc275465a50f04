// Package tui is devstack's terminal dashboard: a services table, logs,
// sync batches and scratch results, live from the engine's events, with
// keys to restart, rebuild, stop, start or enter a service.
//
// The engine's events are folded into the model's state by Update (in
// batches, one message per frame); View is a pure function of that state.
// Keys become calls on a Controller, run as commands so that Update never
// blocks, and their outcome comes back as a message. The package depends
// on the engine's event and model types only.
package tui

import (
	"context"
	"io"
	"time"
)

// QuitBehaviour says what q does to the stack.
type QuitBehaviour int

const (
	// QuitAsk asks whether to leave the stack running or stop it.
	QuitAsk QuitBehaviour = iota
	// QuitLeave quits and leaves the stack running.
	QuitLeave
	// QuitStop stops the stack (Controller.StopStack), then quits.
	QuitStop
)

// ExecCommand is a command that takes over the terminal, such as a shell
// in a container. It has bubbletea's ExecCommand methods, so callers need
// not import bubbletea: the dashboard hands the terminal over while Run
// runs, and redraws when it returns.
type ExecCommand interface {
	Run() error
	SetStdin(io.Reader)
	SetStdout(io.Writer)
	SetStderr(io.Writer)
}

// Controller carries out what the keys ask for. Each method is called in
// its own goroutine, never from Update; it may take as long as the work
// does, and its progress reaches the dashboard as engine events.
type Controller interface {
	// Restart restarts a service's containers (r).
	Restart(ctx context.Context, service string) error
	// Rebuild rebuilds a service's image and recreates its containers (b).
	Rebuild(ctx context.Context, service string) error
	// Stop stops a service's containers (x on a running service).
	Stop(ctx context.Context, service string) error
	// Start starts a service's containers (x on a stopped service).
	Start(ctx context.Context, service string) error
	// Scratch starts a scratch rebuild now (S) and returns: its progress
	// and result arrive as event.Scratch.
	Scratch(ctx context.Context) error
	// Shell returns the command that opens an interactive shell in a
	// container (s), or nil when that is not possible.
	Shell(container string) ExecCommand
	// StopStack stops the stack's containers, when the user quits
	// choosing to stop it (as Ctrl-C does to an attached compose up).
	StopStack(ctx context.Context) error
}

// DefaultLogLimit is the number of lines each service keeps by default.
const DefaultLogLimit = 10000

// Options configure the dashboard.
type Options struct {
	Project    string     // shown in the title
	Engine     string     // the engine's address, shown with the sync pane
	Services   []string   // listed in this order before any event arrives
	Controller Controller // nil: the action keys only say so
	Quit       QuitBehaviour
	LogLimit   int              // lines kept per service (DefaultLogLimit when 0)
	NoColor    bool             // no colours, only bold and reverse (NO_COLOR)
	Clock      func() time.Time // time.Now when nil; tests fix it

	// What Run uses; nil or zero means the process's terminal and defaults.
	Input   io.Reader // keys (default: the terminal)
	Output  io.Writer // frames (default: stdout)
	Environ []string  // environment for terminal detection (default: os.Environ)
	Width   int       // terminal size when Output is not a terminal
	Height  int
	FPS     int           // frames per second at most (default 30)
	Batch   time.Duration // how often queued events are delivered (default 1/FPS)
}

func (o Options) withDefaults() Options {
	if o.LogLimit <= 0 {
		o.LogLimit = DefaultLogLimit
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.FPS <= 0 {
		o.FPS = 30
	}
	if o.Batch <= 0 {
		o.Batch = time.Second / time.Duration(o.FPS)
	}
	return o
}
