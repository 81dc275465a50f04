package tui

import (
	"fmt"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"

	"devstack/engine/event"
)

const keptSyncs = 50

// syncPane lists the latest sync batches and says whether the engine is
// reachable.
type syncPane struct {
	batches []event.Sync // oldest first, at most keptSyncs
	conn    connection

	width, height int // height includes the title bar
}

// connection is what the latest Connection event said.
type connection struct {
	known     bool
	host      string
	connected bool
	err       string
	since     time.Time
}

// Update takes sync batches and the engine connection's state.
func (p *syncPane) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case event.Sync:
		p.add(msg)
	case event.Connection:
		p.setConnection(msg)
	}
	return nil
}

func (p *syncPane) add(e event.Sync) {
	p.batches = append(p.batches, e)
	if len(p.batches) > keptSyncs {
		p.batches = append(p.batches[:0], p.batches[len(p.batches)-keptSyncs:]...)
	}
}

func (p *syncPane) setConnection(e event.Connection) {
	if !p.conn.known || p.conn.connected != e.Connected {
		p.conn.since = e.Time
	}
	p.conn = connection{known: true, host: e.Host, connected: e.Connected, err: e.Error, since: p.conn.since}
}

// SetSize gives the pane its width and height (title bar included).
func (p *syncPane) SetSize(width, height int) { p.width, p.height = width, height }

func (p *syncPane) title() string {
	t := "sync"
	switch {
	case !p.conn.known:
		if p.conn.host != "" {
			t += " · engine " + p.conn.host
		}
	case p.conn.connected:
		t += " · engine " + p.conn.host + " connected"
	default:
		t += " · engine " + p.conn.host + " UNREACHABLE since " + p.conn.since.Format("15:04:05")
	}
	return t
}

// View draws the title bar and the newest batches, newest last.
func (p *syncPane) View(st styles) string {
	if p.height <= 0 {
		return ""
	}
	var b strings.Builder
	title := st.rule.Render(rule(p.title(), p.width))
	if p.conn.known && !p.conn.connected {
		title = st.errText.Render(rule(p.title(), p.width))
	}
	b.WriteString(title)
	body := p.height - 1
	shown := p.batches[max(0, len(p.batches)-body):]
	serviceWidth := 7
	for _, e := range shown {
		serviceWidth = max(serviceWidth, min(len(e.Service), 16))
	}
	for _, e := range shown {
		b.WriteByte('\n')
		b.WriteString(p.batchView(st, e, serviceWidth))
	}
	n := len(shown)
	if n == 0 && body > 0 {
		b.WriteByte('\n')
		b.WriteString(st.dim.Render(fit("no sync batch yet", p.width)))
		n = 1
	}
	for ; n < body; n++ {
		b.WriteByte('\n')
		b.WriteString(strings.Repeat(" ", p.width))
	}
	return b.String()
}

func (p *syncPane) batchView(st styles, e event.Sync, serviceWidth int) string {
	if e.Action == event.SyncWatch {
		return st.dim.Render(fit(strings.Join([]string{e.Time.Format("15:04:05"), fit(e.Service, serviceWidth), fit("watching", 12), e.Note}, "  "), p.width))
	}
	files := fmt.Sprintf("%d files", e.Files)
	if e.Files == 1 {
		files = "1 file"
	}
	if e.Deleted > 0 {
		files += fmt.Sprintf(", %d deleted", e.Deleted)
	}
	action := e.Action
	if action == "" {
		action = "sync"
	}
	fields := []string{e.Time.Format("15:04:05"), fit(e.Service, serviceWidth), fit(action, 12), fitRight(fmt.Sprintf("%.0fms", e.LatencyMS), 7), fit(files, 18)}
	if p.width >= 100 {
		fields = append(fields, fitRight(bytesIEC(uint64(max(e.Bytes, 0))), 8))
	}
	text := strings.Join(fields, "  ")
	if e.Error != "" {
		return st.errText.Render(fit(text+"  ✗ "+e.Error, p.width))
	}
	if len(e.Paths) > 0 {
		text += "  " + strings.Join(e.Paths, " ")
	}
	return fit(text, p.width)
}

// bannerView is the line shown above everything while the engine is
// unreachable.
func (p *syncPane) bannerView(st styles, width int) string {
	msg := fmt.Sprintf(" engine %s unreachable since %s: %s — reconnecting… ", p.conn.host, p.conn.since.Format("15:04:05"), p.conn.err)
	return st.banner.Render(fit(msg, width))
}

func (p *syncPane) unreachable() bool { return p.conn.known && !p.conn.connected }
