// Package manifest lists the two sides of a sync (the host tree and the
// container directory) and compares them, so that an initial sync sends
// only what differs and `sync check` can report drift. It is pure apart
// from reading the host tree.
package manifest

import (
	"archive/tar"
	"bufio"
	"crypto/md5"
	"encoding/hex"
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
	Size  int64 // files: bytes; symlinks: length of the target
	MTime int64 // unix seconds
	// MTimeNS is the nanoseconds of the mtime past MTime; -1 when the
	// listing does not say (a tar header, a stat without them).
	MTimeNS int64
	Perm    uint32 // permission bits and sticky; setuid and setgid are never synced
	UID     int    // container side only; -1 when unknown
	GID     int
	// Container side only. CTime is the unix second of the last status
	// change (when sync last wrote the file), 0 when unknown; Digest is
	// the content's digest (DigestOf) when the listing read the content
	// anyway (the archive API's tar), "" otherwise.
	CTime  int64
	Digest string
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
	i := Info{Kind: KindOther, MTime: fi.ModTime().Unix(), MTimeNS: int64(fi.ModTime().Nanosecond()), Perm: uint32(fi.Mode().Perm()), UID: -1, GID: -1}
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

// StatFormat is the stat(1) format of one listing line: raw mode in hex,
// size, mtime, uid, gid, ctime (seconds), the mtime again as a date (the
// only way busybox's stat gives its nanoseconds), name. GNU coreutils
// and busybox print it alike.
const StatFormat = "%f %s %Y %u %g %Z %y %n"

// ListCommand returns a shell command printing the container-side listing
// of dir that ParseListing reads: one StatFormat line per path. A missing
// dir lists nothing.
func ListCommand(dir string) []string {
	q := quote(dir)
	return []string{"sh", "-c", "[ -e " + q + " ] || [ -L " + q + " ] || exit 0; find " + q + " -exec stat -c '" + StatFormat + "' -- {} +"}
}

// quote makes s one shell word.
func quote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// SymlinkError names container paths that are symlinks where sync would
// write or delete through them: made in the container (a process swapped
// a synced directory for a link to /etc, say), they are left alone and
// nothing is synced through them.
type SymlinkError struct{ Paths []string }

func (e *SymlinkError) Error() string {
	return fmt.Sprintf("conflict: %s: a symlink made in the container where sync needs a directory; nothing is written or deleted through it (remove it in the container to sync there again)", strings.Join(e.Paths, ", "))
}

// ParseListing reads the output of ListCommand(dir). When dir itself is a
// symlink it returns a *SymlinkError: the listing is the link's, not the
// directory's. Lines it cannot read
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
		if isLinkLine(sc.Text(), dir) {
			return nil, &SymlinkError{Paths: []string{dir}}
		}
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
	// mode size mtime uid gid ctime date time zone name
	f := strings.SplitN(line, " ", 10)
	if len(f) != 10 || !strings.HasPrefix(f[9], prefix) {
		return "", Info{}, false
	}
	rel := f[9][len(prefix):]
	if !cleanRel(rel) {
		return "", Info{}, false
	}
	mode, err1 := strconv.ParseUint(f[0], 16, 32)
	size, err2 := strconv.ParseInt(f[1], 10, 64)
	mtime, err3 := strconv.ParseInt(f[2], 10, 64)
	uid, err4 := strconv.Atoi(f[3])
	gid, err5 := strconv.Atoi(f[4])
	ctime, err6 := strconv.ParseInt(f[5], 10, 64)
	if err := errors.Join(err1, err2, err3, err4, err5, err6); err != nil {
		return "", Info{}, false
	}
	i := fromMode(uint32(mode), size, mtime, uid, gid)
	i.CTime = ctime
	i.MTimeNS = nanos(f[7])
	return rel, i, true
}

// isLinkLine reports whether a listing line is dir's own, saying it is a
// symlink.
func isLinkLine(line, dir string) bool {
	f := strings.SplitN(line, " ", 10)
	if len(f) != 10 || f[9] != dir {
		return false
	}
	mode, err := strconv.ParseUint(f[0], 16, 32)
	return err == nil && mode&0o170000 == 0o120000
}

// nanos reads the fraction of a stat date's time ("15:04:05.123456789"):
// its nanoseconds, or -1 when it has none.
func nanos(clock string) int64 {
	_, frac, ok := strings.Cut(clock, ".")
	if !ok || frac == "" || len(frac) > 9 {
		return -1
	}
	n, err := strconv.ParseInt(frac, 10, 64)
	if err != nil || n < 0 {
		return -1
	}
	for i := len(frac); i < 9; i++ {
		n *= 10
	}
	return n
}

// fromMode builds an Info from a raw unix st_mode.
func fromMode(mode uint32, size, mtime int64, uid, gid int) Info {
	i := Info{Kind: KindOther, Size: size, MTime: mtime, MTimeNS: -1, Perm: mode & 0o1777, UID: uid, GID: gid}
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
// shell. The contents travel anyway: each file's digest is taken on the
// way, so a file whose mtime is ambiguous needs no second call.
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
		i := fromMode(typ|uint32(h.Mode)&0o7777, size, h.ModTime.Unix(), h.Uid, h.Gid)
		if h.Typeflag == tar.TypeReg {
			d, err := DigestOf(tr)
			if err != nil {
				return nil, fmt.Errorf("unable to read the container's archive of %s: %w", dir, err)
			}
			i.Digest = d
		}
		m[rel] = i
	}
}

// DigestOf returns the digest sync compares contents by: md5, which
// every container with a shell has (md5sum), and which only has to tell
// a file from its own earlier version, never withstand an adversary.
func DigestOf(r io.Reader) (string, error) {
	h := md5.New()
	if _, err := io.Copy(h, r); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// cleanRel accepts only clean relative paths that stay below their
// directory: a listing cannot name anything else.
func cleanRel(rel string) bool {
	return rel != "" && rel != "." && rel != ".." && !strings.HasPrefix(rel, "/") &&
		!strings.HasPrefix(rel, "../") && path.Clean(rel) == rel
}
