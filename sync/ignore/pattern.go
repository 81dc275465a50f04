// Package ignore decides which host paths live sync sends. It evaluates
// .dockerignore files with the engine's own semantics (moby/patternmatcher
// and its ignorefile reader), the patterns of a watch rule, and a built-in
// list of editor droppings, and it remembers where every pattern came from
// so that `devstack sync explain` can name the file and line that excludes
// a path.
package ignore

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// Source says where a pattern came from.
type Source struct {
	File string // the ignore file, "" for patterns that are not in one
	Line int    // 1-based line in File, 0 when File is ""
	What string // a description when there is no file ("develop.watch[0].ignore[1]", "built-in")
}

func (s Source) String() string {
	switch {
	case s.File != "" && s.What != "":
		return fmt.Sprintf("%s:%d (%s)", s.File, s.Line, s.What)
	case s.File != "":
		return fmt.Sprintf("%s:%d", s.File, s.Line)
	default:
		return s.What
	}
}

// Pattern is one compiled ignore pattern.
type Pattern struct {
	Text   string // the normalised pattern, without the leading "!"
	Negate bool   // a "!pattern": re-includes what earlier patterns excluded
	Source Source
	// pm holds this pattern alone, always positive: evaluating patterns one
	// at a time (rather than handing the list to patternmatcher) lets us
	// name the pattern that decided, with identical semantics.
	pm *patternmatcher.PatternMatcher
}

func (p *Pattern) String() string {
	if p.Negate {
		return "!" + p.Text
	}
	return p.Text
}

// matches reports whether the pattern matches rel or one of its parents,
// as patternmatcher.MatchesOrParentMatches does for each pattern.
func (p *Pattern) matches(rel string) bool {
	ok, err := p.pm.MatchesOrParentMatches(rel)
	return err == nil && ok
}

// Compile compiles one pattern as it appears in a .dockerignore line or a
// watch rule (a leading "!" negates it).
func Compile(text string, src Source) (*Pattern, error) {
	text = strings.TrimSpace(text)
	p := &Pattern{Source: src}
	if strings.HasPrefix(text, "!") {
		p.Negate = true
		text = strings.TrimSpace(text[1:])
	}
	if text == "" {
		return nil, fmt.Errorf("%s: empty pattern", src)
	}
	text = path.Clean(text)
	if len(text) > 1 && text[0] == '/' {
		text = text[1:]
	}
	p.Text = text
	pm, err := patternmatcher.New([]string{text})
	if err != nil {
		return nil, fmt.Errorf("%s: bad pattern %q: %w", src, text, err)
	}
	// patternmatcher compiles lazily on first use and is not safe for
	// concurrent use until then; compile now so matching is read-only.
	if _, err := pm.MatchesOrParentMatches("x"); err != nil {
		return nil, fmt.Errorf("%s: bad pattern %q: %w", src, text, err)
	}
	p.pm = pm
	return p, nil
}

// ReadFile reads a .dockerignore file. Each line goes through ignorefile
// (the engine's reader) on its own, so every pattern keeps its line number.
// A missing file is not an error: it yields no patterns.
func ReadFile(file string) ([]*Pattern, error) {
	f, err := os.Open(file)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("unable to read %s: %w", file, err)
	}
	defer f.Close()
	return Read(f, file)
}

// Read parses ignore-file content; name is used in sources and errors.
func Read(r io.Reader, name string) ([]*Pattern, error) {
	var out []*Pattern
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() {
		line++
		got, err := ignorefile.ReadAll(strings.NewReader(sc.Text()))
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, line, err)
		}
		for _, text := range got {
			p, err := Compile(text, Source{File: name, Line: line})
			if err != nil {
				return nil, err
			}
			out = append(out, p)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("unable to read %s: %w", name, err)
	}
	return out, nil
}
