// Package transfer is the host side of `cp`: it packs a host path into
// the uncompressed tar stream the engine's archive API takes, and unpacks
// the stream the engine returns into a host directory, with docker cp's
// naming rules. Unpacking goes through os.Root, so no entry name and no
// link planted in the stream or in the destination writes outside the
// directory the user named.
package transfer

import (
	"archive/tar"
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"
)

// Pack writes src (a file, directory or link) to w as a tar stream whose
// top entry is named name; with follow, a src that is a symbolic link is
// replaced by what it points to (links inside a directory stay links).
func Pack(w io.Writer, src, name string, follow bool) error {
	// Headers and file ends are small writes: gathered, they reach the
	// engine in large chunks rather than one HTTP chunk each.
	bw := bufio.NewWriterSize(w, streamBuffer)
	p := packer{tw: tar.NewWriter(bw), buf: make([]byte, copyBuffer)}
	stat := os.Lstat
	if follow {
		stat = os.Stat
	}
	fi, err := stat(src)
	if err != nil {
		return err
	}
	if err := p.one(src, name, fi); err != nil {
		return err
	}
	if fi.IsDir() {
		err := filepath.WalkDir(src, func(file string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if file == src {
				return nil
			}
			rel, err := filepath.Rel(src, file)
			if err != nil {
				return err
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			return p.one(file, path.Join(name, filepath.ToSlash(rel)), info)
		})
		if err != nil {
			return err
		}
	}
	if err := p.tw.Close(); err != nil {
		return err
	}
	return bw.Flush()
}

// copyBuffer is the size of the one buffer a Pack or Unpack copies file
// contents through: one allocation for the whole stream (a buffer per
// file made `cp` of a 100 MB tree allocate four times its size), and
// large writes keep the stream at disk speed.
const copyBuffer = 1 << 20

// streamBuffer gathers the tar stream's writes.
const streamBuffer = 256 << 10

// packer writes entries to one tar stream through one buffer.
type packer struct {
	tw  *tar.Writer
	buf []byte
}

// onlyReader hides *os.File's WriteTo, which io.CopyBuffer would take
// in place of the buffer given it (and copy through 32 KiB instead).
type onlyReader struct{ io.Reader }

// onlyWriter hides *os.File's ReadFrom for the same reason.
type onlyWriter struct{ io.Writer }

func (p *packer) one(file, name string, fi fs.FileInfo) error {
	link := ""
	if fi.Mode()&fs.ModeSymlink != 0 {
		var err error
		if link, err = os.Readlink(file); err != nil {
			return err
		}
	}
	if !fi.Mode().IsRegular() && !fi.IsDir() && fi.Mode()&fs.ModeSymlink == 0 {
		return nil // sockets, devices, FIFOs: docker cp leaves them out too
	}
	h, err := tar.FileInfoHeader(fi, link)
	if err != nil {
		return err
	}
	h.Name = name
	if fi.IsDir() {
		h.Name += "/"
	}
	// The header docker cp writes: whole-second times and no access or
	// change time, so a plain file needs no PAX record (an extra header
	// block per file for the engine to read), no owner names.
	h.Uname, h.Gname = "", ""
	h.ModTime = h.ModTime.Truncate(time.Second)
	h.AccessTime, h.ChangeTime = time.Time{}, time.Time{}
	h.Format = tar.FormatPAX
	if err := p.tw.WriteHeader(h); err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return nil
	}
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.CopyBuffer(p.tw, onlyReader{f}, p.buf)
	return err
}

// UnpackOptions tune Unpack.
type UnpackOptions struct {
	// From and To rename the stream's top entry (the source's base name)
	// to the destination's.
	From, To string
	// KeepOwner keeps the owners the stream records (cp -a); otherwise
	// files belong to whoever runs devstack.
	KeepOwner bool
}

// Unpack extracts the stream r into dir, which must exist. Entry names
// that are absolute or climb out of dir are refused, and so is any
// write through a link, whether it came in the stream or was there.
func Unpack(r io.Reader, dir string, o UnpackOptions) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	ra := newReadAhead(r, copyBuffer, 8)
	defer ra.Close()
	tr := tar.NewReader(ra)
	buf := make([]byte, copyBuffer)
	type dirTime struct {
		name string
		h    *tar.Header
	}
	var dirs []dirTime
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("unable to read the archive: %w", err)
		}
		name := strings.TrimSuffix(path.Clean(h.Name), "/")
		if o.From != "" && o.To != "" {
			if name == o.From {
				name = o.To
			} else if rest, ok := strings.CutPrefix(name, o.From+"/"); ok {
				name = o.To + "/" + rest
			}
		}
		if !filepath.IsLocal(name) {
			return fmt.Errorf("refusing archive entry %q: it would land outside %s", h.Name, dir)
		}
		name = filepath.FromSlash(name)
		if parent := filepath.Dir(name); parent != "." {
			if err := root.MkdirAll(parent, 0o755); err != nil {
				return err
			}
		}
		mode := fs.FileMode(h.Mode).Perm() | fs.FileMode(h.Mode)&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)
		switch h.Typeflag {
		case tar.TypeDir:
			if fi, err := root.Lstat(name); err == nil && !fi.IsDir() {
				return fmt.Errorf("cannot copy a directory onto %s: it is not a directory", filepath.Join(dir, name))
			}
			if err := root.MkdirAll(name, 0o700); err != nil {
				return err
			}
			dirs = append(dirs, dirTime{name, h})
			continue
		case tar.TypeReg:
			if fi, err := root.Lstat(name); err == nil && fi.IsDir() {
				return fmt.Errorf("cannot copy a file onto %s: it is a directory", filepath.Join(dir, name))
			} else if err == nil && fi.Mode()&fs.ModeSymlink != 0 {
				// Replace the link itself, never what it points to.
				if err := root.Remove(name); err != nil {
					return err
				}
			}
			f, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
			if err != nil {
				return err
			}
			_, err = io.CopyBuffer(onlyWriter{f}, tr, buf)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
			if err := root.Chmod(name, mode); err != nil {
				return err
			}
		case tar.TypeSymlink:
			_ = root.Remove(name)
			if err := root.Symlink(h.Linkname, name); err != nil {
				return err
			}
		case tar.TypeLink:
			target := path.Clean(h.Linkname)
			if o.From != "" && o.To != "" {
				if rest, ok := strings.CutPrefix(target, o.From+"/"); ok {
					target = o.To + "/" + rest
				}
			}
			if !filepath.IsLocal(target) {
				return fmt.Errorf("refusing archive entry %q: its link points outside %s", h.Name, dir)
			}
			_ = root.Remove(name)
			if err := root.Link(filepath.FromSlash(target), name); err != nil {
				return err
			}
		default:
			continue // devices and FIFOs are not made on the host
		}
		if o.KeepOwner {
			if err := root.Lchown(name, h.Uid, h.Gid); err != nil {
				return fmt.Errorf("unable to keep the owner of %s (-a): %w", filepath.Join(dir, name), err)
			}
		}
		if h.Typeflag != tar.TypeSymlink {
			_ = root.Chtimes(name, h.ModTime, h.ModTime)
		}
	}
	// Directories last: their modes and times, once nothing more is
	// written into them.
	for i := len(dirs) - 1; i >= 0; i-- {
		d := dirs[i]
		if d.name == "." {
			continue // the user's own directory, copied into: left as it is
		}
		mode := fs.FileMode(d.h.Mode).Perm()
		if err := root.Chmod(d.name, mode); err != nil {
			return err
		}
		if o.KeepOwner {
			if err := root.Lchown(d.name, d.h.Uid, d.h.Gid); err != nil {
				return fmt.Errorf("unable to keep the owner of %s (-a): %w", filepath.Join(dir, d.name), err)
			}
		}
		_ = root.Chtimes(d.name, d.h.ModTime, d.h.ModTime)
	}
	return nil
}
