// Package watch reports changes below a set of host paths: recursive
// inotify (through fsnotify) that follows directories created later, and
// survives editors' atomic saves, branch switches and directories removed
// and created again. It reports paths; deciding what they mean is the
// caller's job.
package watch

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Options configure a Watcher.
type Options struct {
	// Roots are absolute paths to watch: directories (recursively) or
	// single files.
	Roots []string
	// SkipDir says a directory holds nothing of interest: it is neither
	// watched nor walked. Nil watches everything.
	SkipDir func(dir string) bool
	// OnChange receives every changed path (created, written, removed,
	// renamed, chmod-ed); created is true when the path was just created.
	// It runs on the watcher's goroutine and must be quick.
	OnChange func(path string, created bool)
	// OnOverflow is called when the kernel dropped events: the caller
	// must rescan everything.
	OnOverflow func()
	// OnError receives problems that did not stop the watcher (a
	// directory that could not be watched, ...).
	OnError func(error)
	// Every is the rescan period when per-file watches do not fit
	// (default 1s).
	Every time.Duration
	// FileLimit overrides the open-file limit the choice of mode
	// respects (default: RLIMIT_NOFILE, raised to its hard value).
	FileLimit int

	// force picks a fallback mode whatever the limit (tests).
	force Mode
}

// Watcher watches until closed.
type Watcher struct {
	o        Options
	strategy Strategy
	fsw      *fsnotify.Watcher // per-file watches; nil in a fallback mode
	scan     *scanner          // the fallback; nil with per-file watches
	done     chan struct{}

	mu      sync.Mutex
	watched map[string]bool // directories with a watch; guarded by mu
	roots   map[string]bool // the roots, cleaned
	parents map[string]bool // parents of roots, watched to see a root come (back)
}

// Start sets up every watch and returns once they are all in place, so a
// change made after Start returns is never missed. Where a watch holds an
// open file per file (kqueue, macOS) and the tree does not fit the
// process's file limit, it watches directories and rescans them instead
// (see Mode); Strategy says which.
func Start(o Options) (*Watcher, error) {
	if o.OnChange == nil {
		o.OnChange = func(string, bool) {}
	}
	if o.OnOverflow == nil {
		o.OnOverflow = func() {}
	}
	if o.OnError == nil {
		o.OnError = func(error) {}
	}
	if o.SkipDir == nil {
		o.SkipDir = func(string) bool { return false }
	}
	w := &Watcher{o: o, done: make(chan struct{}), watched: map[string]bool{}, roots: map[string]bool{}, parents: map[string]bool{}}
	var roots []string
	for _, r := range o.Roots {
		w.roots[filepath.Clean(r)] = true
		roots = append(roots, filepath.Clean(r))
	}
	every := o.Every
	if every <= 0 {
		every = defaultEvery
	}
	limit := o.FileLimit
	if limit <= 0 {
		limit = raiseFileLimit()
	}
	w.strategy = plan(roots, o.SkipDir, costsPerFile, limit, every)
	if o.force != PerFile {
		w.strategy.Mode = o.force
	}
	if w.strategy.Fallback() {
		sc, err := startScanner(o, w.roots, w.strategy.Mode, every)
		if err != nil {
			return nil, fmt.Errorf("unable to start watching files: %w", err)
		}
		w.scan = sc
		close(w.done)
		return w, nil
	}
	fsw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("unable to start watching files: %w", err)
	}
	w.fsw = fsw
	for r := range w.roots {
		// The parent tells us when the root itself is created, removed
		// or replaced (an editor saving a single watched file).
		parent := filepath.Dir(r)
		if !w.parents[parent] {
			if err := fsw.Add(parent); err == nil {
				w.parents[parent] = true
			} else if !errors.Is(err, fs.ErrNotExist) {
				fsw.Close()
				return nil, watchError(parent, err)
			}
		}
		if fi, err := os.Lstat(r); err == nil && fi.IsDir() {
			if err := w.addTree(r, false); err != nil {
				fsw.Close()
				return nil, err
			}
		}
	}
	go w.loop()
	return w, nil
}

// watchError explains the usual reason a watch cannot be added.
func watchError(dir string, err error) error {
	if errors.Is(err, syscall.ENOSPC) {
		return fmt.Errorf("unable to watch %s: the limit of inotify watches is reached (raise it: sysctl fs.inotify.max_user_watches=524288): %w", dir, err)
	}
	return fmt.Errorf("unable to watch %s: %w", dir, err)
}

// Close stops watching.
func (w *Watcher) Close() error {
	if w.scan != nil {
		return w.scan.close()
	}
	err := w.fsw.Close()
	<-w.done
	return err
}

// Strategy says how the watcher learns of changes, and why.
func (w *Watcher) Strategy() Strategy { return w.strategy }

// Watched returns how many directories are watched.
func (w *Watcher) Watched() int {
	if w.scan != nil {
		return w.scan.watched()
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.watched)
}

// covered reports whether path is a root or inside a watched root tree.
func (w *Watcher) covered(path string) bool {
	if w.roots[path] {
		return true
	}
	for p := filepath.Dir(path); ; p = filepath.Dir(p) {
		if w.roots[p] {
			return true
		}
		if p == filepath.Dir(p) {
			return false
		}
	}
}

// addTree watches dir and every directory below it. With report, it also
// reports every path found: they may have been created before the watch
// was in place.
func (w *Watcher) addTree(dir string, report bool) error {
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // gone while walking: its removal is reported anyway
			}
			if path == dir && !report {
				return watchError(path, err)
			}
			w.o.OnError(watchError(path, err))
			return nil
		}
		if report && path != dir {
			w.o.OnChange(path, true)
		}
		if !d.IsDir() {
			return nil
		}
		if w.o.SkipDir(path) {
			return filepath.SkipDir
		}
		w.mu.Lock()
		known := w.watched[path]
		w.mu.Unlock()
		if known && !report {
			return nil // Rescan: already watched
		}
		if err := w.fsw.Add(path); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return filepath.SkipDir
			}
			if errors.Is(err, syscall.ENOSPC) && !report {
				return watchError(path, err)
			}
			w.o.OnError(watchError(path, err))
			return filepath.SkipDir
		}
		w.mu.Lock()
		w.watched[path] = true
		w.mu.Unlock()
		return nil
	})
}

// Rescan walks every root again and watches directories that are not
// watched yet (after the ignore rules changed, a skipped directory may
// now matter). It reports nothing: the caller resyncs.
func (w *Watcher) Rescan() {
	if w.scan != nil {
		w.scan.rescanNow()
		return
	}
	for r := range w.roots {
		if fi, err := os.Lstat(r); err == nil && fi.IsDir() {
			if err := w.addTree(r, false); err != nil {
				w.o.OnError(err)
			}
		}
	}
}

// forget drops the watches of dir and everything below it, after it was
// removed or renamed away (inotify keeps a moved directory's watches, with
// paths that are no longer true).
func (w *Watcher) forget(dir string) {
	w.mu.Lock()
	if !w.watched[dir] {
		w.mu.Unlock()
		return
	}
	var gone []string
	prefix := dir + string(filepath.Separator)
	for p := range w.watched {
		if p == dir || strings.HasPrefix(p, prefix) {
			gone = append(gone, p)
			delete(w.watched, p)
		}
	}
	w.mu.Unlock()
	for _, p := range gone {
		_ = w.fsw.Remove(p)
	}
}

func (w *Watcher) loop() {
	defer close(w.done)
	for {
		select {
		case ev, ok := <-w.fsw.Events:
			if !ok {
				return
			}
			w.handle(ev)
		case err, ok := <-w.fsw.Errors:
			if !ok {
				return
			}
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				w.o.OnOverflow()
				continue
			}
			w.o.OnError(err)
		}
	}
}

func (w *Watcher) handle(ev fsnotify.Event) {
	path := filepath.Clean(ev.Name)
	if !w.covered(path) {
		return // a sibling of a root, seen through the root's parent
	}
	switch {
	case ev.Has(fsnotify.Create):
		fi, err := os.Lstat(path)
		if err == nil && fi.IsDir() {
			// A new (or moved in, or re-created) directory: watch it and
			// report what is already in it.
			w.forget(path)
			w.o.OnChange(path, true)
			if err := w.addTree(path, true); err != nil {
				w.o.OnError(err)
			}
			return
		}
		w.o.OnChange(path, true)
	case ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename):
		w.forget(path)
		w.o.OnChange(path, false)
	default: // Write, Chmod
		w.o.OnChange(path, false)
	}
}
