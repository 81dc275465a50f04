// Package manifest lists the two sides of a sync (the host tree and the
// container directory) and compares them, so that an initial sync sends
// only what differs and `sync check` can report drift. It is pure apart
// from reading the host tree.
package manifest

import (
	"archive/tar"
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strconv"
	"strings"
)

// Kinds of entries, as in package pack.
const (
	KindFile    = 'f'
	KindDir     = 'd'
	KindSymlink = 'l'
	KindOther   = '?'
)

// Info is what is compared of one path.
type Info struct {
	Kind  byte
	Size  int64  // files: bytes; symlinks: length of the target
	MTime int64  // unix seconds
	Perm  uint32 // permission bits and sticky; setuid and setgid are never synced
	UID   int    // container side only; -1 when unknown
	GID   int
}

// Manifest maps slash-separated paths, relative to the synced directory,
// to what they are. The directory itself is not in it.
type Manifest map[string]Info

// Decide says, for a host path relative to the synced directory, whether
// it is synced and whether to walk into it (directories only).
type Decide func(rel string, dir bool) (synced, descend bool)

// Skip is a host path that could not be listed.
type Skip struct{ Rel, Reason string }

// Host lists the host tree below root (a watched directory) as the rule
// decides, without following symlinks. Unreadable directories are skipped
// and reported, never fatal.
func Host(root *os.Root, decide Decide) (Manifest, []Skip, error) {
	m := Manifest{}
	var skips []Skip
	err := fs.WalkDir(root.FS(), ".", func(rel string, d fs.DirEntry, err error) error {
		if err != nil {
			if rel == "." {
				return err
			}
			skips = append(skips, Skip{rel, err.Error()})
			if d != nil && d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if rel == "." {
			return nil
		}
		synced, descend := decide(rel, d.IsDir())
		if synced {
			fi, err := d.Info()
			if err != nil {
				if !errors.Is(err, fs.ErrNotExist) {
					skips = append(skips, Skip{rel, err.Error()})
				}
				return nil
			}
			m[rel] = FromFileInfo(fi)
		}
		if d.IsDir() && !descend {
			return fs.SkipDir
		}
		return nil
	})
	if err != nil {
		return nil, skips, fmt.Errorf("unable to list %s: %w", root.Name(), err)
	}
	return m, skips, nil
}

// FromFileInfo describes a host file as it would be once synced.
func FromFileInfo(fi fs.FileInfo) Info {
	i := Info{Kind: KindOther, MTime: fi.ModTime().Unix(), Perm: uint32(fi.Mode().Perm()), UID: -1, GID: -1}
	if fi.Mode()&fs.ModeSticky != 0 {
		i.Perm |= 0o1000
	}
	switch {
	case fi.IsDir():
		i.Kind = KindDir
	case fi.Mode()&fs.ModeSymlink != 0:
		i.Kind = KindSymlink
		i.Size = fi.Size()
		i.Perm = 0o777
	case fi.Mode().IsRegular():
		i.Kind = KindFile
		i.Size = fi.Size()
	}
	return i
}

// ListCommand returns a shell command printing the container-side listing
// of dir that ParseListing reads: one "%f %s %Y %u %g %n" line per path
// (raw mode in hex, size, mtime, uid, gid, name). It works with GNU
// coreutils and busybox alike. A missing dir lists nothing.
func ListCommand(dir string) []string {
	q := quote(dir)
	return []string{"sh", "-c", "[ -e " + q + " ] || exit 0; find " + q + " -exec stat -c '%f %s %Y %u %g %n' -- {} +"}
}

// quote makes s one shell word.
func quote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// ParseListing reads the output of ListCommand(dir). Lines it cannot read
// (a name with a newline in it) are skipped: such a path only looks
// missing, so it is sent again, never deleted.
func ParseListing(r io.Reader, dir string) (Manifest, error) {
	dir = path.Clean(dir)
	prefix := dir + "/"
	if dir == "/" {
		prefix = "/"
	}
	m := Manifest{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		rel, info, ok := parseLine(sc.Text(), prefix)
		if ok {
			m[rel] = info
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("unable to read the container listing: %w", err)
	}
	return m, nil
}

func parseLine(line, prefix string) (string, Info, bool) {
	f := strings.SplitN(line, " ", 6)
	if len(f) != 6 || !strings.HasPrefix(f[5], prefix) {
		return "", Info{}, false
	}
	rel := f[5][len(prefix):]
	if !cleanRel(rel) {
		return "", Info{}, false
	}
	mode, err1 := strconv.ParseUint(f[0], 16, 32)
	size, err2 := strconv.ParseInt(f[1], 10, 64)
	mtime, err3 := strconv.ParseInt(f[2], 10, 64)
	uid, err4 := strconv.Atoi(f[3])
	gid, err5 := strconv.Atoi(f[4])
	if err := errors.Join(err1, err2, err3, err4, err5); err != nil {
		return "", Info{}, false
	}
	return rel, fromMode(uint32(mode), size, mtime, uid, gid), true
}

// fromMode builds an Info from a raw unix st_mode.
func fromMode(mode uint32, size, mtime int64, uid, gid int) Info {
	i := Info{Kind: KindOther, Size: size, MTime: mtime, Perm: mode & 0o1777, UID: uid, GID: gid}
	switch mode & 0o170000 {
	case 0o040000:
		i.Kind = KindDir
		i.Size = 0
	case 0o100000:
		i.Kind = KindFile
	case 0o120000:
		i.Kind = KindSymlink
		i.Perm = 0o777
	}
	return i
}

// ParseTar reads a tar stream of dir as the engine's archive API returns
// it (entries named after dir's base name), for containers without a
// shell. Only headers are used; contents are skipped.
func ParseTar(r io.Reader, dir string) (Manifest, error) {
	base := path.Base(path.Clean(dir))
	m := Manifest{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return m, nil
		}
		if err != nil {
			return nil, fmt.Errorf("unable to read the container's archive of %s: %w", dir, err)
		}
		name := strings.TrimSuffix(path.Clean(h.Name), "/")
		if !strings.HasPrefix(name, base+"/") {
			continue
		}
		rel := name[len(base)+1:]
		if !cleanRel(rel) {
			continue
		}
		var typ uint32
		switch h.Typeflag {
		case tar.TypeDir:
			typ = 0o040000
		case tar.TypeSymlink:
			typ = 0o120000
		case tar.TypeReg:
			typ = 0o100000
		}
		size := h.Size
		if h.Typeflag == tar.TypeSymlink {
			size = int64(len(h.Linkname))
		}
		m[rel] = fromMode(typ|uint32(h.Mode)&0o7777, size, h.ModTime.Unix(), h.Uid, h.Gid)
	}
}

// cleanRel accepts only clean relative paths that stay below their
// directory: a listing cannot name anything else.
func cleanRel(rel string) bool {
	return rel != "" && rel != "." && rel != ".." && !strings.HasPrefix(rel, "/") &&
		!strings.HasPrefix(rel, "../") && path.Clean(rel) == rel
}
