package watch

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// racyWindow: a file whose modification time is this close to the moment
// it was last looked at may be written again without its size or time
// changing (coarse file system clocks; HFS+ keeps seconds), so it is
// reported once more on the next pass. The caller compares contents and
// finds nothing to do when nothing changed.
const racyWindow = time.Second

// gather is how long notifications collect before the directories they
// name are read.
const gather = 10 * time.Millisecond

// stamp is what a rescan compares of a directory entry.
type stamp struct {
	size  int64
	mtime int64 // ns
	mode  fs.FileMode
	seen  int64 // ns, when this was read
}

func stampOf(fi fs.FileInfo, now int64) stamp {
	return stamp{size: fi.Size(), mtime: fi.ModTime().UnixNano(), mode: fi.Mode(), seen: now}
}

// scanner is the fallback when per-file watches do not fit (see Mode):
// directories are watched (or not at all, in Poll mode) and rescanned,
// and each rescan compares the entries with the last one. It reports
// through the same Options callbacks as the per-file watcher.
type scanner struct {
	o      Options
	roots  map[string]bool
	notify dirNotifier // nil in Poll mode
	every  time.Duration

	mu      sync.Mutex
	dirs    map[string]map[string]stamp // directory -> entry name -> stamp; guarded by mu
	pending map[string]bool             // directories a notification named; guarded by mu
	all     bool                        // rescan everything (the notifier lost events); guarded by mu

	wake    chan struct{}
	stop    chan struct{}
	done    chan struct{}
	started bool // loop runs (done will close)
}

func startScanner(o Options, roots map[string]bool, mode Mode, every time.Duration) (*scanner, error) {
	s := &scanner{o: o, roots: roots, every: every, dirs: map[string]map[string]stamp{}, pending: map[string]bool{},
		wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	if mode == Directories {
		n, err := newDirNotifier(s.changed)
		if err != nil {
			return nil, err
		}
		s.notify = n
	}
	for r := range roots {
		s.watchDir(filepath.Dir(r)) // to see the root come, go and be replaced
		if existsDir(r) {
			if err := s.addTree(r, false); err != nil {
				s.close()
				return nil, err
			}
		}
	}
	s.started = true
	go s.loop()
	return s, nil
}

// changed is the notifier's callback: dir's entries changed ("" when the
// notifier lost track and everything must be rescanned).
func (s *scanner) changed(dir string) {
	s.mu.Lock()
	if dir == "" {
		s.all = true
	} else {
		s.pending[dir] = true
	}
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// covered reports whether path is a root or below one.
func (s *scanner) covered(path string) bool {
	for p := path; ; p = filepath.Dir(p) {
		if s.roots[p] {
			return true
		}
		if p == filepath.Dir(p) {
			return false
		}
	}
}

// watchDir starts watching dir and records its entries (without
// reporting them). The watch comes first, so a change made while the
// entries are read is either read or notified.
func (s *scanner) watchDir(dir string) {
	if s.notify != nil {
		if err := s.notify.add(dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
			s.o.OnError(watchError(dir, err))
		}
	}
	entries := s.read(dir)
	s.mu.Lock()
	s.dirs[dir] = entries
	s.mu.Unlock()
}

// read lists dir's covered entries with their stamps; nil when dir is
// gone.
func (s *scanner) read(dir string) map[string]stamp {
	names, err := readNames(dir)
	if err != nil {
		return nil
	}
	now := time.Now().UnixNano()
	out := make(map[string]stamp, len(names))
	for _, name := range names {
		p := filepath.Join(dir, name)
		if !s.covered(p) {
			continue // a sibling of a root, in the root's parent
		}
		fi, err := os.Lstat(p)
		if err != nil {
			continue
		}
		out[name] = stampOf(fi, now)
	}
	return out
}

func readNames(dir string) ([]string, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.Readdirnames(-1)
}

// addTree watches dir and every directory below it that SkipDir keeps;
// with report, every path found is reported as created.
func (s *scanner) addTree(dir string, report bool) error {
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			if path == dir && !report {
				return watchError(path, err)
			}
			s.o.OnError(watchError(path, err))
			return nil
		}
		if report && path != dir {
			s.o.OnChange(path, true)
		}
		if !d.IsDir() {
			return nil
		}
		if s.o.SkipDir(path) {
			return filepath.SkipDir
		}
		s.watchDir(path)
		return nil
	})
}

// forget stops watching dir and every directory below it.
func (s *scanner) forget(dir string) {
	prefix := dir + string(filepath.Separator)
	s.mu.Lock()
	var gone []string
	for p := range s.dirs {
		if p == dir || strings.HasPrefix(p, prefix) {
			gone = append(gone, p)
			delete(s.dirs, p)
		}
	}
	s.mu.Unlock()
	if s.notify != nil {
		for _, p := range gone {
			s.notify.remove(p)
		}
	}
}

// rescan compares dir's entries with the last read and reports what was
// created, removed or changed; new directories are watched (and what is
// in them reported), removed ones forgotten.
func (s *scanner) rescan(dir string) {
	s.mu.Lock()
	old, known := s.dirs[dir]
	s.mu.Unlock()
	if !known {
		return // forgotten meanwhile
	}
	cur := s.read(dir)
	if cur == nil && !existsDir(dir) {
		// Gone: its parent's rescan reports it, unless it was a root's
		// parent, which nothing watches.
		for name := range old {
			s.o.OnChange(filepath.Join(dir, name), false)
		}
		s.forget(dir)
		return
	}
	for name, st := range cur {
		p := filepath.Join(dir, name)
		prev, had := old[name]
		isDir := st.mode.IsDir()
		switch {
		case !had:
			s.o.OnChange(p, true)
			if isDir {
				s.forget(p)
				if err := s.addTree(p, true); err != nil {
					s.o.OnError(err)
				}
			}
		case prev.mode.Type() != st.mode.Type():
			// Replaced by something of another kind: gone, then new.
			if prev.mode.IsDir() {
				s.forget(p)
			}
			s.o.OnChange(p, false)
			s.o.OnChange(p, true)
			if isDir {
				if err := s.addTree(p, true); err != nil {
					s.o.OnError(err)
				}
			}
		case isDir:
			// A directory's own time changes with its entries, which its
			// own rescan looks at.
		case prev.size != st.size || prev.mtime != st.mtime || prev.mode != st.mode:
			s.o.OnChange(p, false)
		case st.mtime+int64(racyWindow) > prev.seen:
			s.o.OnChange(p, false)
		default:
			st.seen = prev.seen // settled: keep the old reading time
			cur[name] = st
		}
	}
	for name, prev := range old {
		if _, ok := cur[name]; ok {
			continue
		}
		p := filepath.Join(dir, name)
		if prev.mode.IsDir() {
			s.forget(p)
		}
		s.o.OnChange(p, false)
	}
	s.mu.Lock()
	if _, still := s.dirs[dir]; still {
		s.dirs[dir] = cur
	}
	s.mu.Unlock()
}

// rescanAll rescans every watched directory, parents before children.
func (s *scanner) rescanAll() {
	s.mu.Lock()
	dirs := make([]string, 0, len(s.dirs))
	for d := range s.dirs {
		dirs = append(dirs, d)
	}
	s.mu.Unlock()
	sortByDepth(dirs)
	for _, d := range dirs {
		select {
		case <-s.stop:
			return
		default:
		}
		s.rescan(d)
	}
}

func sortByDepth(dirs []string) {
	depth := func(p string) int { return strings.Count(p, string(filepath.Separator)) }
	// insertion into buckets keeps this linear for deep, wide trees
	buckets := map[int][]string{}
	maxDepth := 0
	for _, d := range dirs {
		n := depth(d)
		buckets[n] = append(buckets[n], d)
		maxDepth = max(maxDepth, n)
	}
	dirs = dirs[:0]
	for i := 0; i <= maxDepth; i++ {
		dirs = append(dirs, buckets[i]...)
	}
}

// loop rescans what notifications name at once, and everything every
// period; a pass that takes long stretches the period (to 10 times the
// pass), so the fallback never takes more than a tenth of a core.
func (s *scanner) loop() {
	defer close(s.done)
	every := s.every
	timer := time.NewTimer(every)
	defer timer.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-s.wake:
			// Let a burst's notifications gather, so that a directory
			// receiving a thousand files is read a few times, not a
			// thousand.
			select {
			case <-s.stop:
				return
			case <-time.After(gather):
			}
			s.mu.Lock()
			all, pending := s.all, s.pending
			s.all, s.pending = false, map[string]bool{}
			s.mu.Unlock()
			if all {
				s.rescanAll()
				continue
			}
			dirs := make([]string, 0, len(pending))
			for d := range pending {
				dirs = append(dirs, d)
			}
			sortByDepth(dirs)
			for _, d := range dirs {
				s.rescan(d)
			}
		case <-timer.C:
			start := time.Now()
			s.rescanAll()
			every = max(s.every, 10*time.Since(start))
			timer.Reset(every)
		}
	}
}

// rescanNow re-reads everything without reporting (Watcher.Rescan: the
// caller resyncs by itself): directories SkipDir no longer skips are
// watched.
func (s *scanner) rescanNow() {
	for r := range s.roots {
		if existsDir(r) {
			if err := s.addTree(r, false); err != nil {
				s.o.OnError(err)
			}
		}
	}
}

// watched counts the directories watched below the roots (not the
// roots' parents).
func (s *scanner) watched() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for d := range s.dirs {
		if s.covered(d) {
			n++
		}
	}
	return n
}

func (s *scanner) close() error {
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	var err error
	if s.notify != nil {
		err = s.notify.close()
	}
	if s.started {
		<-s.done
	}
	return err
}
