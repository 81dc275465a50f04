package sync

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"time"

	"devstack/sync/manifest"
)

// Seed fills a container that is created but not yet started with the
// host's files, for the service's sync rules made from bind mounts
// (model.WatchRule.FromBind): a process that reads its sources when it
// starts must find them, as it would in the bind mount. It goes through
// the engine's archive API (an exec needs a running container), sends
// what differs from the target (nothing at all into a target that
// already matches) and keeps the container's record, so the live sync
// that follows the start has nothing left to send. o.Services and
// o.Transport are set here; a service without such rules is left alone.
//
// via, when not "", is a running helper container that mounts the same
// volumes at the same paths as c: the files then go through the exec
// transport there, gzipped when o.Compress is set and the helper has
// gzip (the archive API only takes plain tar, see container.Archive),
// and the target is listed by find there rather than read back whole. A
// helper whose image lacks the tools is left for the archive API into c.
func Seed(ctx context.Context, o Options, service string, c Container, via string) error {
	o.Services = []string{service}
	o.Transport = TransportArchive
	s, err := New(o)
	if err != nil {
		return err
	}
	sv := s.services[0]
	var bound []*rule
	for _, r := range sv.syncRules {
		if r.w.FromBind {
			bound = append(bound, r)
		}
	}
	if len(bound) == 0 {
		return nil
	}
	sv.syncRules = bound
	rp := newReplica(sv, c)
	defer rp.close()
	rp.noAgent = true
	rp.via = via
	start := s.o.Clock.Now()
	res := rp.resync(ctx)
	sv.publish("initial", start, nil, []result{res}, nil)
	if res.err == nil && len(res.conflicts) > 0 {
		res.err = &manifest.SymlinkError{Paths: res.conflicts}
	}
	if res.err != nil {
		return fmt.Errorf("unable to fill %s with this machine's files before it starts: %w", c.Name, res.err)
	}
	return nil
}

// SourcesDigest is a digest of what Seed compares on this machine for
// service: for each of its sync rules made from bind mounts, every path
// the rule sends with its kind, size, permissions and mtime. Two equal
// digests mean nothing was edited there in between, so a caller that
// recorded the digest of a complete Seed may skip the next one (and its
// look into the container). "" when the service has no such rules.
func SourcesDigest(o Options, service string) (string, error) {
	o.Services = []string{service}
	o.StateDir = "-"
	s, err := New(o)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	fromBind := false
	// A file modified within racyWindow of now may be edited again within
	// the same mtime tick (file systems with 1–2 s timestamps) after the
	// fill read it, leaving size and mtime as this digest saw them: such a
	// digest is made unique, so it never matches the next one.
	racy := false
	now := time.Now()
	note := func(rel string, i manifest.Info) {
		writeInfo(h, rel, i)
		// A directory's own mtime moves with its entries, which the
		// digest lists: only a file's or link's content can change unseen.
		if i.Kind != manifest.KindDir && now.Sub(time.Unix(i.MTime, max(i.MTimeNS, 0))) < racyWindow {
			racy = true
		}
	}
	for _, r := range s.services[0].syncRules {
		if !r.w.FromBind {
			continue
		}
		fromBind = true
		fmt.Fprintf(h, "rule %q %q\n", r.watchPath(), r.target)
		if r.file() {
			if fi, err := os.Lstat(r.watchPath()); err == nil {
				note(".", manifest.FromFileInfo(fi))
			}
			continue
		}
		root, err := r.openRoot()
		if err != nil {
			fmt.Fprintln(h, "missing")
			continue
		}
		m, _, err := manifest.Host(root, func(rel string, dir bool) (bool, bool) {
			abs := r.abs(rel)
			return r.decide(abs).Synced, !dir || !r.m.Load().SkipDir(abs)
		})
		root.Close()
		if err != nil {
			return "", err
		}
		for _, rel := range slices.Sorted(maps.Keys(m)) {
			note(rel, m[rel])
		}
	}
	if !fromBind {
		return "", nil
	}
	if racy {
		fmt.Fprintf(h, "racy %d\n", now.UnixNano())
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// racyWindow is how recent a modification may be for SourcesDigest to
// trust size and mtime to show the next one (FAT's 2 s tick, the coarsest
// a source tree is likely to sit on).
const racyWindow = 2 * time.Second

func writeInfo(w io.Writer, rel string, i manifest.Info) {
	fmt.Fprintf(w, "%q %d %d %d.%d %o\n", rel, i.Kind, i.Size, i.MTime, i.MTimeNS, i.Perm)
}
