package sync

import (
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"

	"devstack/engine/model"
	"devstack/sync/ignore"
	"devstack/sync/pack"
)

// rule is one develop.watch entry of a service.
type rule struct {
	svc    string
	index  int
	w      model.WatchRule
	root   string // the watched host path, clean
	target string // the container path, clean ("" for rebuild and restart)
	m      atomic.Pointer[ignore.Rule]
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
func (r *rule) openRoot() (*os.Root, error) {
	dir := r.root
	if r.file() {
		dir = filepath.Dir(r.root)
	}
	return os.OpenRoot(dir)
}

func (r *rule) mapping(root *os.Root) pack.Mapping {
	m := pack.Mapping{Root: root, Target: r.target}
	if r.file() {
		m.File = filepath.Base(r.root)
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
