package sync

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync/atomic"

	"devstack/engine/model"
	"devstack/sync/ignore"
	"devstack/sync/pack"
)

// rule is one develop.watch entry of a service.
type rule struct {
	svc   string
	index int
	w     model.WatchRule
	root  string // the watched host path, clean
	// watched is where root's link points when root is a symlink (""
	// otherwise): inotify is set on the real directory, and its paths are
	// read back as paths below root, so the rule's ignore files and
	// container paths stay as written.
	watched string
	target  string // the container path, clean ("" for rebuild and restart)
	m       atomic.Pointer[ignore.Rule]
}

// syncs reports whether the rule copies files.
func (r *rule) syncs() bool {
	switch r.w.Action {
	case model.WatchSync, model.WatchSyncRestart, model.WatchSyncExec:
		return true
	}
	return false
}

func (r *rule) file() bool { return r.m.Load().File }

func (r *rule) decide(abs string) ignore.Decision { return r.m.Load().Decide(abs) }

// watchPath is the path to set inotify on.
func (r *rule) watchPath() string {
	if r.watched != "" {
		return r.watched
	}
	return r.root
}

// fromWatched turns a path the watcher reports below a symlinked root's
// real directory into the same path below root; ok is false for any
// other path.
func (r *rule) fromWatched(p string) (string, bool) {
	if r.watched == "" {
		return "", false
	}
	rel, ok := ignore.Rel(r.watched, p)
	if !ok {
		return "", false
	}
	if rel == "." {
		return r.root, true
	}
	return filepath.Join(r.root, filepath.FromSlash(rel)), true
}

// rel returns abs relative to the rule ("." for the root itself, and for
// the file of a single-file rule).
func (r *rule) rel(abs string) (string, bool) {
	if r.file() {
		return ".", abs == r.root
	}
	return ignore.Rel(r.root, abs)
}

// abs is the inverse of rel.
func (r *rule) abs(rel string) string {
	if rel == "." {
		return r.root
	}
	return filepath.Join(r.root, filepath.FromSlash(rel))
}

// openRoot opens the watched directory (a single file's directory) for
// reading. It is opened afresh for each batch: a directory removed and
// created again is a new directory.
// A symlinked watch path is read where it points, confined there.
func (r *rule) openRoot() (*os.Root, error) {
	dir := r.watchPath()
	if r.file() {
		dir = filepath.Dir(dir)
	}
	return os.OpenRoot(dir)
}

// fileName is a single-file rule's file in its opened root.
func (r *rule) fileName() string { return filepath.Base(r.watchPath()) }

func (r *rule) mapping(root *os.Root) pack.Mapping {
	m := pack.Mapping{Root: root, Target: r.target}
	if r.file() {
		m.File = r.fileName()
	}
	return m
}

// containerPath returns where rel lands in the container.
func (r *rule) containerPath(rel string) (string, error) { return pack.ContainerPath(r.target, rel) }

// reload reads the rule's ignore files again.
func (r *rule) reload(svc *model.Service) error {
	m, err := ignore.ForRule(svc, r.index)
	if err != nil {
		return err
	}
	r.m.Store(m)
	return nil
}

func (r *rule) String() string {
	return fmt.Sprintf("service %s: develop.watch[%d] (%s %s)", r.svc, r.index, r.w.Action, r.w.Path)
}

// newRules validates and compiles a service's watch rules.
func newRules(svc *model.Service) ([]*rule, error) {
	var out []*rule
	for i, w := range svc.Watch {
		where := fmt.Sprintf("service %s: develop.watch[%d]", svc.Name, i)
		r := &rule{svc: svc.Name, index: i, w: w, root: filepath.Clean(w.Path)}
		switch w.Action {
		case model.WatchSync, model.WatchSyncRestart, model.WatchSyncExec:
			t, err := pack.TargetDir(w.Target)
			if err != nil {
				return nil, fmt.Errorf("%s: target must be an absolute container path, got %q", where, w.Target)
			}
			if t == "/" {
				return nil, fmt.Errorf("%s: syncing onto the container's root / is refused: pick a directory", where)
			}
			r.target = t
		case model.WatchRebuild:
			if svc.Build == nil {
				return nil, fmt.Errorf("%s: action rebuild needs a build: section", where)
			}
		case model.WatchRestart:
		default:
			return nil, fmt.Errorf("%s: unknown action %q (want sync, rebuild, restart, sync+restart or sync+exec)", where, w.Action)
		}
		if fi, err := os.Lstat(r.root); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
			real, err := filepath.EvalSymlinks(r.root)
			if err != nil {
				return nil, fmt.Errorf("%s: path %s is a symlink that leads nowhere (%v): point it at a directory or file, or watch the real path", where, w.Path, err)
			}
			r.watched = real
		}
		if w.Action == model.WatchSyncExec && len(w.Exec) == 0 {
			return nil, fmt.Errorf("%s: action sync+exec needs exec.command", where)
		}
		if err := r.reload(svc); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}
