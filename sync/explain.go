package sync

import (
	"fmt"
	"path/filepath"
	"strings"

	"devstack/engine/model"
	"devstack/sync/ignore"
)

// Verdict is what one watch rule does with a path.
type Verdict struct {
	Service       string
	Rule          int    // index in develop.watch
	Action        string // the rule's action
	WatchPath     string
	Synced        bool   // the rule acts on the path
	ContainerPath string // where it lands (sync actions, when synced)
	Reason        string // why not, naming the file and line (or the rule) that excludes it
}

// Explanation says whether and where a host path is synced.
type Explanation struct {
	Path     string
	Verdicts []Verdict // one per rule whose path covers Path
}

// Synced reports whether some rule acts on the path.
func (e Explanation) Synced() bool {
	for _, v := range e.Verdicts {
		if v.Synced {
			return true
		}
	}
	return false
}

func (e Explanation) String() string {
	var b strings.Builder
	if len(e.Verdicts) == 0 {
		fmt.Fprintf(&b, "%s is not under any develop.watch path\n", e.Path)
		return b.String()
	}
	for _, v := range e.Verdicts {
		where := fmt.Sprintf("service %s, develop.watch[%d] (%s %s)", v.Service, v.Rule, v.Action, v.WatchPath)
		switch {
		case v.Synced && v.ContainerPath != "":
			fmt.Fprintf(&b, "%s -> %s:%s  [%s]\n", e.Path, v.Service, v.ContainerPath, where)
		case v.Synced:
			fmt.Fprintf(&b, "%s triggers %s of %s  [%s]\n", e.Path, v.Action, v.Service, where)
		default:
			fmt.Fprintf(&b, "%s is not synced: %s  [%s]\n", e.Path, v.Reason, where)
		}
	}
	return b.String()
}

// Explain says whether the host path (absolute, or relative to the
// project directory) is synced, to which service and container path, or
// which ignore rule excludes it.
func Explain(p *model.Project, path string) (Explanation, error) {
	if !filepath.IsAbs(path) {
		path = filepath.Join(p.WorkingDir, path)
	}
	path = filepath.Clean(path)
	e := Explanation{Path: path}
	for i := range p.Services {
		svc := &p.Services[i]
		if len(svc.Watch) == 0 {
			continue
		}
		rules, err := newRules(svc)
		if err != nil {
			return e, err
		}
		for _, r := range rules {
			path := path
			if p, ok := r.fromWatched(path); ok {
				path = p // below where a symlinked watch path points
			}
			d := r.decide(path)
			if !d.Covered {
				continue
			}
			v := Verdict{Service: svc.Name, Rule: r.index, Action: r.w.Action, WatchPath: r.root, Synced: d.Synced}
			switch {
			case d.Synced && r.syncs():
				rel, _ := r.rel(path)
				v.ContainerPath, _ = r.containerPath(rel)
			case d.NotIncluded:
				v.Reason = "no include pattern of the rule matches it (" + strings.Join(r.w.Include, ", ") + ")"
			case d.By != nil:
				v.Reason = reason(d.By)
			}
			e.Verdicts = append(e.Verdicts, v)
		}
	}
	return e, nil
}

func reason(p *ignore.Pattern) string {
	return fmt.Sprintf("ignored by %s (pattern %q)", p.Source, p.String())
}
