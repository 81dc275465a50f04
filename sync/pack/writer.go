package pack

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"time"
)

// Owner is the numeric owner every entry gets, so the files belong to the
// container's user rather than to whoever owns them on the host.
type Owner struct{ UID, GID int }

// Mapping ties a watched host directory to its container directory.
type Mapping struct {
	Root   *os.Root // the watched directory (single-file rule: the file's directory)
	Target string   // container path of the watched directory (single-file rule: of the file)
	File   string   // single-file rule: the file's name in Root; "" for a directory
}

// host returns the path in Root of rel.
func (m Mapping) host(rel string) string {
	if m.File != "" {
		return m.File
	}
	return rel
}

// Kinds of entries.
const (
	KindFile    = 'f'
	KindDir     = 'd'
	KindSymlink = 'l'
)

// Skip is a path left out of a stream, and why.
type Skip struct {
	Rel    string
	Reason string
}

// Entry is one path written to the stream.
type Entry struct {
	Name string // tar name, relative to the container's root
	Kind byte   // KindFile, KindDir or KindSymlink
}

// Writer writes one uncompressed tar stream.
type Writer struct {
	tw    *tar.Writer
	owner Owner
	names map[string]bool

	Entries []Entry  // what was written, parents included
	Bytes   int64    // file content written
	Files   int      // regular files and symlinks written (not directories)
	Skipped []Skip   // paths left out
	Changed []string // files that changed while being read: send again
}

// NewWriter starts a stream on w.
func NewWriter(w io.Writer, owner Owner) *Writer {
	return &Writer{tw: tar.NewWriter(w), owner: owner, names: map[string]bool{}}
}

// Close ends the stream.
func (w *Writer) Close() error { return w.tw.Close() }

// Add writes rel (relative to m's directory; "." for a single-file rule)
// and the directories between m.Target and it. Problems with the path
// itself (vanished, unreadable, not a regular file, directory or link) are
// recorded in Skipped; the error is for a broken stream only.
func (w *Writer) Add(m Mapping, rel string) error {
	name, err := Name(m.Target, rel)
	if err != nil {
		w.skip(rel, err.Error())
		return nil
	}
	if m.File == "" && rel != "." {
		ok, err := w.parents(m, rel)
		if err != nil || !ok {
			return err
		}
	}
	return w.add(m, rel, name)
}

// parents writes the directory entries between the target and rel, so
// that a new directory arrives with its mode and owner. It refuses a path
// whose parent is not a real directory on the host: writing through a
// symlink would land outside the synced tree in the container.
func (w *Writer) parents(m Mapping, rel string) (bool, error) {
	parts := strings.Split(rel, "/")
	for i := 1; i < len(parts); i++ {
		dir := strings.Join(parts[:i], "/")
		name, err := Name(m.Target, dir)
		if err != nil {
			w.skip(rel, err.Error())
			return false, nil
		}
		if w.names[name] {
			continue
		}
		fi, err := m.Root.Lstat(dir)
		if err != nil {
			w.skip(rel, reason(err))
			return false, nil
		}
		if !fi.IsDir() {
			w.skip(rel, "parent "+dir+" is not a directory")
			return false, nil
		}
		if err := w.header(name, KindDir, fi, "", 0); err != nil {
			return false, err
		}
	}
	return true, nil
}

func (w *Writer) add(m Mapping, rel, name string) error {
	if w.names[name] {
		return nil
	}
	hostRel := m.host(rel)
	fi, err := m.Root.Lstat(hostRel)
	if err != nil {
		w.skip(rel, reason(err))
		return nil
	}
	switch {
	case fi.IsDir():
		return w.header(name, KindDir, fi, "", 0)
	case fi.Mode()&fs.ModeSymlink != 0:
		// Sent as a link whatever it points to, never followed: a link
		// out of the tree stays a link (dangling, maybe) in the container.
		target, err := m.Root.Readlink(hostRel)
		if err != nil {
			w.skip(rel, reason(err))
			return nil
		}
		if strings.ContainsRune(target, 0) {
			w.skip(rel, "link target holds a NUL byte")
			return nil
		}
		return w.header(name, KindSymlink, fi, target, 0)
	case fi.Mode().IsRegular():
		return w.file(m, rel, hostRel, name)
	default:
		w.skip(rel, "not a regular file, directory or symlink ("+fi.Mode().Type().String()+")")
		return nil
	}
}

// file streams a regular file from disk: opened read-only, without
// following a link that replaced it since Lstat and without blocking on a
// FIFO that did; its size is taken from the open file.
func (w *Writer) file(m Mapping, rel, hostRel, name string) error {
	f, err := m.Root.OpenFile(hostRel, os.O_RDONLY|openFlags, 0)
	if err != nil {
		w.skip(rel, reason(err))
		return nil
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		w.skip(rel, reason(err))
		return nil
	}
	if !fi.Mode().IsRegular() {
		w.skip(rel, "not a regular file ("+fi.Mode().Type().String()+")")
		return nil
	}
	size := fi.Size()
	if err := w.header(name, KindFile, fi, "", size); err != nil {
		return err
	}
	n, err := io.CopyN(w.tw, f, size)
	w.Bytes += n
	if err == nil {
		return nil
	}
	if errors.Is(err, io.EOF) || isReadError(err) {
		// The file shrank or failed mid-read: pad the entry to its
		// promised size and send the file again with the next batch.
		if _, perr := io.CopyN(w.tw, zeros{}, size-n); perr != nil {
			return perr
		}
		w.Changed = append(w.Changed, rel)
		return nil
	}
	return err
}

// isReadError tells a failure to read the host file from a failure to
// write the stream: only the stream's failure ends the batch.
func isReadError(err error) bool {
	var pe *fs.PathError
	return errors.As(err, &pe)
}

func (w *Writer) header(name string, kind byte, fi fs.FileInfo, link string, size int64) error {
	h := &tar.Header{
		Name:    name,
		Uid:     w.owner.UID,
		Gid:     w.owner.GID,
		ModTime: fi.ModTime().Truncate(time.Second),
	}
	// Sticky is bit 9 in tar; setuid and setgid are never carried over.
	if fi.Mode()&fs.ModeSticky != 0 {
		h.Mode = int64(fi.Mode().Perm()) | 0o1000
	} else {
		h.Mode = int64(fi.Mode().Perm())
	}
	switch kind {
	case KindDir:
		h.Typeflag = tar.TypeDir
		h.Name = name + "/"
	case KindSymlink:
		h.Typeflag = tar.TypeSymlink
		h.Linkname = link
		h.Mode = 0o777
	default:
		h.Typeflag = tar.TypeReg
		h.Size = size
	}
	if err := w.tw.WriteHeader(h); err != nil {
		return fmt.Errorf("unable to write the tar stream: %w", err)
	}
	w.names[name] = true
	w.Entries = append(w.Entries, Entry{Name: name, Kind: kind})
	if kind != KindDir {
		w.Files++
	}
	return nil
}

func (w *Writer) skip(rel, why string) {
	w.Skipped = append(w.Skipped, Skip{Rel: rel, Reason: why})
}

// reason turns a host error into a short reason.
func reason(err error) string {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "vanished before it could be read"
	case errors.Is(err, fs.ErrPermission):
		return "permission denied"
	default:
		return err.Error()
	}
}

// Dir returns the parent of a tar name ("" at the top).
func Dir(name string) string {
	d := path.Dir(name)
	if d == "." {
		return ""
	}
	return d
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// Open opens a host file for reading as the writer does: without
// following a link in its last component or blocking on a FIFO.
func Open(root *os.Root, name string) (*os.File, error) {
	return root.OpenFile(name, os.O_RDONLY|openFlags, 0)
}
