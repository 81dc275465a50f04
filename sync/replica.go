package sync

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"path"
	"strconv"
	"strings"

	"devstack/sync/container"
	"devstack/sync/manifest"
	"devstack/sync/pack"
	"devstack/sync/record"
)

// replica is one running container of a service. Only the service's
// goroutine (or one goroutine it starts per replica) touches it.
type replica struct {
	sv      *service
	c       Container
	rec     *record.Record
	tr      container.Transport
	noAgent bool // the image cannot run the exec transport
	// via is a running helper container that mounts this container's
	// sync targets at the same paths (Seed's, before the start): the
	// exec transport runs there, gzipped, instead of the archive API
	// into the created container. "" for none.
	via      string
	owner    pack.Owner
	ownerSet bool

	pending    changes // changes not yet applied (a failed batch, a file changed while read)
	needResync bool    // bring the whole target in line before anything else
	failures   int     // consecutive failures, for the retry backoff
}

// result is what one batch did in one container.
type result struct {
	rp      *replica
	files   int
	deleted int
	bytes   int64
	err     error
	// conflicts are container paths left alone because they are
	// symlinks made in the container where sync needs a directory: not
	// an error to retry, a report (sync check lists them too).
	conflicts []string
}

func newReplica(sv *service, c Container) *replica {
	rec, err := record.Open(sv.s.o.StateDir, c.ID)
	if err != nil {
		sv.s.warn(sv.name, fmt.Sprintf("%v; keeping it in memory only", err))
		rec, _ = record.Open("", c.ID)
	}
	return &replica{sv: sv, c: c, rec: rec, pending: changes{}}
}

// transport returns the way into the container, starting it if needed.
func (rp *replica) transport(ctx context.Context) (container.Transport, error) {
	if !alive(rp.tr) {
		rp.closeTransport()
	}
	if rp.tr != nil {
		return rp.tr, nil
	}
	eng := rp.sv.s.o.Engine
	mode := rp.sv.s.o.Transport
	if rp.via != "" {
		// One exec as root (the helper's files are the volume's): on a
		// slow link a second one's start costs more than it brings.
		a, err := container.StartAgent(ctx, eng, rp.via)
		if err == nil {
			rp.tr = a
			return rp.tr, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		// The image cannot (no tools), or the helper is gone: the
		// archive API into the container itself.
		rp.via = ""
	}
	if mode == TransportArchive || mode == TransportAuto && rp.noAgent {
		rp.tr = &container.Archive{API: eng, ID: rp.c.ID}
		return rp.tr, nil
	}
	pool, err := container.StartPoolAs(ctx, eng, rp.c.ID, parallel, rp.execUser(ctx))
	switch {
	case err == nil:
		rp.tr = pool
	case mode == TransportAuto && errors.Is(err, container.ErrNoAgent) && !rp.running(ctx):
		// The exec failed because the container stopped under it (the
		// engine says exit 126, as for a missing shell): a recreate or a
		// down, not a want of tools. No archive API into it: a copy that
		// mounts its volumes while the engine removes the container was
		// seen to leave those volumes empty (Docker 20.10), and the
		// replacement's start brings its own resync anyway.
		return nil, fmt.Errorf("unable to reach container %s: it is no longer running", rp.c.Name)
	case mode == TransportAuto && errors.Is(err, container.ErrNoAgent):
		rp.noAgent = true
		rp.sv.s.warn(rp.sv.name, fmt.Sprintf("container %s: %v; using the slower archive API", rp.c.Name, err))
		rp.tr = &container.Archive{API: eng, ID: rp.c.ID}
	default:
		return nil, fmt.Errorf("unable to reach container %s: %w", rp.c.Name, err)
	}
	return rp.tr, nil
}

// running reports whether the replica's container is still among its
// service's running containers (true when the engine cannot say: the
// caller then goes on as before).
func (rp *replica) running(ctx context.Context) bool {
	cs, err := rp.sv.s.o.Engine.Containers(ctx, rp.sv.name)
	if err != nil {
		return true
	}
	for _, c := range cs {
		if c.ID == rp.c.ID {
			return true
		}
	}
	return false
}

// execUser picks who the exec transport runs as: the container's user
// when every sync target is a directory that user owns (what a process of
// the container could do there, sync may do too, and no more: a link it
// plants leads nowhere it could not write itself), else root (needed to
// write into directories the image made as root; the agent then refuses
// to go through symlinks).
func (rp *replica) execUser(ctx context.Context) string {
	owner := rp.resolveOwner(ctx)
	if owner.UID == 0 || len(rp.sv.syncRules) == 0 {
		return "0:0"
	}
	cmd := []string{"stat", "-c", "%u %F", "--"}
	for _, r := range rp.sv.syncRules {
		cmd = append(cmd, r.target)
	}
	var out bytes.Buffer
	code, err := rp.sv.s.o.Engine.Exec(ctx, rp.c.ID, ExecSpec{Cmd: cmd, User: "0:0", Stdout: &out})
	if err != nil || code != 0 {
		return "0:0" // a target is missing: only root may create it
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != len(rp.sv.syncRules) {
		return "0:0"
	}
	for _, l := range lines {
		if l != strconv.Itoa(owner.UID)+" directory" {
			return "0:0"
		}
	}
	return fmt.Sprintf("%d:%d", owner.UID, owner.GID)
}

// alive reports whether a transport is still usable (an exec ends with
// its container).
func alive(tr container.Transport) bool {
	a, ok := tr.(interface{ Alive() bool })
	return tr == nil || !ok || a.Alive()
}

func (rp *replica) closeTransport() {
	if rp.tr != nil {
		rp.tr.Close()
		rp.tr = nil
	}
}

func (rp *replica) close() {
	rp.closeTransport()
	_ = rp.rec.Close()
}

// resolveOwner finds the uid:gid synced files get, once per container.
func (rp *replica) resolveOwner(ctx context.Context) pack.Owner {
	if !rp.ownerSet {
		o, err := container.ResolveUser(ctx, rp.sv.s.o.Engine, rp.c.ID, rp.c.User)
		if err != nil {
			rp.sv.s.warn(rp.sv.name, fmt.Sprintf("container %s: %v; synced files will belong to root", rp.c.Name, err))
		}
		rp.owner, rp.ownerSet = pack.Owner(o), err == nil || ctx.Err() == nil
	}
	return rp.owner
}

// apply sends ch, plus whatever is pending, to the container.
func (rp *replica) apply(ctx context.Context, ch changes) result {
	all := rp.pending
	rp.pending = changes{}
	all.merge(ch)
	if all.count() == 0 {
		return result{rp: rp}
	}
	rs := openRoots(all.rules())
	defer rs.close()
	p := makePlan(all, rp.rec, rs)
	res := rp.send(ctx, rs, p, nil)
	if res.err != nil {
		rp.pending.merge(all)
	}
	return res
}

// resync brings every sync rule's target in line with the host, sending
// only what differs and deleting only what devstack synced before.
func (rp *replica) resync(ctx context.Context) (res result) {
	rs := openRoots(rp.sv.syncRules)
	defer rs.close()
	// The resync compares each present rule's whole tree with the host,
	// so what was pending for it (a batch that failed while the
	// container or the engine was away) is part of it: sent again
	// afterwards it would be applied twice. Kept if the resync fails.
	covered := changes{}
	for r, rels := range rp.pending {
		if rs[r] != nil {
			covered[r] = rels
			delete(rp.pending, r)
		}
	}
	defer func() {
		if res.err != nil {
			rp.pending.merge(covered)
		}
	}()
	tr, err := rp.transport(ctx)
	if err != nil {
		return result{rp: rp, err: err}
	}
	owner := rp.resolveOwner(ctx)
	var p plan
	var deletes []string
	var conflicts []string
	snapshot := map[string]byte{}
	for _, r := range rp.sv.syncRules {
		root := rs[r]
		if root == nil {
			// The watched path is missing: never read that as "delete
			// everything"; keep what the record says for it.
			rp.sv.s.warn(rp.sv.name, fmt.Sprintf("%s: the watched path does not exist; nothing synced for it", r))
			for _, q := range rp.rec.Under(r.target) {
				snapshot[q] = rp.rec.Kind(q)
			}
			continue
		}
		if r.file() {
			if exists(root, r, ".") {
				p.puts = append(p.puts, put{r, "."})
				snapshot[r.target] = manifest.KindFile
			} else if rp.rec.Has(r.target) {
				deletes = append(deletes, r.target)
			}
			continue
		}
		host, skips, err := manifest.Host(root, func(rel string, dir bool) (bool, bool) {
			abs := r.abs(rel)
			d := r.decide(abs)
			return d.Synced, !dir || !r.m.Load().SkipDir(abs)
		})
		if err != nil {
			return result{rp: rp, err: err}
		}
		for _, s := range skips {
			rp.sv.s.warn(rp.sv.name, fmt.Sprintf("%s: %s", r.abs(s.Rel), s.Reason))
		}
		for rel, info := range host {
			if info.Kind == manifest.KindOther {
				rp.sv.s.warn(rp.sv.name, fmt.Sprintf("%s: not a regular file, directory or symlink; not synced", r.abs(rel)))
				delete(host, rel)
			}
		}
		ctr, err := tr.List(ctx, r.target)
		var se *manifest.SymlinkError
		if errors.As(err, &se) {
			// The target itself is a link made in the container: leave
			// it, and the record of what was synced there, alone.
			conflicts = append(conflicts, se.Paths...)
			for _, q := range rp.rec.Under(r.target) {
				snapshot[q] = rp.rec.Kind(q)
			}
			continue
		}
		if err != nil {
			rp.closeTransport()
			return result{rp: rp, err: err}
		}
		cp := func(rel string) string { s, _ := r.containerPath(rel); return s }
		d := manifest.Compare(host, ctr, manifest.Owner(owner),
			func(rel string) byte { return rp.rec.Kind(cp(rel)) },
			func(rel string) bool { return !r.decide(r.abs(rel)).Synced })
		for _, rel := range d.Conflicts {
			if ctr[rel].Kind == manifest.KindSymlink {
				conflicts = append(conflicts, cp(rel))
			}
		}
		// A file it cannot compare is sent again (safe), not left behind.
		_ = settle(ctx, tr, root, ctr, &d, func(rel string) string { return rel }, cp)
		for _, rel := range d.Send() {
			p.puts = append(p.puts, put{r, rel})
		}
		for _, rel := range append(d.Replace, d.Delete...) {
			deletes = append(deletes, cp(rel))
		}
		for rel, info := range host {
			snapshot[cp(rel)] = info.Kind
		}
		for _, rel := range d.Kept {
			snapshot[cp(rel)] = ctr[rel].Kind
		}
	}
	p.deletes = topmost(deletes)
	res = rp.send(ctx, rs, p, withoutUnder(snapshot, conflicts, rp.rec))
	res.conflicts = append(conflicts, res.conflicts...)
	if res.err == nil {
		rp.needResync = false
	}
	return res
}

// withoutUnder drops from a snapshot what lies at or below the conflicts
// (nothing was sent there) and keeps what the record says of it.
func withoutUnder(snapshot map[string]byte, conflicts []string, rec *record.Record) map[string]byte {
	for _, c := range conflicts {
		for q := range snapshot {
			if q == c || strings.HasPrefix(q, c+"/") {
				delete(snapshot, q)
			}
		}
		if k := rec.Kind(c); k != 0 {
			snapshot[c] = k
		}
		for _, q := range rec.Under(c) {
			snapshot[q] = rec.Kind(q)
		}
	}
	return snapshot
}

// send applies a plan in one transport round: deletions, then one tar
// stream of every put. With snapshot, the record becomes exactly it
// (minus what could not be sent); without, it is updated.
func (rp *replica) send(ctx context.Context, rs roots, p plan, snapshot map[string]byte) result {
	var conflicts []string
	for range 3 {
		res := rp.sendOnce(ctx, rs, p, snapshot)
		var se *manifest.SymlinkError
		if !errors.As(res.err, &se) || len(se.Paths) == 0 {
			res.conflicts = conflicts
			return res
		}
		// Symlinks made in the container since it was listed: send
		// everything else, nothing through them.
		conflicts = append(conflicts, se.Paths...)
		p = p.without(se.Paths)
		if snapshot != nil {
			snapshot = withoutUnder(snapshot, se.Paths, rp.rec)
		}
	}
	return result{rp: rp, err: &manifest.SymlinkError{Paths: conflicts}}
}

// dirs returns the container directories a plan's puts write into or
// create: no symlink may stand there (see container.Batch.Dirs).
func (p plan) dirs(rs roots) []string {
	seen := map[string]bool{}
	var out []string
	add := func(d string) {
		if !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	for _, pu := range p.puts {
		cp, ok := pu.containerPath()
		if !ok {
			continue
		}
		add(path.Dir(cp))
		if kind, _ := lstat(rs[pu.r], pu.r, pu.rel); kind == 'd' {
			add(cp)
		}
	}
	return out
}

// without drops the puts and deletions at or below the container paths.
func (p plan) without(paths []string) plan {
	below := func(cp string) bool {
		for _, q := range paths {
			if cp == q || strings.HasPrefix(cp, q+"/") {
				return true
			}
		}
		return false
	}
	var out plan
	for _, pu := range p.puts {
		if cp, ok := pu.containerPath(); ok && !below(cp) {
			out.puts = append(out.puts, pu)
		}
	}
	for _, d := range p.deletes {
		if !below(d) {
			out.deletes = append(out.deletes, d)
		}
	}
	return out
}

// containerPath is where a put lands.
func (pu put) containerPath() (string, bool) {
	if pu.r.file() {
		return pu.r.target, true
	}
	cp, err := pu.r.containerPath(pu.rel)
	return cp, err == nil
}

func (rp *replica) sendOnce(ctx context.Context, rs roots, p plan, snapshot map[string]byte) result {
	res := result{rp: rp}
	if len(p.puts) == 0 && len(p.deletes) == 0 {
		if snapshot != nil {
			res.err = rp.rec.Replace(snapshot)
		}
		return res
	}
	tr, err := rp.transport(ctx)
	if err != nil {
		res.err = err
		return res
	}
	owner := rp.resolveOwner(ctx)
	shares := split(p.puts)
	parts := make([]part, len(shares))
	b := container.Batch{Delete: p.deletes, Dirs: p.dirs(rs), RootOwned: owner == pack.Owner{}, Compress: rp.sv.s.o.Compress}
	for i, share := range shares {
		b.Parts = append(b.Parts, func(out io.Writer) error {
			return parts[i].write(rp, rs, share, owner, out)
		})
	}
	if err := tr.Apply(ctx, b); err != nil {
		if !alive(tr) {
			rp.closeTransport()
		}
		res.err = err
		return res
	}
	res.deleted = len(p.deletes)
	synced := map[string]byte{}
	again := changes{}
	for _, pt := range parts {
		if pt.w == nil {
			continue
		}
		res.files += pt.w.Files
		res.bytes += pt.w.Bytes
		for _, e := range pt.w.Entries {
			synced["/"+e.Name] = e.Kind
		}
		again.merge(pt.again)
	}
	if snapshot != nil {
		snap := maps.Clone(snapshot)
		for _, pt := range parts {
			for _, u := range pt.unsent {
				delete(snap, u)
			}
		}
		maps.Copy(snap, synced)
		res.err = rp.rec.Replace(snap)
	} else {
		res.err = errors.Join(rp.rec.Delete(p.deletes), rp.rec.Put(synced))
	}
	rp.pending.merge(again)
	return res
}

// parallel is how many tar streams a big batch is split into: creating
// files is what costs on FUSE-backed storage, and several tar processes
// create them at once.
const parallel = 4

// splitAt is the number of files from which a batch is split.
const splitAt = 64

// split cuts the puts of a batch (sorted by rule and path) into
// contiguous shares extracted at once: a directory's files mostly stay
// together, so parent directory entries rarely meet in two streams (and
// when they do, an existing directory is fine to tar).
func split(puts []put) [][]put {
	if len(puts) == 0 {
		return nil
	}
	n := 1
	if len(puts) >= splitAt {
		n = parallel
	}
	size := (len(puts) + n - 1) / n
	var shares [][]put
	for len(puts) > 0 {
		k := min(size, len(puts))
		shares = append(shares, puts[:k])
		puts = puts[k:]
	}
	return shares
}

// part is one tar stream of a batch and what writing it found.
type part struct {
	w      *pack.Writer
	again  changes  // files that changed while read: send again
	unsent []string // container paths that could not be sent
}

func (pt *part) write(rp *replica, rs roots, puts []put, owner pack.Owner, out io.Writer) error {
	pt.w = pack.NewWriter(out, owner)
	pt.again = changes{}
	w := pt.w
	for _, pu := range puts {
		nc, ns := len(w.Changed), len(w.Skipped)
		if err := w.Add(pu.r.mapping(rs[pu.r]), pu.rel); err != nil {
			return err
		}
		for _, rel := range w.Changed[nc:] {
			pt.again.add(pu.r, rel, false)
		}
		for _, s := range w.Skipped[ns:] {
			if cp, err := pu.r.containerPath(s.Rel); err == nil {
				pt.unsent = append(pt.unsent, cp)
			}
			if s.Reason != "vanished before it could be read" {
				rp.sv.s.warn(rp.sv.name, fmt.Sprintf("%s: %s; not synced", pu.r.abs(s.Rel), s.Reason))
			}
		}
	}
	return w.Close()
}
