package sync

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"devstack/engine/model"
	"devstack/sync/container"
	"devstack/sync/manifest"
	"devstack/sync/record"
)

// CheckOptions tune Check.
type CheckOptions struct {
	// StateDir holds the records of synced paths, as in Options; ""
	// means DefaultStateDir(project).
	StateDir string
}

// Drift is how a service's containers differ from the host trees.
type Drift struct {
	Service string
	Targets []TargetDrift // one per container and sync rule
}

// TargetDrift is the drift of one rule's target in one container. Paths
// are container paths.
type TargetDrift struct {
	Container string
	Rule      int
	Source    string // the host path
	Target    string
	Missing   []string // on the host, not in the container
	Differ    []string // in both, different (size, mtime, mode, owner)
	Deleted   []string // deleted on the host, synced before: sync removes them
	// ContainerOnly were made in the container (never synced): sync
	// leaves them alone.
	ContainerOnly []string
	Conflicts     []string // container directories where the host has a file, holding container-made files
}

// Clean reports whether the containers hold exactly what sync would put
// there (container-only files aside).
func (d Drift) Clean() bool {
	for _, t := range d.Targets {
		if len(t.Missing)+len(t.Differ)+len(t.Deleted)+len(t.Conflicts) > 0 {
			return false
		}
	}
	return true
}

func (d Drift) String() string {
	var b strings.Builder
	if len(d.Targets) == 0 {
		fmt.Fprintf(&b, "service %s: no running container to check\n", d.Service)
	}
	for _, t := range d.Targets {
		n := len(t.Missing) + len(t.Differ) + len(t.Deleted) + len(t.Conflicts)
		state := "in sync"
		if n > 0 {
			state = fmt.Sprintf("%d difference(s)", n)
		}
		fmt.Fprintf(&b, "%s %s -> %s: %s", t.Container, t.Source, t.Target, state)
		if len(t.ContainerOnly) > 0 {
			fmt.Fprintf(&b, ", %d container-only path(s)", len(t.ContainerOnly))
		}
		b.WriteString("\n")
		for _, l := range []struct {
			tag   string
			paths []string
		}{{"missing", t.Missing}, {"differs", t.Differ}, {"deleted on host", t.Deleted}, {"conflict", t.Conflicts}, {"container-only (kept)", t.ContainerOnly}} {
			for _, p := range l.paths {
				fmt.Fprintf(&b, "  %-22s %s\n", l.tag, p)
			}
		}
	}
	return b.String()
}

// Check compares the host trees of service's sync rules with each of its
// running containers, changing nothing on either side.
func Check(ctx context.Context, p *model.Project, e Engine, service string, o CheckOptions) (Drift, error) {
	d := Drift{Service: service}
	svc, ok := p.Service(service)
	if !ok {
		return d, fmt.Errorf("no such service: %s", service)
	}
	rules, err := newRules(svc)
	if err != nil {
		return d, err
	}
	if o.StateDir == "" {
		if o.StateDir, err = DefaultStateDir(p.Name); err != nil {
			return d, err
		}
	}
	cs, err := e.Containers(ctx, service)
	if err != nil {
		return d, fmt.Errorf("unable to list the containers of %s: %w", service, err)
	}
	sort.Slice(cs, func(i, j int) bool { return cs[i].Name < cs[j].Name })
	for _, c := range cs {
		rec, err := record.Read(o.StateDir, c.ID)
		if err != nil {
			return d, err
		}
		owner, err := container.ResolveUser(ctx, e, c.ID, c.User)
		if err != nil {
			return d, fmt.Errorf("container %s: %w", c.Name, err)
		}
		tr := &container.Archive{API: e, ID: c.ID}
		for _, r := range rules {
			if !r.syncs() {
				continue
			}
			t, err := checkRule(ctx, r, tr, rec, manifest.Owner(owner))
			if err != nil {
				return d, fmt.Errorf("container %s: %w", c.Name, err)
			}
			t.Container = c.Name
			d.Targets = append(d.Targets, t)
		}
	}
	return d, nil
}

func checkRule(ctx context.Context, r *rule, tr container.Transport, rec *record.Record, owner manifest.Owner) (TargetDrift, error) {
	t := TargetDrift{Rule: r.index, Source: r.root, Target: r.target}
	root, err := r.openRoot()
	if err != nil {
		return t, fmt.Errorf("%s: %w", r, err)
	}
	defer root.Close()
	var host manifest.Manifest
	var ctr manifest.Manifest
	cp := func(rel string) string { s, _ := r.containerPath(rel); return s }
	if r.file() {
		// A single file: compare it with its container path's listing.
		fi, err := root.Lstat(r.mapping(root).File)
		host = manifest.Manifest{}
		if err == nil {
			host["f"] = manifest.FromFileInfo(fi)
		}
		all, err := tr.List(ctx, parentDir(r.target))
		if err != nil {
			return t, err
		}
		ctr = manifest.Manifest{}
		if i, ok := all[baseName(r.target)]; ok {
			ctr["f"] = i
		}
		cp = func(string) string { return r.target }
	} else {
		host, _, err = manifest.Host(root, func(rel string, dir bool) (bool, bool) {
			abs := r.abs(rel)
			return r.decide(abs).Synced, !dir || !r.m.Load().SkipDir(abs)
		})
		if err != nil {
			return t, err
		}
		if ctr, err = tr.List(ctx, r.target); err != nil {
			return t, err
		}
	}
	diff := manifest.Compare(host, ctr, owner,
		func(rel string) bool { return rec.Has(cp(rel)) },
		func(rel string) bool { return !r.file() && !r.decide(r.abs(rel)).Synced })
	hostName := func(rel string) string { return rel }
	if r.file() {
		hostName = func(string) string { return r.mapping(root).File }
	}
	if err := settle(ctx, tr, root, ctr, &diff, hostName, cp); err != nil {
		return t, err
	}
	conv := func(rels []string) []string {
		var out []string
		for _, rel := range rels {
			out = append(out, cp(rel))
		}
		return out
	}
	t.Missing, t.Differ, t.Deleted = conv(diff.Missing), conv(diff.Differ), conv(diff.Delete)
	t.ContainerOnly, t.Conflicts = conv(diff.ContainerOnly), conv(diff.Conflicts)
	return t, nil
}

func parentDir(p string) string {
	i := strings.LastIndex(p, "/")
	if i <= 0 {
		return "/"
	}
	return p[:i]
}

func baseName(p string) string { return p[strings.LastIndex(p, "/")+1:] }
