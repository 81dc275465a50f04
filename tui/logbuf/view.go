package logbuf

// View is the lines of some rings merged in arrival order. A position in
// it is an anchor: the sequence number of a line, meaning "this line, or
// the newest line before it if it is gone". Every operation costs about
// (lines walked × rings), never the size of the rings, so scrolling and
// drawing stay cheap with 200,000 lines held.
type View struct {
	names []string
	rings []*Ring
}

// Len is the number of lines in the view.
func (v View) Len() int {
	n := 0
	for _, r := range v.rings {
		n += r.Len()
	}
	return n
}

// Dropped is the number of lines the view's rings overwrote or discarded.
func (v View) Dropped() uint64 {
	var n uint64
	for _, r := range v.rings {
		n += r.Dropped()
	}
	return n
}

// Position is the number of lines at or before anchor (1 is the oldest).
func (v View) Position(anchor uint64) int {
	n := 0
	for _, r := range v.rings {
		n += r.countUpTo(anchor)
	}
	return n
}

// Tail returns up to n lines ending with the anchor's line, oldest first.
func (v View) Tail(anchor uint64, n int) []Ref {
	if n <= 0 {
		return nil
	}
	out := make([]Ref, 0, n)
	c := v.at(anchor)
	for len(out) < n {
		i, l := c.prev()
		if l == nil {
			break
		}
		out = append(out, Ref{Service: v.names[i], Line: l})
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

// Head returns up to n lines starting with the oldest one.
func (v View) Head(n int) []Ref {
	out := make([]Ref, 0, n)
	c := v.at(0)
	for len(out) < n {
		i, l := c.next()
		if l == nil {
			break
		}
		out = append(out, Ref{Service: v.names[i], Line: l})
	}
	return out
}

// Step moves from the anchor's line by delta lines (negative: older) and
// returns the line reached, stopping at the oldest or newest line. It
// reports false when the view is empty.
func (v View) Step(anchor uint64, delta int) (uint64, bool) {
	c := v.at(anchor)
	var last *Line
	if delta <= 0 {
		for n := 0; n <= -delta; n++ {
			_, l := c.prev()
			if l == nil {
				break
			}
			last = l
		}
		if last == nil { // the anchor is older than every line
			return v.first()
		}
		return last.Seq, true
	}
	last = c.peekPrev() // the anchor's own line, if no line follows it
	for n := 0; n < delta; n++ {
		_, l := c.next()
		if l == nil {
			break
		}
		last = l
	}
	if last == nil {
		return 0, false
	}
	return last.Seq, true
}

// Newest is the sequence number of the view's newest line.
func (v View) Newest() (uint64, bool) {
	var best uint64
	for _, r := range v.rings {
		if r.Len() > 0 {
			if s := r.At(r.Len() - 1).Seq; s > best {
				best = s
			}
		}
	}
	return best, best != 0
}

func (v View) first() (uint64, bool) {
	c := v.at(0)
	_, l := c.next()
	if l == nil {
		return 0, false
	}
	return l.Seq, true
}

// Find returns the nearest line older (or newer) than the anchor's line
// for which match is true; inclusive makes the anchor's line a candidate.
func (v View) Find(anchor uint64, older, inclusive bool, match func(service string, l *Line) bool) (uint64, bool) {
	c := v.at(anchor)
	if older {
		if !inclusive {
			c.prev()
		}
		for {
			i, l := c.prev()
			if l == nil {
				return 0, false
			}
			if match(v.names[i], l) {
				return l.Seq, true
			}
		}
	}
	if inclusive {
		c.prev() // step back so that the anchor's line comes first
	}
	for {
		i, l := c.next()
		if l == nil {
			return 0, false
		}
		if match(v.names[i], l) {
			return l.Seq, true
		}
	}
}

// cursor sits between two lines of a view: idx[i] is how many lines of
// ring i are before it.
type cursor struct {
	rings []*Ring
	idx   []int
}

func (v View) at(anchor uint64) *cursor {
	c := &cursor{rings: v.rings, idx: make([]int, len(v.rings))}
	for i, r := range v.rings {
		c.idx[i] = r.countUpTo(anchor)
	}
	return c
}

// peekPrev returns the line just before the cursor without moving.
func (c *cursor) peekPrev() *Line {
	i, l := c.prev()
	if l != nil {
		c.idx[i]++
	}
	return l
}

// prev returns the line just before the cursor and moves before it.
func (c *cursor) prev() (int, *Line) {
	best := -1
	var line *Line
	for i, r := range c.rings {
		if c.idx[i] == 0 {
			continue
		}
		l := r.At(c.idx[i] - 1)
		if line == nil || l.Seq > line.Seq {
			best, line = i, l
		}
	}
	if best < 0 {
		return -1, nil
	}
	c.idx[best]--
	return best, line
}

// next returns the line just after the cursor and moves past it.
func (c *cursor) next() (int, *Line) {
	best := -1
	var line *Line
	for i, r := range c.rings {
		if c.idx[i] >= r.Len() {
			continue
		}
		l := r.At(c.idx[i])
		if line == nil || l.Seq < line.Seq {
			best, line = i, l
		}
	}
	if best < 0 {
		return -1, nil
	}
	c.idx[best]++
	return best, line
}
