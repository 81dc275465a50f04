package logbuf

import (
	"strings"

	"github.com/charmbracelet/x/ansi"
)

// Clean makes a container's line safe to draw: escape sequences are
// removed (a program's colours or cursor moves would corrupt the layout),
// tabs become spaces and other control characters are dropped. Most lines
// need nothing, and are returned as they are without allocating.
func Clean(s string) string {
	dirty := false
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			dirty = true
			break
		}
	}
	if !dirty {
		return s
	}
	if strings.IndexByte(s, 0x1b) >= 0 {
		s = ansi.Strip(s)
	}
	var b strings.Builder
	b.Grow(len(s))
	col := 0
	for _, r := range s {
		switch {
		case r == '\t':
			n := 4 - col%4
			b.WriteString("    "[:n])
			col += n
		case r < 0x20 || r == 0x7f:
			// dropped: \r from CRLF output, bells, stray controls
		default:
			b.WriteRune(r)
			col++
		}
	}
	return b.String()
}
