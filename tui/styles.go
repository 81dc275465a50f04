package tui

import (
	"charm.land/lipgloss/v2"
)

// styles are every style the dashboard draws with. Colours are the 16
// ANSI ones, so the dashboard follows the terminal's own theme; with
// NoColor they are left out and only bold and reverse remain, as NO_COLOR
// asks (https://no-color.org).
type styles struct {
	title    lipgloss.Style
	header   lipgloss.Style // table and pane headers
	rule     lipgloss.Style // pane title bars
	selected lipgloss.Style
	dim      lipgloss.Style
	banner   lipgloss.Style
	marker   lipgloss.Style
	match    lipgloss.Style
	current  lipgloss.Style // the match n/N moved to
	errText  lipgloss.Style
	okText   lipgloss.Style
	warnText lipgloss.Style
	prompt   lipgloss.Style
	stderr   lipgloss.Style
	helpKey  lipgloss.Style
	helpDesc lipgloss.Style
	prefixes []lipgloss.Style // one per service, by the service's position
}

func newStyles(noColor bool) styles {
	fg := func(c string) lipgloss.Style {
		if noColor {
			return lipgloss.NewStyle()
		}
		return lipgloss.NewStyle().Foreground(lipgloss.Color(c))
	}
	s := styles{
		title:    fg("6").Bold(true),
		header:   fg("8").Bold(true),
		rule:     fg("8"),
		selected: lipgloss.NewStyle().Reverse(true),
		dim:      fg("8"),
		banner:   lipgloss.NewStyle().Bold(true).Reverse(true),
		marker:   fg("3").Bold(true),
		match:    lipgloss.NewStyle().Reverse(true),
		current:  lipgloss.NewStyle().Reverse(true).Bold(true).Underline(true),
		errText:  fg("1"),
		okText:   fg("2"),
		warnText: fg("3"),
		prompt:   lipgloss.NewStyle().Bold(true),
		stderr:   fg("1"),
		helpKey:  fg("7").Bold(true),
		helpDesc: fg("8"),
	}
	if !noColor {
		s.banner = lipgloss.NewStyle().Bold(true).Foreground(lipgloss.Color("15")).Background(lipgloss.Color("1"))
		s.match = lipgloss.NewStyle().Foreground(lipgloss.Color("0")).Background(lipgloss.Color("3"))
		s.current = lipgloss.NewStyle().Foreground(lipgloss.Color("0")).Background(lipgloss.Color("11")).Bold(true)
	}
	for _, c := range []string{"6", "5", "4", "2", "3", "14", "13", "12", "10", "11"} {
		s.prefixes = append(s.prefixes, fg(c))
	}
	return s
}

// prefix is the colour of a service's log prefix.
func (s styles) prefix(index int) lipgloss.Style {
	if index < 0 {
		index = -index
	}
	return s.prefixes[index%len(s.prefixes)]
}

// state is the colour of a container state (as the table shows it).
func (s styles) state(text string) lipgloss.Style {
	switch text {
	case "running", "healthy":
		return s.okText
	case "unhealthy", "dead":
		return s.errText
	case "exited (0)", "removed", "-":
		return s.dim
	case "created":
		return s.dim
	}
	if len(text) > 7 && text[:7] == "exited " {
		return s.errText
	}
	// restarting, starting, and everything in progress (building, ...)
	return s.warnText
}
