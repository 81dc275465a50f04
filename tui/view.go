package tui

import (
	"fmt"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
)

// View draws the dashboard. It reads the state and changes nothing.
func (m *Model) View() tea.View {
	v := tea.NewView(m.Render())
	v.AltScreen = true
	v.WindowTitle = m.windowTitle()
	return v
}

// windowTitle names the project and the service whose logs are shown.
func (m *Model) windowTitle() string {
	t := "devstack"
	if m.opts.Project != "" {
		t += " · " + m.opts.Project
	}
	if m.logs.filter != "" {
		t += " · " + m.logs.filter
	}
	return t
}

// Render is the screen as text with styles, exactly height lines of
// width cells (empty before the terminal size is known).
func (m *Model) Render() string {
	if m.width <= 0 || m.height <= 0 {
		return ""
	}
	st := m.styles
	parts := make([]string, 0, 8)
	parts = append(parts, m.headerView())
	if m.syncs.unreachable() {
		parts = append(parts, m.syncs.bannerView(st, m.width))
	}
	if m.services.height > 0 {
		parts = append(parts, m.services.View(st, m.now))
	}
	if m.logs.height > 0 {
		if m.mode == modeHelp {
			parts = append(parts, m.fullHelpView())
		} else {
			parts = append(parts, m.logs.View(st, m.services.prefixWidth(), m.services.serviceIndex))
		}
	}
	if m.syncs.height > 0 {
		parts = append(parts, m.syncs.View(st))
	}
	parts = append(parts, m.scratch.View(st), m.statusView(), m.helpLine())
	out := strings.Join(parts, "\n")
	// A terminal smaller than the fixed lines: keep the top.
	if lines := strings.Count(out, "\n") + 1; lines > m.height {
		out = strings.Join(strings.SplitN(out, "\n", m.height+1)[:m.height], "\n")
	}
	return out
}

func (m *Model) headerView() string {
	st := m.styles
	running, total := m.services.summary()
	left := st.title.Render("devstack") + " " + m.opts.Project
	right := fmt.Sprintf("%d/%d running · %s", running, total, m.now.Format("15:04:05"))
	gap := m.width - len([]rune("devstack "+m.opts.Project)) - len([]rune(right))
	if gap < 1 {
		return padLine(clip(left, m.width), m.width)
	}
	return left + strings.Repeat(" ", gap) + st.dim.Render(right)
}

// statusView is the prompt of the current mode, or the latest notice.
func (m *Model) statusView() string {
	st := m.styles
	switch m.mode {
	case modeSearch:
		return st.prompt.Render(fit("/"+m.searchInput+"█", m.width))
	case modeQuit:
		return st.banner.Render(fit(" Quit: l leave the stack running · s stop it · esc cancel ", m.width))
	}
	text := fit(m.notice.text, m.width)
	switch m.notice.kind {
	case noticeOK:
		return st.okText.Render(text)
	case noticeWarn:
		return st.warnText.Render(text)
	case noticeErr:
		return st.errText.Render(text)
	}
	return text
}

func (m *Model) helpLine() string {
	// The help bubble may overflow when even its ellipsis does not fit.
	return padLine(clip(m.help.ShortHelpView(m.keys.ShortHelp()), m.width), m.width)
}

// fullHelpView takes the log pane's place while ? is on: every key, in
// as many columns as the width allows.
func (m *Model) fullHelpView() string {
	st := m.styles
	var items []key.Binding
	for _, group := range m.keys.FullHelp() {
		items = append(items, group...)
	}
	keyW, descW := 0, 0
	for _, b := range items {
		keyW = max(keyW, ansi.StringWidth(b.Help().Key))
		descW = max(descW, ansi.StringWidth(b.Help().Desc))
	}
	colW := 1 + keyW + 1 + descW + 2
	body := max(m.logs.height-1, 1)
	cols := max(1, m.width/colW)
	rows := max(body, (len(items)+cols-1)/cols)
	lines := make([]string, body)
	for i, b := range items {
		r, c := i%rows, i/rows
		if r >= body || c >= cols {
			continue // too small a terminal: what fits
		}
		lines[r] += " " + st.helpKey.Render(fit(b.Help().Key, keyW)) + " " + st.helpDesc.Render(fit(b.Help().Desc, descW)) + "  "
	}
	out := []string{st.rule.Render(rule("keys (? or esc to close)", m.width))}
	for _, l := range lines {
		out = append(out, padLine(l, m.width))
	}
	return strings.Join(out[:m.logs.height], "\n")
}
