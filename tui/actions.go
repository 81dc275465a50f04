package tui

import (
	"context"
	"time"

	tea "charm.land/bubbletea/v2"
)

type actionFunc func(ctx context.Context, service string) error

// actionDoneMsg is the outcome of a controller call.
type actionDoneMsg struct {
	verb    string // restart, rebuild, stop, start, scratch
	service string
	err     error
	took    time.Duration
}

// shellDoneMsg comes back when the shell handed the terminal back.
type shellDoneMsg struct {
	container string
	err       error
}

// downDoneMsg comes back when the stack is stopped, and ends the program.
type downDoneMsg struct{ err error }

var pastTense = map[string]string{
	"restart": "restarted", "rebuild": "rebuilt", "stop": "stopped", "start": "started",
}

var progressive = map[string]string{
	"restart": "restarting", "rebuild": "rebuilding", "stop": "stopping", "start": "starting", "scratch": "running a scratch rebuild",
}

// serviceAction calls the controller on the selected service in a
// command; one action of a kind per service runs at a time.
func (m *Model) serviceAction(verb string, pick func(Controller) actionFunc) tea.Cmd {
	r := m.services.selectedRow()
	if r == nil {
		return nil
	}
	if m.opts.Controller == nil {
		m.setNotice(noticeWarn, verb+": not available here")
		return nil
	}
	return m.run(verb, r.Service, pick(m.opts.Controller))
}

func (m *Model) scratchAction() tea.Cmd {
	if m.opts.Controller == nil {
		m.setNotice(noticeWarn, "scratch rebuild: not available here")
		return nil
	}
	c := m.opts.Controller
	return m.run("scratch", "", func(ctx context.Context, _ string) error { return c.Scratch(ctx) })
}

func (m *Model) run(verb, service string, f actionFunc) tea.Cmd {
	id := verb + "\x00" + service
	who := service
	if who == "" {
		who = m.opts.Project
	}
	if m.busy[id] {
		m.setNotice(noticeInfo, who+": already "+progressive[verb])
		return nil
	}
	m.busy[id] = true
	m.setNotice(noticeInfo, who+": "+progressive[verb]+"…")
	ctx := m.ctx
	return func() tea.Msg {
		start := time.Now()
		err := f(ctx, service)
		return actionDoneMsg{verb: verb, service: service, err: err, took: time.Since(start)}
	}
}

func (m *Model) actionDone(msg actionDoneMsg) {
	delete(m.busy, msg.verb+"\x00"+msg.service)
	who := msg.service
	if who == "" {
		who = m.opts.Project
	}
	if msg.err != nil {
		m.setNotice(noticeErr, who+": "+msg.verb+" failed: "+msg.err.Error())
		return
	}
	if msg.verb == "scratch" { // only started: the scratch pane follows it
		m.setNotice(noticeInfo, who+": scratch rebuild started")
		return
	}
	m.setNotice(noticeOK, who+": "+pastTense[msg.verb]+" in "+msg.took.Round(100*time.Millisecond).String())
}

// shell hands the terminal to a shell in the selected container.
func (m *Model) shell() tea.Cmd {
	r := m.services.selectedRow()
	if r == nil {
		return nil
	}
	if m.opts.Controller == nil {
		m.setNotice(noticeWarn, "shell: not available here")
		return nil
	}
	if r.Container == "" || r.State != "running" {
		m.setNotice(noticeWarn, r.name()+" is not running: no shell")
		return nil
	}
	c := m.opts.Controller.Shell(r.Container)
	if c == nil {
		m.setNotice(noticeWarn, "shell: not available for "+r.name())
		return nil
	}
	name := r.name()
	return tea.Exec(c, func(err error) tea.Msg { return shellDoneMsg{container: name, err: err} })
}

func (m *Model) shellDone(msg shellDoneMsg) {
	if msg.err != nil {
		m.setNotice(noticeErr, "shell in "+msg.container+": "+msg.err.Error())
		return
	}
	m.setNotice(noticeInfo, "back from the shell in "+msg.container)
}

// down stops the stack, then quits.
func (m *Model) down() tea.Cmd {
	if m.opts.Controller == nil {
		return tea.Quit
	}
	m.mode = modeStopping
	m.setNotice(noticeInfo, "stopping the stack… (ctrl+c leaves it as it is)")
	c, ctx := m.opts.Controller, m.ctx
	return func() tea.Msg { return downDoneMsg{err: c.StopStack(ctx)} }
}
