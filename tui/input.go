package tui

import (
	"unicode/utf8"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"devstack/tui/logbuf"
)

// handleKey routes a key by mode.
func (m *Model) handleKey(k tea.KeyPressMsg) tea.Cmd {
	switch m.mode {
	case modeSearch:
		return m.searchKey(k)
	case modeQuit:
		return m.quitKey(k)
	case modeStopping:
		if k.String() == "ctrl+c" {
			return tea.Quit // give up waiting; the stack is left as it is
		}
		return nil
	case modeHelp:
		if key.Matches(k, m.keys.Help, m.keys.Clear) || k.String() == "q" {
			m.mode = modeNormal
			return nil
		}
	}
	return m.normalKey(k)
}

// normalKey handles the dashboard's own keys, then lets the panes have
// theirs: the table its selection, the log pane its scrolling and search.
func (m *Model) normalKey(k tea.KeyPressMsg) tea.Cmd {
	km := m.keys
	switch {
	case key.Matches(k, km.Logs):
		if r := m.services.selectedRow(); r != nil {
			if m.logs.filter == r.Service {
				m.logs.setFilter("")
			} else {
				m.logs.setFilter(r.Service)
			}
		}
	case key.Matches(k, km.Restart):
		return m.serviceAction("restart", func(c Controller) actionFunc { return c.Restart })
	case key.Matches(k, km.Rebuild):
		return m.serviceAction("rebuild", func(c Controller) actionFunc { return c.Rebuild })
	case key.Matches(k, km.StopStart):
		r := m.services.selectedRow()
		if r != nil && m.services.anyRunning(r.Service) {
			return m.serviceAction("stop", func(c Controller) actionFunc { return c.Stop })
		}
		return m.serviceAction("start", func(c Controller) actionFunc { return c.Start })
	case key.Matches(k, km.Scratch):
		return m.scratchAction()
	case key.Matches(k, km.Shell):
		return m.shell()
	case key.Matches(k, km.Search):
		m.mode = modeSearch
		m.searchInput = ""
	case key.Matches(k, km.Help):
		m.mode = modeHelp
	case key.Matches(k, km.Quit):
		return m.quit()
	default:
		return tea.Batch(m.services.Update(k), m.logs.Update(k))
	}
	return nil
}

// searchKey edits the search being typed.
func (m *Model) searchKey(k tea.KeyPressMsg) tea.Cmd {
	switch k.String() {
	case "enter":
		m.mode = modeNormal
		return m.logs.Update(searchMsg{query: logbuf.NewQuery(m.searchInput)})
	case "esc", "ctrl+c":
		m.mode = modeNormal
	case "backspace":
		if m.searchInput == "" {
			m.mode = modeNormal
			break
		}
		_, size := utf8.DecodeLastRuneInString(m.searchInput)
		m.searchInput = m.searchInput[:len(m.searchInput)-size]
	case "ctrl+u":
		m.searchInput = ""
	default:
		if k.Text != "" {
			m.searchInput += k.Text
		}
	}
	return nil
}

// quit carries out q according to the quit behaviour.
func (m *Model) quit() tea.Cmd {
	switch m.opts.Quit {
	case QuitLeave:
		return tea.Quit
	case QuitStop:
		return m.down()
	}
	m.mode = modeQuit
	return nil
}

// quitKey answers the quit question.
func (m *Model) quitKey(k tea.KeyPressMsg) tea.Cmd {
	switch k.String() {
	case "l", "L", "ctrl+c":
		return tea.Quit
	case "s", "S", "d":
		return m.down()
	case "esc", "c", "n":
		m.mode = modeNormal
	}
	return nil
}
