package load

import (
	"fmt"
	"strconv"
	"strings"
)

// Error is a problem in the user's compose project: what is wrong, where
// it is written when that can be found, and what to do about it. Its text
// leads with file:line:column, the way compilers report, so editors and
// terminals can jump to it.
type Error struct {
	File    string // absolute path of the compose (or env) file; "" when unknown
	Line    int    // 1-based; 0 when unknown
	Column  int    // 1-based; 0 when unknown
	Service string // the service concerned, if any
	Message string // what is wrong
	Hint    string // what to do about it
	Err     error  // the underlying error (compose-go's), if any
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			b.WriteString(":" + strconv.Itoa(e.Line))
			if e.Column > 0 {
				b.WriteString(":" + strconv.Itoa(e.Column))
			}
		}
		b.WriteString(": ")
	}
	b.WriteString(e.Message)
	if e.Hint != "" {
		b.WriteString(": ")
		b.WriteString(e.Hint)
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// NotFoundError says that no compose file was found, and where the search
// went.
type NotFoundError struct {
	Dir   string   // where the upward search started
	Names []string // the file names looked for
	Also  string   // what else was looked at, if anything ("the engine holds no ...")
}

func (e *NotFoundError) Error() string {
	also := ""
	if e.Also != "" {
		also = ", and " + e.Also
	}
	return fmt.Sprintf("no compose file found in %s or any parent directory (looked for %s)%s: create one with `devstack init`, or name it with -f",
		e.Dir, strings.Join(e.Names, ", "), also)
}

// at fills the error's position from where path is written in files.
func (e *Error) at(files []string, path ...string) *Error {
	if pos, ok := locate(files, path...); ok {
		e.File, e.Line, e.Column = pos.file, pos.line, pos.column
	} else if e.File == "" {
		// Not found (an included file, an interpolated key): name the
		// files it came from at least.
		e.File = strings.Join(files, ", ")
	}
	return e
}

// quoteList renders names as "a", "b", "c".
func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = strconv.Quote(n)
	}
	return strings.Join(q, ", ")
}
