package sync

import (
	"context"
	"errors"
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
	need      int64    // bytes more the container needs to take what differs
	Missing   []string // on the host, not in the container
	Differ    []string // in both, different (size, mtime, mode, owner)
	Deleted   []string // deleted on the host, synced before: sync removes them
	// ContainerOnly were made in the container (never synced): sync
	// leaves them alone.
	ContainerOnly []string
	// Space says the container's disk cannot take what is to send (""
	// when it can, or when it could not be told).
	Space string
	// Conflicts are container directories where the host has a file,
	// holding container-made files, and symlinks made in the container
	// where the host has a directory: sync leaves them alone and sends
	// nothing through them.
	Conflicts []string
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
		if t.Space != "" {
			fmt.Fprintf(&b, "  %s\n", t.Space)
		}
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
			t.Space = space(ctx, e, c.ID, t)
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
		ctr, err = tr.List(ctx, r.target)
		var se *manifest.SymlinkError
		if errors.As(err, &se) {
			t.Conflicts = se.Paths // the target is a link made in the container
			return t, nil
		}
		if err != nil {
			return t, err
		}
	}
	diff := manifest.Compare(host, ctr, owner,
		func(rel string) byte { return rec.Kind(cp(rel)) },
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
	for _, rel := range append(diff.Missing, diff.Differ...) {
		t.need += host[rel].Size - ctr[rel].Size
	}
	t.Missing, t.Differ, t.Deleted = conv(diff.Missing), conv(diff.Differ), conv(diff.Delete)
	t.ContainerOnly, t.Conflicts = conv(diff.ContainerOnly), conv(diff.Conflicts)
	return t, nil
}

// space tells, when files are to be sent, whether the container's disk
// at the target has room for them (the copies they replace give theirs
// back): a full disk stops a sync part-way, and says so here rather than
// leaving "differs" unexplained.
func space(ctx context.Context, e Engine, id string, t TargetDrift) string {
	if t.need <= 0 {
		return ""
	}
	var out strings.Builder
	code, err := e.Exec(ctx, id, ExecSpec{Cmd: []string{"stat", "-f", "-c", "%a %S", "--", t.Target}, User: "0:0", Stdout: &out})
	if err != nil || code != 0 {
		return ""
	}
	var blocks, size int64
	if _, err := fmt.Sscan(out.String(), &blocks, &size); err != nil {
		return ""
	}
	if free := blocks * size; t.need > free {
		return fmt.Sprintf("disk full: the container has %s free at %s, %s more to send: free space in the container", bytesText(free), t.Target, bytesText(t.need))
	}
	return ""
}

func bytesText(n int64) string {
	if n < 10<<10 {
		return fmt.Sprintf("%d B", n)
	}
	return fmt.Sprintf("%d KiB", n>>10)
}

func parentDir(p string) string {
	i := strings.LastIndex(p, "/")
	if i <= 0 {
		return "/"
	}
	return p[:i]
}

func baseName(p string) string { return p[strings.LastIndex(p, "/")+1:] }
