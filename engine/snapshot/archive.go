package snapshot

import (
	"archive/tar"
	"bufio"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/cespare/xxhash/v2"
	"github.com/klauspost/compress/zstd"

	"devstack/engine/state"
)

const (
	encTar     = "tar"
	encTarZstd = "tar+zstd"
)

// counter counts bytes and hashes them.
type counter struct {
	h hash.Hash
	n int64
}

func newCounter() *counter { return &counter{h: sha256.New()} }

// newVolumeCounter hashes a volume's stream with XXH64.
func newVolumeCounter() *counter { return &counter{h: xxhash.New()} }

// volumeCounter hashes with the algorithm of the entry's checksum, and
// returns the checksum to compare with and its name.
func volumeCounter(v VolumeEntry) (c *counter, want, alg string) {
	if v.XXH64 != "" || v.SHA256 == "" {
		return newVolumeCounter(), v.XXH64, "xxh64"
	}
	return newCounter(), v.SHA256, "sha256"
}

func (c *counter) Write(p []byte) (int, error) {
	c.h.Write(p)
	c.n += int64(len(p))
	return len(p), nil
}

func (c *counter) sum() string { return hex.EncodeToString(c.h.Sum(nil)) }

// rebase copies the archive of dir (the engine's: entries "dir",
// "dir/x", …; tar's, dir "": "./", "./x", …) to w rooted at the volume:
// "./" for the root itself (its owner and mode matter: databases check
// them), "x" for the rest. Names that would leave the volume are refused;
// a restore's own directories at the root are left out. It returns the
// number of entries below the root. A nil w only reads r (entries
// checked, counted, the root's header taken): writing a tar that is
// thrown away cost five times the reading, most of it per entry.
func rebase(r io.Reader, w io.Writer, dir string) (n int, root tar.Header, err error) {
	tr := tar.NewReader(r)
	var tw *tar.Writer
	// One buffer for every entry: io.Copy would allocate one per entry
	// (neither tar side has the interface that avoids it), the garbage
	// collector's work for a volume of small files.
	var buf []byte
	if w != nil {
		tw, buf = tar.NewWriter(w), make([]byte, 256<<10)
	}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return n, root, fmt.Errorf("reading the volume's archive: %w", err)
		}
		rest := strings.TrimPrefix(h.Name, "./")
		if dir != "" {
			var ok bool
			rest, ok = strings.CutPrefix(rest, dir)
			if !ok || (rest != "" && rest[0] != '/') {
				return n, root, fmt.Errorf("unexpected entry %q in the engine's archive of %s", h.Name, dir)
			}
			rest = strings.TrimPrefix(rest, "/")
		}
		// Owners by number: the volume's users are the containers', whose
		// names the helper's /etc/passwd need not share.
		h.Uname, h.Gname = "", ""
		if restoreOwn(rest) {
			// A restore's own directory (the old entries a clean-up cut
			// short left) is no data of the volume's.
			continue
		}
		if rest == "" || rest == "." {
			h.Name = "./"
			root = *h
		} else {
			clean := path.Clean(rest)
			if path.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, "../") {
				return n, root, fmt.Errorf("refusing archive entry %q: it leaves the volume", h.Name)
			}
			h.Name = rest
			n++
		}
		if tw == nil {
			continue // Next skips the entry's data
		}
		if err := tw.WriteHeader(h); err != nil {
			return n, root, err
		}
		if _, err := io.CopyBuffer(tw, tr, buf); err != nil {
			return n, root, err
		}
	}
	if tw == nil {
		return n, root, nil
	}
	return n, root, tw.Close()
}

// restoreOwn says whether the volume-relative name is in, or is, one of
// the directories a restore makes at the volume's root.
func restoreOwn(name string) bool {
	first, _, _ := strings.Cut(strings.TrimPrefix(path.Clean(name), "./"), "/")
	return strings.HasPrefix(first, restorePrefix)
}

// fileWriter writes one snapshot file: buffered, optionally compressed,
// counted, synced on close.
type fileWriter struct {
	f      *os.File
	buf    *bufio.Writer
	zw     *zstd.Encoder
	stored int64
}

func createFile(name, encoding string) (*fileWriter, error) {
	f, err := state.Create(name)
	if err != nil {
		return nil, err
	}
	fw := &fileWriter{f: f}
	fw.buf = bufio.NewWriterSize(countingWriter{f, &fw.stored}, 1<<20)
	if encoding == encTarZstd {
		// The fastest level: the network, not the CPU, is what it saves.
		fw.zw, err = zstd.NewWriter(fw.buf, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(2))
		if err != nil {
			f.Close()
			return nil, err
		}
	}
	return fw, nil
}

func (fw *fileWriter) Write(p []byte) (int, error) {
	if fw.zw != nil {
		return fw.zw.Write(p)
	}
	return fw.buf.Write(p)
}

func (fw *fileWriter) Close() error {
	var err error
	if fw.zw != nil {
		err = fw.zw.Close()
	}
	if e := fw.buf.Flush(); err == nil {
		err = e
	}
	if e := fw.f.Sync(); err == nil {
		err = e
	}
	if e := fw.f.Close(); err == nil {
		err = e
	}
	return err
}

type countingWriter struct {
	w io.Writer
	n *int64
}

func (c countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	*c.n += int64(n)
	return n, err
}

// openFile reads a snapshot file back as the uncompressed stream.
func openFile(dir, file, encoding string) (io.ReadCloser, error) {
	if file != filepath.Base(file) || strings.HasPrefix(file, ".") {
		return nil, fmt.Errorf("the manifest names a file %q outside the snapshot", file)
	}
	f, err := state.OpenFile(filepath.Join(dir, file), os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	br := bufio.NewReaderSize(f, 1<<20)
	switch encoding {
	case encTar:
		return readCloser{br, f.Close}, nil
	case encTarZstd:
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(2))
		if err != nil {
			f.Close()
			return nil, err
		}
		return readCloser{zr, func() error { zr.Close(); return f.Close() }}, nil
	}
	f.Close()
	return nil, fmt.Errorf("unknown encoding %q", encoding)
}

type readCloser struct {
	io.Reader
	close func() error
}

func (r readCloser) Close() error { return r.close() }

func randomID() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// prefixNames copies the snapshot's archive (names "./", "x", …) to w
// with every name, and every hard link's target, moved under dir: the
// archive endpoint extracts into an existing directory only.
func prefixNames(r io.Reader, w io.Writer, dir string) error {
	tr := tar.NewReader(r)
	tw := tar.NewWriter(w)
	under := func(name string) (string, error) {
		rest := strings.TrimPrefix(name, "./")
		if rest == "" || rest == "." {
			return dir + "/", nil
		}
		clean := path.Clean(rest)
		if path.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, "../") {
			return "", fmt.Errorf("refusing archive entry %q: it leaves the volume", name)
		}
		return dir + "/" + rest, nil
	}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if h.Name, err = under(h.Name); err != nil {
			return err
		}
		if h.Typeflag == tar.TypeLink {
			if h.Linkname, err = under(h.Linkname); err != nil {
				return err
			}
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return err
		}
	}
	// The rest of the stream (the archive's padding) is read, so that
	// its hash covers every byte.
	if _, err := io.Copy(io.Discard, r); err != nil {
		return err
	}
	return tw.Close()
}
