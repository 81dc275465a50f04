package ignore

import (
	"fmt"
	"os"
	"path/filepath"

	"devstack/engine/model"
)

// builtins are never synced, whatever the rules say: editor droppings
// (vim's swap files and its 4913 write test, backup files, emacs locks)
// and git's own directory.
var builtins = []struct{ pattern, why string }{
	{"**/*.swp", "editor swap file"},
	{"**/*.swx", "editor swap file"},
	{"**/*.swo", "editor swap file"},
	{"**/*~", "editor backup file"},
	{"**/4913", "vim write test file"},
	{"**/.#*", "editor lock file"},
	{"**/.git", "git directory"},
}

// Rule is the decision logic of one watch rule: which paths below Root
// are synced.
type Rule struct {
	Root     string  // the rule's host path, absolute
	File     bool    // Root is a single file rather than a directory
	Excludes []*List // built-ins, the build context's .dockerignore, the rule's ignore
	Include  *List   // the rule's include patterns; nil when it has none
}

// Decision is the verdict on one host path.
type Decision struct {
	Covered     bool     // the path is Root or below it
	Synced      bool     // the rule sends it
	By          *Pattern // the pattern that excluded it, if one did
	NotIncluded bool     // excluded because no include pattern matches
}

// Decide says whether the rule syncs abs.
func (r *Rule) Decide(abs string) Decision {
	base := r.Root
	if r.File {
		if abs != r.Root {
			return Decision{}
		}
		base = filepath.Dir(r.Root)
	}
	rel, ok := Rel(base, abs)
	if !ok {
		return Decision{}
	}
	if rel == "." {
		return Decision{Covered: true, Synced: true}
	}
	for _, l := range r.Excludes {
		lrel, ok := Rel(l.Base, abs)
		if !ok || lrel == "." {
			continue
		}
		if ex, by := l.Match(lrel); ex {
			return Decision{Covered: true, By: by}
		}
	}
	if r.Include != nil {
		if in, _ := r.Include.Match(rel); !in {
			return Decision{Covered: true, NotIncluded: true}
		}
	}
	return Decision{Covered: true, Synced: true}
}

// SkipDir reports whether nothing below the directory abs can be synced,
// so it need not be watched or walked. Include patterns never skip a
// directory: a file deep below may match them.
func (r *Rule) SkipDir(abs string) bool {
	for _, l := range r.Excludes {
		lrel, ok := Rel(l.Base, abs)
		if !ok || lrel == "." {
			continue
		}
		if ex, _ := l.Match(lrel); ex && !l.mayReinclude(lrel) {
			return true
		}
	}
	return false
}

// ForRule builds the decision logic of svc.Watch[index]. The build
// context's .dockerignore applies when the service has a build, as it does
// for the image; a Dockerfile-specific "<Dockerfile>.dockerignore" takes
// its place when present, as BuildKit does.
func ForRule(svc *model.Service, index int) (*Rule, error) {
	w := svc.Watch[index]
	if !filepath.IsAbs(w.Path) {
		return nil, fmt.Errorf("service %s: develop.watch[%d].path %q is not absolute", svc.Name, index, w.Path)
	}
	root := filepath.Clean(w.Path)
	r := &Rule{Root: root}
	if st, err := os.Stat(root); err == nil && !st.IsDir() {
		r.File = true
	}
	base := root
	if r.File {
		base = filepath.Dir(root)
	}
	bi := &List{Base: base}
	for _, b := range builtins {
		p, err := Compile(b.pattern, Source{What: "built-in: " + b.why})
		if err != nil {
			return nil, err
		}
		bi.Patterns = append(bi.Patterns, p)
	}
	r.Excludes = append(r.Excludes, bi)

	if file := IgnoreFile(svc.Build); file != "" {
		pats, err := ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("service %s: %w", svc.Name, err)
		}
		if len(pats) > 0 {
			r.Excludes = append(r.Excludes, &List{Base: svc.Build.Context, Patterns: pats})
		}
	}
	if w.IgnoreFile != "" {
		pats, err := ReadFile(w.IgnoreFile) // none when it does not exist
		if err != nil {
			return nil, fmt.Errorf("service %s: %w", svc.Name, err)
		}
		if len(pats) > 0 {
			r.Excludes = append(r.Excludes, &List{Base: filepath.Dir(w.IgnoreFile), Patterns: pats})
		}
	}
	if len(w.Ignore) > 0 {
		l := &List{Base: base}
		for i, text := range w.Ignore {
			p, err := Compile(text, Source{What: fmt.Sprintf("service %s: develop.watch[%d].ignore[%d]", svc.Name, index, i)})
			if err != nil {
				return nil, err
			}
			l.Patterns = append(l.Patterns, p)
		}
		r.Excludes = append(r.Excludes, l)
	}
	if len(w.Include) > 0 {
		l := &List{Base: base}
		for i, text := range w.Include {
			p, err := Compile(text, Source{What: fmt.Sprintf("service %s: develop.watch[%d].include[%d]", svc.Name, index, i)})
			if err != nil {
				return nil, err
			}
			l.Patterns = append(l.Patterns, p)
		}
		r.Include = l
	}
	return r, nil
}

// IgnoreFile returns the ignore file that applies to a build ("" when the
// service has no build): <Dockerfile>.dockerignore next to the Dockerfile
// when it exists, else the context's .dockerignore (which may not exist).
func IgnoreFile(b *model.Build) string {
	if b == nil || b.Context == "" || !filepath.IsAbs(b.Context) {
		return ""
	}
	if b.Inline == "" {
		df := b.Dockerfile
		if df == "" {
			df = "Dockerfile"
		}
		if !filepath.IsAbs(df) {
			df = filepath.Join(b.Context, df)
		}
		if st, err := os.Stat(df + ".dockerignore"); err == nil && !st.IsDir() {
			return df + ".dockerignore"
		}
	}
	return filepath.Join(b.Context, ".dockerignore")
}
