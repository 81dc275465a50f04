package logbuf

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Query is a compiled search: case-insensitive unless it has an upper-case
// letter ("smart case", as in less and vim).
type Query struct {
	text  string
	fold  bool
	lower string
}

// NewQuery compiles a search text.
func NewQuery(text string) Query {
	q := Query{text: text, fold: true}
	for _, r := range text {
		if unicode.IsUpper(r) {
			q.fold = false
			break
		}
	}
	if q.fold {
		q.lower = strings.ToLower(text)
	}
	return q
}

// Text is the query as typed.
func (q Query) Text() string { return q.text }

// Empty reports whether the query matches nothing.
func (q Query) Empty() bool { return q.text == "" }

// Match reports whether s contains the query.
func (q Query) Match(s string) bool {
	if q.text == "" {
		return false
	}
	if !q.fold {
		return strings.Contains(s, q.text)
	}
	return q.index(s, 0) >= 0
}

// Index returns the byte ranges of every non-overlapping match in s.
func (q Query) Index(s string) [][2]int {
	if q.text == "" {
		return nil
	}
	var out [][2]int
	for from := 0; from <= len(s); {
		var i, n int
		if q.fold {
			i = q.index(s, from)
			n = q.matchLen(s, i)
		} else {
			i = strings.Index(s[from:], q.text)
			if i >= 0 {
				i += from
			}
			n = len(q.text)
		}
		if i < 0 || n == 0 {
			break
		}
		out = append(out, [2]int{i, i + n})
		from = i + n
	}
	return out
}

// index finds the first case-insensitive match at or after from without
// allocating: log lines are searched by the hundred thousand.
func (q Query) index(s string, from int) int {
	for i := from; i < len(s); {
		if q.matchLen(s, i) > 0 {
			return i
		}
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
	}
	return -1
}

// matchLen is the byte length of a case-insensitive match at s[i:], or 0.
func (q Query) matchLen(s string, i int) int {
	if i < 0 {
		return 0
	}
	j := i
	for _, want := range q.lower {
		if j >= len(s) {
			return 0
		}
		r, size := utf8.DecodeRuneInString(s[j:])
		if r != want && unicode.ToLower(r) != want {
			return 0
		}
		j += size
	}
	return j - i
}
