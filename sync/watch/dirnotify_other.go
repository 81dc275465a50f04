//go:build !darwin

package watch

import (
	"errors"
	"path/filepath"

	"github.com/fsnotify/fsnotify"
)

// perFileCost: inotify (Linux) and ReadDirectoryChangesW (Windows) watch
// a directory's files through the directory's one watch.
const perFileCost = false

// fsnotifyDirs is the directories-only notifier where per-file watches
// cost nothing (the fallback is then chosen only by tests, which make
// watches costly to check the macOS strategy here). It reports what a
// directory's kqueue watch reports, entries created, removed or renamed,
// and drops writes to files, which the fallback's periodic rescan must
// find by itself, as it must on macOS.
type fsnotifyDirs struct {
	fsw  *fsnotify.Watcher
	done chan struct{}
}

func newDirNotifier(changed func(dir string)) (dirNotifier, error) {
	fsw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	n := &fsnotifyDirs{fsw: fsw, done: make(chan struct{})}
	go func() {
		defer close(n.done)
		for {
			select {
			case ev, ok := <-fsw.Events:
				if !ok {
					return
				}
				if ev.Has(fsnotify.Create) || ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) {
					changed(filepath.Dir(filepath.Clean(ev.Name)))
				}
			case err, ok := <-fsw.Errors:
				if !ok {
					return
				}
				if errors.Is(err, fsnotify.ErrEventOverflow) {
					changed("")
				}
			}
		}
	}()
	return n, nil
}

func (n *fsnotifyDirs) add(dir string) error { return n.fsw.Add(dir) }
func (n *fsnotifyDirs) remove(dir string)    { _ = n.fsw.Remove(dir) }
func (n *fsnotifyDirs) close() error {
	err := n.fsw.Close()
	<-n.done
	return err
}
