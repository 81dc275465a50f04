package manifest

import (
	"path"
	"sort"
)

// Owner is the owner synced files get in the container.
type Owner struct{ UID, GID int }

// Diff is what it takes to bring a container directory in line with the
// host tree, and what must be left alone.
type Diff struct {
	Missing []string // on the host, not in the container: send
	Differ  []string // in both but different (size, mtime, mode, owner, kind): send
	Replace []string // of Differ: the container holds another kind of file there; remove it first
	Delete  []string // gone from the host and synced by devstack before: remove (top-most paths, whole subtrees)
	// ContainerOnly are paths the container has, the host does not, and
	// devstack never synced: generated in the container. Never touched.
	ContainerOnly []string
	// Kept were synced by devstack and are gone from the host, but hold
	// container-made files: they stay (and stay in the record).
	Kept []string
	// Conflicts are directories in the container where the host has
	// something else, holding files devstack did not sync: left alone.
	Conflicts []string
	// Unsure are files of the same size and mtime second on both sides
	// whose nanoseconds cannot tell them apart: the container's copy
	// was written within a second of its mtime, so an edit of the same
	// size later in that second looks the same. Compare their contents
	// (Settle); they are in no other list.
	Unsure []string
}

// Send returns Missing and Differ together, sorted.
func (d Diff) Send() []string {
	out := append(append([]string(nil), d.Missing...), d.Differ...)
	sort.Strings(out)
	return out
}

// Empty reports whether the two sides agree (container-only paths aside).
func (d Diff) Empty() bool {
	return len(d.Missing) == 0 && len(d.Differ) == 0 && len(d.Delete) == 0
}

// Compare compares the host tree with the container directory. synced
// says what kind of file devstack synced to a path of this container
// before (its record; 0 for none); excluded says whether the rule leaves
// a path out (ignored or not included): the container's copy of such a
// path is its own business.
//
// A symlink in the container where the host has a directory is a conflict
// unless devstack synced a link there: made in the container, it may lead
// anywhere (/etc), so nothing is sent below it or deleted through it.
func Compare(host, container Manifest, owner Owner, syncedKind func(rel string) byte, excluded func(rel string) bool) Diff {
	var d Diff
	synced := func(rel string) bool { return syncedKind(rel) != 0 }
	links := map[string]bool{}
	for rel, h := range host {
		if c, ok := container[rel]; ok && h.Kind == KindDir && c.Kind == KindSymlink && syncedKind(rel) != KindSymlink {
			links[rel] = true
			d.Conflicts = append(d.Conflicts, rel)
		}
	}
	for rel, h := range host {
		c, ok := container[rel]
		switch {
		case links[rel] || under(rel, links):
		case !ok:
			d.Missing = append(d.Missing, rel)
		case c.Kind != h.Kind:
			if c.Kind == KindDir && !wholly(container, host, rel, synced, excluded) {
				d.Conflicts = append(d.Conflicts, rel)
				continue
			}
			d.Differ = append(d.Differ, rel)
			d.Replace = append(d.Replace, rel)
		default:
			switch differs(h, c, owner) {
			case different:
				d.Differ = append(d.Differ, rel)
			case unsure:
				d.Unsure = append(d.Unsure, rel)
			}
		}
	}

	// Container paths the host does not have: removable when devstack put
	// them there, unless something below them is not (then only the
	// removable ones below go, and the directory stays).
	blocked := map[string]bool{}
	var gone []string
	for rel := range container {
		if _, ok := host[rel]; ok || under(rel, links) {
			continue
		}
		if excluded(rel) || !synced(rel) {
			for p := path.Dir(rel); p != "."; p = path.Dir(p) {
				blocked[p] = true
			}
			if !excluded(rel) {
				d.ContainerOnly = append(d.ContainerOnly, rel)
			}
			continue
		}
		gone = append(gone, rel)
	}
	replaced := map[string]bool{}
	for _, rel := range d.Replace {
		replaced[rel] = true
	}
	deletable := map[string]bool{}
	for _, rel := range gone {
		switch {
		case under(rel, replaced):
		case blocked[rel]:
			d.Kept = append(d.Kept, rel)
		default:
			deletable[rel] = true
		}
	}
	for rel := range deletable {
		if !deletable[parentOf(rel)] {
			d.Delete = append(d.Delete, rel)
		}
	}
	for _, s := range [][]string{d.Missing, d.Differ, d.Replace, d.Delete, d.ContainerOnly, d.Conflicts, d.Kept, d.Unsure} {
		sort.Strings(s)
	}
	return d
}

// wholly reports whether everything in the container at and below dir may
// be removed to make way for the host's file.
func wholly(container, host Manifest, dir string, synced, excluded func(string) bool) bool {
	prefix := dir + "/"
	for rel := range container {
		if rel == dir || len(rel) > len(prefix) && rel[:len(prefix)] == prefix {
			if excluded(rel) || !synced(rel) {
				return false
			}
		}
	}
	return true
}

func parentOf(rel string) string {
	p := path.Dir(rel)
	if p == "." {
		return ""
	}
	return p
}

// Settle moves the Unsure files whose contents differ to Differ: same
// reports whether rel has the same content on both sides (false when it
// cannot tell: sending again is always safe).
func (d *Diff) Settle(same func(rel string) bool) {
	for _, rel := range d.Unsure {
		if !same(rel) {
			d.Differ = append(d.Differ, rel)
		}
	}
	d.Unsure = nil
	sort.Strings(d.Differ)
}

// How a host path compares with the container's.
const (
	alike = iota
	different
	unsure
)

// racyWindow is how long after its mtime second a container copy may
// have been written and still miss a same-size edit within that second
// (one second, plus one for clocks that disagree by less than that).
const racyWindow = 1

func differs(h, c Info, owner Owner) int {
	if c.UID >= 0 && (c.UID != owner.UID || c.GID != owner.GID) {
		return different
	}
	switch h.Kind {
	case KindFile:
		if h.Size != c.Size || h.MTime != c.MTime || h.Perm != c.Perm {
			return different
		}
		return sameSecond(h, c)
	case KindDir:
		if h.Perm != c.Perm {
			return different
		}
	case KindSymlink:
		if h.Size != c.Size {
			return different
		}
	}
	return alike
}

// sameSecond compares two files of the same size and mtime second. Sync's
// tar carries whole seconds, so a synced copy's nanoseconds are 0; ones
// that are not came from elsewhere (an image, the container), and then
// the nanoseconds settle it. A copy written well after its mtime second
// cannot hide a later edit in that second (the edit's mtime would be
// later still); one written within it can, and only its content tells.
func sameSecond(h, c Info) int {
	switch {
	case h.MTimeNS == c.MTimeNS && h.MTimeNS >= 0:
		return alike
	case c.MTimeNS > 0 && h.MTimeNS >= 0:
		return different
	case c.CTime > 0 && c.CTime > c.MTime+racyWindow:
		return alike
	}
	return unsure
}

// under reports whether rel is below one of dirs.
func under(rel string, dirs map[string]bool) bool {
	for p := path.Dir(rel); p != "."; p = path.Dir(p) {
		if dirs[p] {
			return true
		}
	}
	return false
}
