// Package logbuf keeps the dashboard's log lines: one bounded ring per
// service, and a merged, time-ordered view over any set of rings that can
// be scrolled and searched without copying lines.
//
// Every line gets a sequence number from its Store when it is appended, so
// lines of different services interleave exactly as they arrived, and a
// position in the merged view is just a sequence number (an "anchor") that
// stays valid while rings overwrite their oldest lines.
package logbuf

import "sort"

// Kind says what a line is.
type Kind uint8

// Kinds of lines.
const (
	Stdout Kind = iota
	Stderr
	Build  // image build output of the service
	Marker // a line the dashboard added: restart, recreation, exit
)

// Line is one stored line. It is kept small: 200,000 of them are normal.
type Line struct {
	Seq     uint64
	Unix    int64 // time the line was written, in nanoseconds (0: unknown)
	Text    string
	Replica int32
	Kind    Kind
}

// Ring holds the newest lines of one service, up to a limit; older lines
// are overwritten and counted.
type Ring struct {
	buf     []Line // grows up to limit, then is reused circularly
	start   int    // index in buf of the oldest line once buf is full
	limit   int
	dropped uint64
}

// NewRing returns an empty ring keeping at most limit lines (at least 1).
func NewRing(limit int) *Ring {
	if limit < 1 {
		limit = 1
	}
	return &Ring{limit: limit}
}

// Push appends a line, overwriting the oldest when the ring is full.
func (r *Ring) Push(l Line) {
	// Grow by appending until the limit, so that quiet services do not hold
	// a full ring's worth of memory.
	if len(r.buf) < r.limit {
		r.buf = append(r.buf, l)
		return
	}
	r.buf[r.start] = l
	r.start++
	if r.start == r.limit {
		r.start = 0
	}
	r.dropped++
}

// Len is the number of lines held.
func (r *Ring) Len() int { return len(r.buf) }

// Limit is the most lines the ring holds.
func (r *Ring) Limit() int { return r.limit }

// Dropped is how many lines were overwritten (or dropped before they
// arrived, see AddDropped).
func (r *Ring) Dropped() uint64 { return r.dropped }

// AddDropped counts lines that were discarded before reaching the ring
// because they would have been overwritten anyway.
func (r *Ring) AddDropped(n uint64) { r.dropped += n }

// At returns the i-th line held, 0 being the oldest.
func (r *Ring) At(i int) *Line {
	j := r.start + i
	if j >= len(r.buf) {
		j -= len(r.buf)
	}
	return &r.buf[j]
}

// countUpTo returns how many lines have a sequence number <= seq. Lines
// are in increasing sequence order, so this is a binary search.
func (r *Ring) countUpTo(seq uint64) int {
	return sort.Search(len(r.buf), func(i int) bool { return r.At(i).Seq > seq })
}
