package tui

import (
	"fmt"
	"strings"

	tea "charm.land/bubbletea/v2"

	"devstack/engine/event"
)

// scratchLine shows the latest scratch rebuild's phase or result.
type scratchLine struct {
	latest *event.Scratch
	width  int
}

// Update takes the latest scratch event.
func (s *scratchLine) Update(msg tea.Msg) tea.Cmd {
	if e, ok := msg.(event.Scratch); ok {
		s.latest = &e
	}
	return nil
}

// SetSize gives the line its width.
func (s *scratchLine) SetSize(width int) { s.width = width }

func (s *scratchLine) View(st styles) string {
	e := s.latest
	if e == nil {
		return st.dim.Render(fit("scratch: no rebuild yet (S runs one)", s.width))
	}
	parts := []string{"scratch " + e.Time.Format("15:04:05") + ": " + e.Phase}
	if e.Status != "" {
		parts[0] += " " + e.Status
	}
	if e.Detail != "" {
		parts = append(parts, e.Detail)
	}
	if n := len(e.Findings); n > 0 {
		f := e.Findings[0]
		found := fmt.Sprintf("%d finding", n)
		if n > 1 {
			found += "s"
		}
		parts = append(parts, fmt.Sprintf("%s: %s in %s: %s", found, f.Category, f.Service, f.Evidence))
	}
	if e.Report != "" {
		parts = append(parts, "report "+e.Report)
	}
	text := fit(strings.Join(parts, " · "), s.width)
	switch e.Status {
	case "pass":
		return st.okText.Render(text)
	case "fail", "error":
		return st.errText.Render(text)
	}
	return st.warnText.Render(text)
}
