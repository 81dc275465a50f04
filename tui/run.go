package tui

import (
	"context"
	"errors"

	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/colorprofile"

	"devstack/engine/event"
)

// Run shows the dashboard on the terminal until the user quits or ctx
// ends, fed by events. It returns the error stopping the stack failed
// with, if the user chose to stop it, or the terminal's error.
//
// Events are read as fast as they come whatever the screen does; after
// Run returns they are still read, and discarded, until the channel is
// closed, so the engine never blocks on a dashboard that has ended.
func Run(ctx context.Context, opts Options, events <-chan event.Event) error {
	return New(opts).Run(ctx, events)
}

// Run is the package's Run on a model made with New, for callers that
// read the model afterwards (LogCounts). A model runs once.
func (m *Model) Run(ctx context.Context, events <-chan event.Event) error {
	opts := m.opts
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	m.ctx = ctx
	popts := []tea.ProgramOption{tea.WithContext(ctx), tea.WithFPS(opts.FPS)}
	if opts.Input != nil {
		popts = append(popts, tea.WithInput(opts.Input))
	}
	if opts.Output != nil {
		popts = append(popts, tea.WithOutput(opts.Output))
	}
	if opts.Environ != nil {
		popts = append(popts, tea.WithEnvironment(opts.Environ))
	}
	if opts.Width > 0 && opts.Height > 0 {
		popts = append(popts, tea.WithWindowSize(opts.Width, opts.Height))
	}
	switch {
	case opts.NoColor:
		popts = append(popts, tea.WithColorProfile(colorprofile.Ascii))
	case opts.Output == nil && opts.Environ == nil:
		// lipgloss detected stdout's colour profile when it was
		// initialised; the program would detect it again before its first
		// frame, and inside tmux that runs `tmux info` a second time
		// (measured: most of the first frame's delay on a busy machine).
		popts = append(popts, tea.WithColorProfile(lipgloss.Writer.Profile))
	}
	p := tea.NewProgram(m, popts...)

	b := newBatcher(opts.LogLimit)
	go b.drain(ctx, events)
	go b.pump(ctx, opts.Batch, func(msg batchMsg) { p.Send(msg) })

	_, err := p.Run()
	if err != nil {
		if errors.Is(err, tea.ErrProgramKilled) && ctx.Err() != nil {
			return ctx.Err()
		}
		return err
	}
	return m.Err()
}
