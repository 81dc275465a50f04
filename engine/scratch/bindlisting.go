package scratch

import (
	"archive/tar"
	"context"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"devstack/engine"
	"devstack/engine/model"
)

// maxListed bounds how many files of a host directory are compared: the
// evidence needs a few names, not a full inventory of node_modules.
const maxListed = 5000

// bindGap is what a dropped bind mount hid: files in the host directory
// that the image lacks at the mount's target.
type bindGap struct {
	Mount   model.Mount
	Missing []string // relative paths, sorted
	Listed  int      // host files compared
	Err     string   // why the comparison could not be made
}

// imageLacks compares the host side of a bind mount with what the image
// holds at its target, read from a container of the scratch stack (which
// runs without the mount). A host path that is not on this machine (a
// remote engine's) cannot be compared.
func imageLacks(ctx context.Context, rt engine.Runtime, containerID string, m model.Mount) bindGap {
	gap := bindGap{Mount: m}
	host, err := listHost(m.Source)
	if err != nil {
		gap.Err = "unable to list " + m.Source + ": " + err.Error()
		return gap
	}
	gap.Listed = len(host)
	inImage := map[string]bool{}
	if rc, err := rt.CopyFrom(ctx, containerID, m.Target); err == nil {
		inImage = listTar(rc, path.Base(m.Target))
		rc.Close()
	} // else: the target does not exist in the image at all
	for _, f := range host {
		if !inImage[f] {
			gap.Missing = append(gap.Missing, f)
		}
	}
	return gap
}

// listHost lists the regular files and links under root (or root itself
// when it is a file, as "."), relative and slash-separated.
func listHost(root string) ([]string, error) {
	st, err := os.Stat(root)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return []string{"."}, nil
	}
	var out []string
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // unreadable parts are left out of the evidence
		}
		if len(out) >= maxListed {
			return fs.SkipAll
		}
		if d.IsDir() {
			if d.Name() == ".git" {
				return fs.SkipDir
			}
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		out = append(out, filepath.ToSlash(rel))
		return nil
	})
	sort.Strings(out)
	return out, err
}

// listTar returns the names in an archive of a path whose base name is
// base, relative to that path ("." for the path itself when it is a file).
func listTar(r io.Reader, base string) map[string]bool {
	out := map[string]bool{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err != nil {
			return out
		}
		name := strings.TrimSuffix(strings.TrimPrefix(h.Name, "./"), "/")
		rest, ok := strings.CutPrefix(name, base)
		switch {
		case !ok:
			continue
		case rest == "":
			out["."] = true
		case rest[0] == '/':
			out[rest[1:]] = true
		}
	}
}
