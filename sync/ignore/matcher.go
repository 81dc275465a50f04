package ignore

import (
	"path/filepath"
	"strings"
)

// List is an ordered list of patterns relative to Base, evaluated as a
// .dockerignore is: the last pattern that matches a path (or one of its
// parent directories) decides, and a negated pattern re-includes.
type List struct {
	Base     string // absolute directory the patterns are relative to
	Patterns []*Pattern
}

// Match reports whether the list excludes rel (slash-separated, relative to
// Base) and the pattern that decided; by is nil when no pattern matched.
// It follows patternmatcher.MatchesOrParentMatches step by step.
func (l *List) Match(rel string) (excluded bool, by *Pattern) {
	for _, p := range l.Patterns {
		// An inclusion is only worth testing while not yet excluded, a
		// negation only once excluded.
		if p.Negate != excluded {
			continue
		}
		if p.matches(rel) {
			excluded = !p.Negate
			by = p
		}
	}
	return excluded, by
}

// mayReinclude reports whether a negated pattern could re-include
// something below the excluded directory relDir. It is the engine's own
// test when it walks a build context, so a directory we skip is one the
// engine would skip too.
func (l *List) mayReinclude(relDir string) bool {
	prefix := relDir + "/"
	for _, p := range l.Patterns {
		if p.Negate && strings.HasPrefix(p.Text+"/", prefix) {
			return true
		}
	}
	return false
}

// Rel returns path relative to base, slash-separated, and whether path is
// base itself or inside it.
func Rel(base, path string) (string, bool) {
	if path == base {
		return ".", true
	}
	prefix := base
	if !strings.HasSuffix(prefix, string(filepath.Separator)) {
		prefix += string(filepath.Separator)
	}
	if !strings.HasPrefix(path, prefix) {
		return "", false
	}
	return filepath.ToSlash(path[len(prefix):]), true
}
