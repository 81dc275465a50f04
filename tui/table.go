package tui

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"
)

// column is one column of the services table. Columns are dropped, least
// important first, when the terminal is too narrow for all of them.
type column struct {
	title    string
	min, max int
	priority int // 0 is kept longest
	right    bool
	optional bool // shown only when a row has something to say in it
	cell     func(p *servicesPane, r *row, c cellContext) string
}

type cellContext struct {
	now        time.Time
	withHealth bool
}

var columns = []column{
	{title: "SERVICE", min: 7, max: 24, priority: 0, cell: func(_ *servicesPane, r *row, _ cellContext) string { return r.name() }},
	{title: "STATE", min: 7, max: 14, priority: 1, cell: func(p *servicesPane, r *row, c cellContext) string { return p.stateText(r, c.withHealth) }},
	{title: "HEALTH", min: 6, max: 9, priority: 7, cell: func(_ *servicesPane, r *row, _ cellContext) string { return healthText(r) }},
	{title: "UPTIME", min: 6, max: 7, priority: 3, right: true, cell: func(_ *servicesPane, r *row, c cellContext) string {
		if r.State != "running" || r.StartedAt.IsZero() {
			return "-"
		}
		return shortDuration(c.now.Sub(r.StartedAt))
	}},
	{title: "RESTARTS", min: 3, max: 8, priority: 6, right: true, cell: func(_ *servicesPane, r *row, _ cellContext) string {
		if r.State == "" {
			return "-"
		}
		return strconv.Itoa(r.Restarts)
	}},
	{title: "PORTS", min: 9, max: 40, priority: 2, cell: func(p *servicesPane, r *row, _ cellContext) string { return p.portsText(r) }},
	{title: "CPU", min: 6, max: 10, priority: 4, right: true, cell: func(_ *servicesPane, r *row, _ cellContext) string {
		if r.NoStats != "" && r.running() {
			return r.NoStats
		}
		if !r.HasStats {
			return "-"
		}
		return fmt.Sprintf("%.1f%%", r.CPU)
	}},
	{title: "MEM", min: 8, max: 9, priority: 5, right: true, cell: func(_ *servicesPane, r *row, _ cellContext) string {
		if !r.HasStats {
			return "-"
		}
		return bytesIEC(r.Mem)
	}},
	{title: "NODE", min: 4, max: 20, priority: 8, optional: true, cell: func(_ *servicesPane, r *row, _ cellContext) string {
		if r.Node == "" {
			return "-"
		}
		return r.Node
	}},
	{title: "IMAGE", min: 8, max: 30, priority: 9, cell: func(_ *servicesPane, r *row, _ cellContext) string { return r.Image }},
	{title: "LAST SYNC", min: 9, max: 17, priority: 8, right: true, cell: func(p *servicesPane, r *row, c cellContext) string {
		s, ok := p.lastSync[r.Service]
		if !ok {
			return "-"
		}
		if s.error {
			return "failed " + ago(c.now, s.at)
		}
		return ago(c.now, s.at)
	}},
}

const (
	colGap    = 2 // spaces between columns
	rowMarker = 2 // "▸ " before the selected row
)

// layoutColumns picks the columns that fit in width and their widths.
func layoutColumns(p *servicesPane, width int, c cellContext) (cols []int, widths []int) {
	natural := make([]int, len(columns))
	// skip: an optional column no row has anything ("-") to say in.
	skip := make([]bool, len(columns))
	for i, col := range columns {
		w := ansi.StringWidth(col.title)
		skip[i] = col.optional
		for _, r := range p.rows {
			cell := col.cell(p, r, c)
			w = max(w, ansi.StringWidth(cell))
			if cell != "-" {
				skip[i] = false
			}
		}
		natural[i] = min(max(w, col.min), col.max)
	}
	// Take columns by priority at their natural width while they fit.
	taken := make([]bool, len(columns))
	used := rowMarker
	for prio := 0; prio <= 9; prio++ {
		for i, col := range columns {
			if col.priority != prio || skip[i] {
				continue
			}
			need := natural[i]
			if used > rowMarker {
				need += colGap
			}
			if used+need <= width {
				taken[i] = true
				used += need
			} else if prio == 0 {
				// The name column always shows, truncated if need be.
				taken[i] = true
				natural[i] = max(1, width-used)
				used = width
			}
		}
	}
	for i := range columns {
		if taken[i] {
			cols = append(cols, i)
			widths = append(widths, natural[i])
		}
	}
	return cols, widths
}

// View draws the table: a header and the rows that fit.
func (p *servicesPane) View(st styles, now time.Time) string {
	if p.height <= 0 {
		return ""
	}
	withHealth := false
	c := cellContext{now: now}
	cols, widths := layoutColumns(p, p.width, c)
	for _, i := range cols {
		if columns[i].title == "HEALTH" {
			withHealth = true
		}
	}
	c.withHealth = withHealth

	var b strings.Builder
	header := strings.Repeat(" ", rowMarker)
	for k, i := range cols {
		if k > 0 {
			header += strings.Repeat(" ", colGap)
		}
		if columns[i].right {
			header += fitRight(columns[i].title, widths[k])
		} else {
			header += fit(columns[i].title, widths[k])
		}
	}
	b.WriteString(st.header.Render(fit(header, p.width)))

	body := p.height - 1
	end := min(len(p.rows), p.offset+body)
	sel := p.selectedRow()
	for _, r := range p.rows[p.offset:end] {
		b.WriteByte('\n')
		b.WriteString(p.rowView(st, r, r == sel, cols, widths, c))
	}
	for n := end - p.offset; n < body; n++ {
		b.WriteByte('\n')
		b.WriteString(strings.Repeat(" ", p.width))
	}
	return b.String()
}

func (p *servicesPane) rowView(st styles, r *row, selected bool, cols, widths []int, c cellContext) string {
	var b strings.Builder
	if selected {
		b.WriteString("▸ ")
	} else {
		b.WriteString("  ")
	}
	for k, i := range cols {
		if k > 0 {
			b.WriteString(strings.Repeat(" ", colGap))
		}
		text := columns[i].cell(p, r, c)
		var cell string
		if columns[i].right {
			cell = fitRight(text, widths[k])
		} else {
			cell = fit(text, widths[k])
		}
		if selected {
			b.WriteString(cell) // the whole row is styled below
			continue
		}
		b.WriteString(cellStyle(st, p, r, columns[i].title, text).Render(cell))
	}
	line := padLine(b.String(), p.width)
	if selected {
		return st.selected.Render(line)
	}
	return line
}

func cellStyle(st styles, p *servicesPane, r *row, title, text string) lipgloss.Style {
	switch title {
	case "SERVICE":
		return st.prefix(p.serviceIndex(r.Service))
	case "STATE", "HEALTH":
		if text == "-" {
			return st.dim
		}
		return st.state(text)
	case "LAST SYNC":
		if strings.HasPrefix(text, "failed") {
			return st.errText
		}
	}
	if text == "-" {
		return st.dim
	}
	return lipgloss.NewStyle()
}
