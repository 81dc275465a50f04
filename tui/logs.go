package tui

import (
	"fmt"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"devstack/engine/event"
	"devstack/tui/logbuf"
)

// logPane shows the log lines of every service, or of one, following the
// newest or paused at an anchor; it scrolls and searches the rings
// without copying them.
type logPane struct {
	store  *logbuf.Store
	filter string // service shown alone ("": all)
	follow bool
	anchor uint64 // bottom line when paused

	query   logbuf.Query
	current uint64 // line of the match n/N moved to (0: none)

	seen map[string]*replicaSeen // service\x00replica -> for restart markers

	keys          keyMap
	width, height int // height includes the title bar
}

func newLogPane(limit int, keys keyMap) *logPane {
	return &logPane{store: logbuf.NewStore(limit), follow: true, keys: keys, seen: map[string]*replicaSeen{}}
}

// searchMsg starts a search (from the search prompt).
type searchMsg struct{ query logbuf.Query }

// noticeMsg asks the dashboard to show a message on the status line.
type noticeMsg struct {
	kind noticeKind
	text string
}

func noticeCmd(kind noticeKind, text string) tea.Cmd {
	return func() tea.Msg { return noticeMsg{kind: kind, text: text} }
}

// Update stores log lines, marks restarts, and handles the pane's keys:
// follow, scrolling and search.
func (p *logPane) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case event.Log:
		kind := logbuf.Stdout
		if msg.Stream == "stderr" {
			kind = logbuf.Stderr
		}
		p.store.Append(msg.Service, logbuf.Line{Unix: unixNano(msg.Time), Text: logbuf.Clean(msg.Line), Replica: int32(msg.Replica), Kind: kind})
	case event.BuildStep:
		text := msg.Line
		switch {
		case msg.Status == event.StepDone:
			text = fmt.Sprintf("%s  done %.1fs", msg.Step, msg.Duration)
		case msg.Status == event.StepCached:
			text = msg.Step + "  cached"
		case msg.Status == event.StepFailed:
			text = msg.Step + "  failed: " + msg.Error
		case msg.Status == event.StepUpToDate:
			text = "up to date: " + msg.Step
		case text == "":
			text = msg.Step
		}
		p.store.Append(msg.Service, logbuf.Line{Unix: unixNano(msg.Time), Text: logbuf.Clean(text), Kind: logbuf.Build})
	case event.State:
		p.markRestart(msg)
	case searchMsg:
		if !p.search(msg.query) {
			return noticeCmd(noticeInfo, "no match for "+msg.query.Text())
		}
	case tea.KeyPressMsg:
		km := p.keys
		switch {
		case key.Matches(msg, km.Follow):
			p.toggleFollow()
		case key.Matches(msg, km.PageUp):
			p.scroll(-max(p.body()-1, 1))
		case key.Matches(msg, km.PageDn):
			p.scroll(max(p.body()-1, 1))
		case key.Matches(msg, km.Top):
			p.top()
		case key.Matches(msg, km.Bottom):
			p.end()
		case key.Matches(msg, km.Clear):
			p.clearSearch()
		case key.Matches(msg, km.Next, km.Prev):
			return p.findNext(key.Matches(msg, km.Next))
		}
	}
	return nil
}

func (p *logPane) findNext(older bool) tea.Cmd {
	if p.query.Empty() {
		return noticeCmd(noticeInfo, "no search yet: / to search")
	}
	if !p.next(older) {
		dir := "older"
		if !older {
			dir = "newer"
		}
		return noticeCmd(noticeInfo, "no "+dir+" match for "+p.query.Text())
	}
	return nil
}

// SetSize gives the pane its width and height (title bar included).
func (p *logPane) SetSize(width, height int) {
	p.width, p.height = width, height
}

func (p *logPane) body() int { return max(p.height-1, 0) }

func (p *logPane) view() logbuf.View {
	if p.filter == "" {
		return p.store.View()
	}
	return p.store.View(p.filter)
}

// bottom is the anchor of the last line shown.
func (p *logPane) bottom(v logbuf.View) uint64 {
	if p.follow {
		n, _ := v.Newest()
		return n
	}
	return p.anchor
}

// setFilter shows one service's lines, or all, and follows them.
func (p *logPane) setFilter(service string) {
	p.filter = service
	p.follow = true
	p.current = 0
}

func (p *logPane) toggleFollow() {
	if p.follow {
		p.anchor = p.bottom(p.view())
		p.follow = false
		return
	}
	p.follow = true
	p.current = 0
}

// scroll moves the window by delta lines (negative: back in time).
func (p *logPane) scroll(delta int) {
	v := p.view()
	from := p.bottom(v)
	to, ok := v.Step(from, delta)
	if !ok {
		return
	}
	newest, _ := v.Newest()
	if delta > 0 && to == newest {
		p.follow = true
		return
	}
	p.follow = false
	p.anchor = p.clampTop(v, to)
}

// clampTop keeps a full window: the bottom line is at least the body's
// height from the oldest line.
func (p *logPane) clampTop(v logbuf.View, anchor uint64) uint64 {
	if v.Position(anchor) >= p.body() {
		return anchor
	}
	first, ok := v.Step(0, 0)
	if !ok {
		return anchor
	}
	if a, ok := v.Step(first, p.body()-1); ok {
		return a
	}
	return anchor
}

func (p *logPane) top() {
	v := p.view()
	if v.Len() <= p.body() {
		return
	}
	p.follow = false
	p.anchor = p.clampTop(v, 0)
}

func (p *logPane) end() {
	p.follow = true
	p.current = 0
}

// search sets a query and moves to its newest match at or above the
// bottom of the window.
func (p *logPane) search(q logbuf.Query) bool {
	p.query = q
	p.current = 0
	if q.Empty() {
		return true
	}
	v := p.view()
	from := p.bottom(v)
	if m, ok := v.Find(from, true, true, p.matcher()); ok {
		p.showMatch(v, m)
		return true
	}
	return false
}

// next moves to the next match, older or newer than the current one
// (or than the bottom of the window when there is none yet).
func (p *logPane) next(older bool) bool {
	if p.query.Empty() {
		return false
	}
	v := p.view()
	from, inclusive := p.current, false
	if from == 0 {
		from, inclusive = p.bottom(v), older
	}
	m, ok := v.Find(from, older, inclusive, p.matcher())
	if !ok {
		return false
	}
	p.showMatch(v, m)
	return true
}

func (p *logPane) matcher() func(string, *logbuf.Line) bool {
	q := p.query
	return func(_ string, l *logbuf.Line) bool { return l.Kind != logbuf.Marker && q.Match(l.Text) }
}

// showMatch pauses with the match in the middle of the window.
func (p *logPane) showMatch(v logbuf.View, seq uint64) {
	p.current = seq
	p.follow = false
	a, _ := v.Step(seq, p.body()/2)
	p.anchor = p.clampTop(v, a)
}

func (p *logPane) clearSearch() {
	p.query = logbuf.NewQuery("")
	p.current = 0
}

// lines is what the window shows, oldest first.
func (p *logPane) lines(v logbuf.View) []logbuf.Ref {
	n := p.body()
	refs := v.Tail(p.bottom(v), n)
	if len(refs) < n && v.Len() > len(refs) {
		refs = v.Head(n)
	}
	return refs
}

// title is the pane's title bar text.
func (p *logPane) title(v logbuf.View) string {
	parts := []string{"logs: all"}
	if p.filter != "" {
		parts[0] = "logs: " + p.filter
	}
	total := v.Len()
	if p.follow {
		parts = append(parts, "following")
	} else {
		pos := v.Position(p.anchor)
		s := "paused at " + thousands(pos) + "/" + thousands(total)
		if newer := total - pos; newer > 0 {
			s += " · " + thousands(newer) + " newer"
		}
		parts = append(parts, s)
	}
	parts = append(parts, thousands(total)+" lines")
	if d := v.Dropped(); d > 0 {
		parts = append(parts, thousands(d)+" dropped (limit "+thousands(p.store.Limit())+"/service)")
	}
	if !p.query.Empty() {
		parts = append(parts, "search: "+p.query.Text())
	}
	return strings.Join(parts, " · ")
}

// View draws the title bar and the visible lines.
func (p *logPane) View(st styles, prefixWidth int, colour func(service string) int) string {
	if p.height <= 0 {
		return ""
	}
	v := p.view()
	var b strings.Builder
	b.WriteString(st.rule.Render(rule(p.title(v), p.width)))
	refs := p.lines(v)
	for _, ref := range refs {
		b.WriteByte('\n')
		b.WriteString(p.lineView(st, ref, prefixWidth, colour))
	}
	if len(refs) == 0 && p.body() > 0 {
		b.WriteByte('\n')
		msg := "no output yet"
		if p.filter != "" {
			msg = "no output from " + p.filter + " yet"
		}
		b.WriteString(st.dim.Render(fit(msg, p.width)))
		refs = append(refs, logbuf.Ref{})
	}
	for n := len(refs); n < p.body(); n++ {
		b.WriteByte('\n')
		b.WriteString(strings.Repeat(" ", p.width))
	}
	return b.String()
}

func (p *logPane) lineView(st styles, ref logbuf.Ref, prefixWidth int, colour func(string) int) string {
	l := ref.Line
	if l.Kind == logbuf.Marker {
		return st.marker.Render(rule(l.Text, p.width))
	}
	name := ref.Service
	if l.Replica > 0 {
		name = replicaName(ref.Service, int(l.Replica))
	}
	if l.Kind == logbuf.Build {
		name = ref.Service + " build"
	}
	prefix := fit(name, prefixWidth) + " │ "
	if l.Kind == logbuf.Stderr {
		prefix = fit(name, prefixWidth) + " ┃ "
	}
	textWidth := p.width - len([]rune(prefix))
	text := clip(l.Text, textWidth)
	out := st.prefix(colour(ref.Service)).Render(prefix) + p.highlight(st, text, l.Seq == p.current)
	return padLine(out, p.width)
}

// highlight marks the query's matches in a visible line.
func (p *logPane) highlight(st styles, text string, current bool) string {
	if p.query.Empty() {
		return text
	}
	spans := p.query.Index(text)
	if len(spans) == 0 {
		return text
	}
	style := st.match
	if current {
		style = st.current
	}
	var b strings.Builder
	at := 0
	for _, s := range spans {
		b.WriteString(text[at:s[0]])
		b.WriteString(style.Render(text[s[0]:s[1]]))
		at = s[1]
	}
	b.WriteString(text[at:])
	return b.String()
}

func replicaName(service string, replica int) string {
	return (&row{Service: service, Replica: replica}).name()
}

// lineOf converts a log event's time for storage.
func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}
