package sync

import (
	"errors"
	"io/fs"
	"os"
	"sort"
	"strings"

	"devstack/sync/record"
)

// changes are paths to bring in line, per rule: relative path -> whether
// the path was created during the batch.
type changes map[*rule]map[string]bool

func (c changes) add(r *rule, rel string, created bool) {
	m := c[r]
	if m == nil {
		m = map[string]bool{}
		c[r] = m
	}
	if was, ok := m[rel]; ok {
		created = created && was
	}
	m[rel] = created
}

// merge adds o's paths; a path known already keeps its created flag only
// if both say so.
func (c changes) merge(o changes) {
	for r, rels := range o {
		for rel, created := range rels {
			c.add(r, rel, created)
		}
	}
}

func (c changes) count() int {
	n := 0
	for _, rels := range c {
		n += len(rels)
	}
	return n
}

// rels returns a few of the paths, sorted, for display.
func (c changes) rels(max int) []string {
	var out []string
	for _, rels := range c {
		for rel := range rels {
			out = append(out, rel)
		}
	}
	sort.Strings(out)
	if len(out) > max {
		out = out[:max]
	}
	return out
}

// put is one host path to send.
type put struct {
	r   *rule
	rel string
}

// plan is what one batch does to a container.
type plan struct {
	puts    []put
	deletes []string // container paths, none below another
}

// roots are the rules' directories opened for one batch; nil when the
// directory is missing.
type roots map[*rule]*os.Root

func openRoots(rules []*rule) roots {
	out := roots{}
	for _, r := range rules {
		if root, err := r.openRoot(); err == nil {
			out[r] = root
		} else {
			out[r] = nil
		}
	}
	return out
}

func (rs roots) close() {
	for _, r := range rs {
		if r != nil {
			r.Close()
		}
	}
}

func (c changes) rules() []*rule {
	var out []*rule
	for r := range c {
		out = append(out, r)
	}
	return out
}

// makePlan looks at each changed path on the host: there, it is sent;
// gone, it is deleted in the container. Three cases are left alone: the
// watched directory itself (its removal never empties the target), a path
// created and gone within the batch that devstack never synced (an
// editor's temp file), and paths the rule does not sync. A directory
// removed below a rule with include patterns deletes the included paths
// devstack synced below it.
func makePlan(ch changes, rec *record.Record, rs roots) plan {
	var p plan
	var deletes []string
	for r, rels := range ch {
		root := rs[r]
		for rel, created := range rels {
			abs := r.abs(rel)
			d := r.decide(abs)
			if kind, ok := lstat(root, r, rel); ok {
				if d.Synced && (rel != "." || r.file()) {
					p.puts = append(p.puts, put{r, rel})
					// Another kind of file was synced there (a link that
					// became a directory): remove it first, or tar would
					// write through the old link.
					if cp, err := r.containerPath(rel); err == nil {
						if was := rec.Kind(cp); was != 0 && kind != 0 && was != kind {
							deletes = append(deletes, cp)
						}
					}
				}
				continue
			}
			if rel == "." && !r.file() {
				continue
			}
			cp, err := r.containerPath(rel)
			if err != nil {
				continue
			}
			switch {
			case d.NotIncluded:
				for _, q := range rec.Under(cp) {
					qrel := strings.TrimPrefix(q, r.target+"/")
					if r.decide(r.abs(qrel)).Synced {
						deletes = append(deletes, q)
					}
				}
			case !d.Synced:
			case created && rec.Kind(cp) == 0:
			default:
				deletes = append(deletes, cp)
			}
		}
	}
	sort.Slice(p.puts, func(i, j int) bool {
		if p.puts[i].r.index != p.puts[j].r.index {
			return p.puts[i].r.index < p.puts[j].r.index
		}
		return p.puts[i].rel < p.puts[j].rel
	})
	p.deletes = topmost(deletes)
	return p
}

// exists reports whether rel is on the host (anything but "no such
// file": an unreadable path is there, and reading it reports why).
func exists(root *os.Root, r *rule, rel string) bool {
	_, ok := lstat(root, r, rel)
	return ok
}

// lstat returns the kind of rel on the host (0 when it cannot tell) and
// whether it is there.
func lstat(root *os.Root, r *rule, rel string) (byte, bool) {
	if root == nil {
		return 0, false
	}
	name := rel
	if r.file() {
		name = r.fileName()
	}
	fi, err := root.Lstat(name)
	if err != nil {
		return 0, !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, fs.ErrInvalid) && !isNotDir(err)
	}
	switch {
	case fi.IsDir():
		return 'd', true
	case fi.Mode()&fs.ModeSymlink != 0:
		return 'l', true
	case fi.Mode().IsRegular():
		return 'f', true
	}
	return 0, true
}

// isNotDir: a path below something that is no longer a directory is gone.
func isNotDir(err error) bool {
	return err != nil && strings.Contains(err.Error(), "not a directory")
}

// topmost sorts paths and drops those below another one: removing a
// directory removes what is in it.
func topmost(paths []string) []string {
	sort.Strings(paths)
	var out []string
	for _, p := range paths {
		if n := len(out); n > 0 && (p == out[n-1] || strings.HasPrefix(p, out[n-1]+"/")) {
			continue
		}
		out = append(out, p)
	}
	return out
}
