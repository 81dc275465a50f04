package buildinputs

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"devstack/engine/state"
)

// Racy is how long after a file's last change its recorded sum stays
// untrusted. A file written in the same tick as it was read (file
// systems keep mtimes as coarse as a second or two) can change again
// without its size or mtime moving; it is read again until it has been
// still for this long. (Git's "racy clean" problem, solved the same way.)
const Racy = 2 * time.Second

// Hasher computes digests of build contexts. It remembers each file's
// sum, with the metadata it had when read, in a file under Dir (one per
// context directory), so a digest re-reads only files whose size, mtime,
// inode or change time moved, or that changed within Racy of being read.
type Hasher struct {
	Dir string           // devstack's state directory for these caches; "" remembers nothing
	Now func() time.Time // time.Now when nil
}

// Stats says what one digest did.
type Stats struct {
	Entries int   // files, directories and links in the digest
	Read    int   // files read (not trusted from the cache)
	Bytes   int64 // bytes read
}

// entry is what the cache holds for one regular file.
type entry struct {
	size, mtime, ctime int64
	ino                uint64
	read               int64 // when the sum was read (UnixNano of that digest's start)
	sum                [sha256.Size]byte
}

// trusted tells whether e may stand for a file whose metadata is now
// size, mtime, ctime and ino.
func (e entry) trusted(size, mtime, ctime int64, ino uint64) bool {
	return e.size == size && e.mtime == mtime && e.ctime == ctime && e.ino == ino &&
		mtime+int64(Racy) <= e.read && ctime+int64(Racy) <= e.read
}

// Tree returns the digest of what a build context sends from dir with
// .dockerignore's patterns excludes: every path, its mode, a link's
// target and a file's content. Modification times are left out: the
// builder leaves them out of its cache keys too, so a touched file
// rebuilds nothing. Sockets, pipes and devices are not sent and not
// counted.
func (h *Hasher) Tree(dir string, excludes []string) (string, Stats, error) {
	now := time.Now
	if h.Now != nil {
		now = h.Now
	}
	start := now().UnixNano()
	cachePath := ""
	if h.Dir != "" {
		key := sha256.Sum256([]byte(dir))
		cachePath = filepath.Join(h.Dir, hex.EncodeToString(key[:16]))
	}
	old, found := load(cachePath)
	if cachePath != "" && !found {
		// A context not seen before: a good time to forget those not
		// seen for long.
		Prune(h.Dir, Forget)
	}
	next := make(map[string]entry, len(old))
	changed := false

	// One record per entry, digested in path order once all are in.
	type record struct {
		rel  string
		data []byte
	}
	var (
		mu      sync.Mutex
		records = make([]record, 0, len(old)+64)
		st      Stats
	)
	err := parallelWalk(dir, excludes, func(path, rel string, fi fs.FileInfo) error {
		mode := fi.Mode()
		if !mode.IsRegular() && !mode.IsDir() && mode&fs.ModeSymlink == 0 {
			return nil
		}
		buf := binary.BigEndian.AppendUint32(make([]byte, 0, 4+8+sha256.Size), uint32(mode))
		var e entry
		var read int64
		didRead, fresh := false, false
		switch {
		case mode&fs.ModeSymlink != 0:
			target, err := os.Readlink(path)
			if err != nil {
				return err
			}
			buf = binary.AppendUvarint(buf, uint64(len(target)))
			buf = append(buf, target...)
		case mode.IsRegular():
			ino, ctime := identity(fi)
			old, ok := old[rel]
			e = old
			if !ok || !old.trusted(fi.Size(), fi.ModTime().UnixNano(), ctime, ino) {
				// The metadata is taken before the read: a change during
				// the read moves it, and the next digest reads again.
				e = entry{size: fi.Size(), mtime: fi.ModTime().UnixNano(), ctime: ctime, ino: ino, read: start}
				n, err := sumFile(path, &e.sum)
				if err != nil {
					return err
				}
				read, didRead = n, true
				// Worth writing down if it is news, or if the next digest
				// may trust it; a file still within Racy is read again
				// anyway.
				fresh = !ok || e.sum != old.sum || e.trusted(e.size, e.mtime, e.ctime, e.ino)
			}
			buf = binary.BigEndian.AppendUint64(buf, uint64(fi.Size()))
			buf = append(buf, e.sum[:]...)
		}
		mu.Lock()
		defer mu.Unlock()
		records = append(records, record{rel, buf})
		st.Entries++
		if mode.IsRegular() {
			next[rel] = e
			if didRead {
				st.Read++
				st.Bytes += read
			}
			changed = changed || fresh
		}
		return nil
	})
	if err != nil {
		return "", st, err
	}
	sort.Slice(records, func(i, j int) bool { return records[i].rel < records[j].rel })
	d := sha256.New()
	var buf []byte
	for _, r := range records {
		buf = binary.AppendUvarint(buf[:0], uint64(len(r.rel)))
		buf = append(buf, r.rel...)
		buf = append(buf, r.data...)
		d.Write(buf)
	}
	if cachePath != "" && (changed || len(next) != len(old)) {
		// A cache that cannot be written costs the next digest its
		// reads, nothing else.
		_ = save(cachePath, next)
	}
	return "sha256:" + hex.EncodeToString(d.Sum(nil)), st, nil
}

var sumBufs = make(chan []byte, 2)

func sumFile(path string, sum *[sha256.Size]byte) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var b []byte
	select {
	case b = <-sumBufs:
	default:
		b = make([]byte, 64<<10)
	}
	defer func() {
		select {
		case sumBufs <- b:
		default:
		}
	}()
	// A plain read loop: io.CopyBuffer would let *os.File's WriteTo
	// allocate a buffer of its own for every file.
	hh := sha256.New()
	var n int64
	for {
		m, err := f.Read(b)
		hh.Write(b[:m])
		n += int64(m)
		if err == io.EOF {
			break
		}
		if err != nil {
			return n, err
		}
	}
	hh.Sum(sum[:0])
	return n, nil
}

// cacheMagic starts a cache file; a file without it (another version's,
// or damaged) is ignored.
var cacheMagic = []byte("devstack-buildinputs-1\n")

// load reads a cache file; anything unreadable is an empty cache.
// found tells whether the file was there.
func load(path string) (entries map[string]entry, found bool) {
	out := map[string]entry{}
	if path == "" {
		return out, false
	}
	data, err := state.ReadFile(path)
	if err != nil {
		return out, false
	}
	if !bytes.HasPrefix(data, cacheMagic) {
		return out, true
	}
	r := bytes.NewReader(data[len(cacheMagic):])
	for r.Len() > 0 {
		rel, e, err := readEntry(r)
		if err != nil {
			return map[string]entry{}, true
		}
		out[rel] = e
	}
	return out, true
}

// Forget is how long a cache or record nobody wrote stays.
const Forget = 30 * 24 * time.Hour

// Prune removes the files of dir (a directory of devstack's own caches
// or records, named by hex digests) not written for olderThan, and the
// temporary files a crash left there.
func Prune(dir string, olderThan time.Duration) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	cutoff := time.Now().Add(-olderThan)
	for _, e := range entries {
		if !e.Type().IsRegular() || !(isHex(e.Name()) || state.Leftover(e.Name())) {
			continue
		}
		if fi, err := e.Info(); err == nil && fi.ModTime().Before(cutoff) {
			_ = os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

func isHex(s string) bool {
	_, err := hex.DecodeString(s)
	return err == nil && s != ""
}

func readEntry(r *bytes.Reader) (string, entry, error) {
	var e entry
	n, err := binary.ReadUvarint(r)
	if err != nil || n > uint64(r.Len()) {
		return "", e, errors.New("damaged")
	}
	rel := make([]byte, n)
	if _, err := io.ReadFull(r, rel); err != nil {
		return "", e, err
	}
	for _, p := range []*int64{&e.size, &e.mtime, &e.ctime, &e.read} {
		if *p, err = binary.ReadVarint(r); err != nil {
			return "", e, err
		}
	}
	if e.ino, err = binary.ReadUvarint(r); err != nil {
		return "", e, err
	}
	if _, err := io.ReadFull(r, e.sum[:]); err != nil {
		return "", e, err
	}
	return string(rel), e, nil
}

// save replaces the cache file whole (see engine/state), without
// waiting for the disk: a cache lost in a crash is read again, and a
// damaged one is ignored.
func save(path string, entries map[string]entry) error {
	if err := state.MkdirAll(filepath.Dir(path)); err != nil {
		return err
	}
	return state.WriteCache(path, func(w io.Writer) error {
		bw := bufio.NewWriterSize(w, 256<<10)
		bw.Write(cacheMagic)
		var b []byte
		for rel, e := range entries {
			b = binary.AppendUvarint(b[:0], uint64(len(rel)))
			b = append(b, rel...)
			for _, v := range []int64{e.size, e.mtime, e.ctime, e.read} {
				b = binary.AppendVarint(b, v)
			}
			b = binary.AppendUvarint(b, e.ino)
			b = append(b, e.sum[:]...)
			bw.Write(b)
		}
		return bw.Flush()
	})
}
