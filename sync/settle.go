package sync

import (
	"context"
	"os"

	"devstack/sync/container"
	"devstack/sync/manifest"
	"devstack/sync/pack"
)

// settle compares the contents of the files Compare could not tell apart
// by size and mtime (a same-size edit within the second its previous
// version was synced in) and moves those that differ to d.Differ. The
// container's digests come in one request for all of them (none when the
// listing carried them), so this costs nothing when no file is unsure.
// host returns the name of a rel in root; cp its container path.
func settle(ctx context.Context, tr container.Transport, root *os.Root, ctr manifest.Manifest, d *manifest.Diff, host, cp func(rel string) string) error {
	if len(d.Unsure) == 0 {
		return nil
	}
	var ask []string
	for _, rel := range d.Unsure {
		if ctr[rel].Digest == "" {
			ask = append(ask, cp(rel))
		}
	}
	sums := map[string]string{}
	var err error
	if len(ask) > 0 {
		if sums, err = tr.Digest(ctx, ask); err != nil {
			sums = map[string]string{}
		}
	}
	d.Settle(func(rel string) bool {
		want := ctr[rel].Digest
		if want == "" {
			want = sums[cp(rel)]
		}
		return want != "" && hostDigest(root, host(rel)) == want
	})
	return err
}

// hostDigest digests a host file read through root ("" when it cannot).
func hostDigest(root *os.Root, name string) string {
	f, err := pack.Open(root, name)
	if err != nil {
		return ""
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return ""
	}
	sum, err := manifest.DigestOf(f)
	if err != nil {
		return ""
	}
	return sum
}
