package tui

import (
	"context"
	"sync/atomic"
	"time"

	"charm.land/bubbles/v2/help"
	tea "charm.land/bubbletea/v2"
)

// mode is what the keys currently drive.
type mode int

const (
	modeNormal   mode = iota
	modeSearch        // typing a search
	modeQuit          // asking whether to stop the stack
	modeStopping      // Controller.StopStack is running
	modeHelp          // all keys shown
)

// Model is the dashboard's state. Build it with New; it implements
// bubbletea's Model with pointer receivers.
type Model struct {
	opts   Options
	ctx    context.Context
	now    time.Time
	keys   keyMap
	styles styles
	help   help.Model

	width, height int

	services *servicesPane
	logs     *logPane
	syncs    *syncPane
	scratch  *scratchLine

	mode        mode
	searchInput string
	notice      notice
	busy        map[string]bool // actions in flight, by verb and service
	exitErr     error

	// counts is published after every batch, for readers outside the
	// program's goroutine (benchmarks, tests).
	counts atomic.Pointer[LogCounts]
}

// LogCounts account for every log line that reached the dashboard.
type LogCounts struct {
	Received uint64 // log lines delivered to the dashboard (markers excluded)
	Held     uint64 // lines in the rings now (markers included)
	Dropped  uint64 // lines overwritten by a ring or discarded before arriving
}

// LogCounts returns the counts as of the latest batch. It is safe to call
// while the dashboard runs.
func (m *Model) LogCounts() LogCounts {
	if c := m.counts.Load(); c != nil {
		return *c
	}
	return LogCounts{}
}

// notice is the status line's message.
type notice struct {
	text string
	kind noticeKind
}

type noticeKind int

const (
	noticeInfo noticeKind = iota
	noticeOK
	noticeWarn
	noticeErr
)

// New returns the dashboard's model for opts.
func New(opts Options) *Model {
	opts = opts.withDefaults()
	keys := newKeyMap()
	m := &Model{
		opts:     opts,
		ctx:      context.Background(),
		now:      opts.Clock(),
		keys:     keys,
		styles:   newStyles(opts.NoColor),
		services: newServicesPane(opts.Services, keys),
		logs:     newLogPane(opts.LogLimit, keys),
		syncs:    &syncPane{conn: connection{host: opts.Engine}},
		scratch:  &scratchLine{},
		busy:     map[string]bool{},
	}
	m.help = help.New()
	m.help.ShortSeparator = "  "
	m.help.Styles.ShortKey = m.styles.helpKey
	m.help.Styles.ShortDesc = m.styles.helpDesc
	m.help.Styles.ShortSeparator = m.styles.helpDesc
	m.help.Styles.Ellipsis = m.styles.helpDesc
	m.help.Styles.FullKey = m.styles.helpKey
	m.help.Styles.FullDesc = m.styles.helpDesc
	m.help.Styles.FullSeparator = m.styles.helpDesc
	return m
}

// Err is the error the dashboard ended with (stopping the stack failed).
func (m *Model) Err() error { return m.exitErr }

// tickMsg refreshes the clock, for uptimes and "3s ago".
type tickMsg time.Time

func (m *Model) tick() tea.Cmd {
	return tea.Tick(time.Second, func(t time.Time) tea.Msg { return tickMsg(t) })
}

// Init starts the clock.
func (m *Model) Init() tea.Cmd { return m.tick() }

// Update folds a message into the state.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	var cmd tea.Cmd
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
	case batchMsg:
		m.now = m.opts.Clock()
		m.applyBatch(msg)
	case tickMsg:
		m.now = m.opts.Clock()
		cmd = m.tick()
	case tea.KeyPressMsg:
		cmd = m.handleKey(msg)
	case actionDoneMsg:
		m.actionDone(msg)
	case shellDoneMsg:
		m.shellDone(msg)
	case noticeMsg:
		m.setNotice(msg.kind, msg.text)
	case downDoneMsg:
		m.exitErr = msg.err
		cmd = tea.Quit
	}
	m.layout()
	return m, cmd
}

func (m *Model) setNotice(kind noticeKind, text string) {
	m.notice = notice{text: m.now.Format("15:04:05") + " " + text, kind: kind}
}

// layout shares the screen among the panes: fixed lines for the header,
// the scratch, status and help lines; a third at most for the table; a
// small sync pane; the rest for logs.
func (m *Model) layout() {
	w, h := m.width, m.height
	fixed := 4 // header, scratch, status, help
	if m.syncs.unreachable() {
		fixed++
	}
	syncH := 3
	switch {
	case h >= 40:
		syncH = 7
	case h >= 30:
		syncH = 5
	case h < 16:
		syncH = 0
	}
	rest := max(h-fixed-syncH, 0)
	tableH := min(len(m.services.rows)+1, max(3, rest/3))
	tableH = min(tableH, rest)
	logsH := rest - tableH
	m.services.SetSize(w, tableH)
	m.logs.SetSize(w, logsH)
	m.syncs.SetSize(w, syncH)
	m.scratch.SetSize(w)
	m.help.SetWidth(w)
}
