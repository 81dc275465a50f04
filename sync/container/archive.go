package container

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"strings"
	"sync"

	"devstack/sync/manifest"
)

// Archive applies batches through the engine's archive API (PUT archive)
// and one exec of rm per deletion list. It needs no tool in the image
// for writing; deleting needs rm.
type Archive struct {
	API API
	ID  string

	noShell bool // sh could not run: symlinks go unchecked (one caller at a time)
}

// Kind names the transport.
func (a *Archive) Kind() string { return "archive" }

// Close does nothing: there is nothing held open.
func (a *Archive) Close() {}

// maxArgs bounds the bytes of paths given to one rm, far below ARG_MAX.
const maxArgs = 96 * 1024

// Apply deletes, then streams each part straight from the host files
// into the engine (never a whole batch in memory), parts at once. It
// ignores b.Compress: the stream always goes uncompressed, because an
// engine before 29.5.1 unpacks a compressed one with a decompressor found
// inside the container, as root on the engine's host (CVE-2026-41567).
//
// Symlinks are checked first, in the exec that deletes (one more exec
// when there is nothing to delete): the engine extracts as root, and
// would follow a link where a directory was.
func (a *Archive) Apply(ctx context.Context, b Batch) error {
	if err := a.guardAndRemove(ctx, guardDirs(b.Dirs, nil), b.Delete); err != nil {
		return err
	}
	errs := make([]error, len(b.Parts))
	var wg sync.WaitGroup
	for i, part := range b.Parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = a.copy(ctx, part)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (a *Archive) copy(ctx context.Context, write func(io.Writer) error) error {
	pr, pw := io.Pipe()
	werr := make(chan error, 1)
	go func() {
		err := write(pw)
		pw.CloseWithError(err)
		werr <- err
	}()
	err := a.API.CopyTo(ctx, a.ID, "/", pr)
	pr.CloseWithError(errors.New("copy ended"))
	if e := <-werr; e != nil && err == nil {
		err = e
	}
	if err != nil {
		return fmt.Errorf("unable to copy files into the container: %w", noSpace(err))
	}
	return nil
}

// guardScript refuses (exit 4) when one of its arguments before "--" is
// a symlink, then removes the arguments after it.
const guardScript = `s=0; while [ $# -gt 0 ] && [ "$1" != -- ]; do if [ -L "$1" ]; then echo "symlink $1"; s=4; fi; shift; done
[ $s = 0 ] || exit 4; shift; [ $# = 0 ] || exec rm -rf -- "$@"`

// guardAndRemove checks that no directory of guard, nor any above the
// deleted paths, is a symlink, then deletes; a few execs of sh at most
// (one in the common case), each within maxArgs. Without a shell in the
// container nothing can be checked; deleting then fails.
func (a *Archive) guardAndRemove(ctx context.Context, guard, deletes []string) error {
	if len(deletes) == 0 && (len(guard) == 0 || a.noShell) {
		return nil
	}
	chunks := [][2][]string{{guard, deletes}}
	if argSize(guard)+argSize(deletes)+argSize(guardDirs(nil, deletes)) > maxArgs {
		chunks = nil
		for _, g := range cut(guard) {
			chunks = append(chunks, [2][]string{g, nil})
		}
		for _, d := range cut(deletes) {
			chunks = append(chunks, [2][]string{nil, d})
		}
	}
	for _, c := range chunks {
		g := append(c[0][:len(c[0]):len(c[0])], guardDirs(nil, c[1])...)
		cmd := append(append(append([]string{"sh", "-c", guardScript, "sh"}, g...), "--"), c[1]...)
		var out bytes.Buffer
		code, err := a.API.Exec(ctx, a.ID, ExecSpec{Cmd: cmd, User: rootUser, Stdout: &out, Stderr: &out})
		switch {
		case err == nil && code == 4:
			return symlinkError(strings.Split(strings.TrimSpace(out.String()), "\n"))
		case len(c[1]) == 0 && (err != nil && ctx.Err() == nil || code == 126 || code == 127):
			// No shell to check with: the engine's own extraction
			// replaces a link where the stream has a directory entry.
			a.noShell = true
			continue
		case err != nil:
			return fmt.Errorf("unable to delete files in the container: %w", err)
		case code != 0:
			return fmt.Errorf("unable to delete files in the container: exit %d: %s", code, strings.TrimSpace(out.String()))
		}
	}
	return nil
}

// argSize is the bytes paths take on a command line.
func argSize(paths []string) int {
	n := 0
	for _, p := range paths {
		n += len(p) + 1
	}
	return n
}

// cut splits paths into lists of at most maxArgs/2 bytes (the other half
// leaves room for the directories above them).
func cut(paths []string) [][]string {
	var out [][]string
	for len(paths) > 0 {
		n, size := 0, 0
		for n < len(paths) && (n == 0 || size+len(paths[n]) < maxArgs/2) {
			size += len(paths[n]) + 1
			n++
		}
		out = append(out, paths[:n])
		paths = paths[n:]
	}
	return out
}

// Digest runs md5sum in the container; without it (no shell, no
// md5sum) it reads each file through the archive API. A file it cannot
// read is left out.
func (a *Archive) Digest(ctx context.Context, paths []string) (map[string]string, error) {
	sums := map[string]string{}
	for rest := paths; len(rest) > 0; {
		n, size := 0, 0
		for n < len(rest) && (n == 0 || size+len(rest[n]) < maxArgs) {
			size += len(rest[n]) + 1
			n++
		}
		var out bytes.Buffer
		code, err := a.API.Exec(ctx, a.ID, ExecSpec{Cmd: append([]string{"md5sum"}, rest[:n]...), User: rootUser, Stdout: &out, Stderr: io.Discard})
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if err != nil || code == 126 || code == 127 {
			break // no md5sum: read them below
		}
		maps.Copy(sums, parseSums(strings.Split(out.String(), "\n")))
		rest = rest[n:]
	}
	for _, p := range paths {
		if _, ok := sums[p]; ok {
			continue
		}
		if sum, err := a.readDigest(ctx, p); err == nil {
			sums[p] = sum
		} else if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	return sums, nil
}

// readDigest digests one file read through the archive API.
func (a *Archive) readDigest(ctx context.Context, p string) (string, error) {
	rc, err := a.API.CopyFrom(ctx, a.ID, p)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	h, err := tr.Next()
	if err != nil {
		return "", err
	}
	if h.Typeflag != tar.TypeReg {
		return "", fmt.Errorf("%s is not a regular file", p)
	}
	return manifest.DigestOf(tr)
}

// parseSums reads md5sum's "<hex>  <path>" lines. A name md5sum had to
// escape (a backslash or newline in it) is left out.
func parseSums(lines []string) map[string]string {
	sums := map[string]string{}
	for _, l := range lines {
		sum, p, ok := strings.Cut(l, "  ")
		if !ok || len(sum) != 32 || strings.HasPrefix(sum, "\\") || !strings.HasPrefix(p, "/") {
			continue
		}
		sums[p] = sum
	}
	return sums
}

// List runs find and stat in the container; without them (no shell) it
// reads the tar of dir from the archive API, headers only.
func (a *Archive) List(ctx context.Context, dir string) (manifest.Manifest, error) {
	var out, errOut bytes.Buffer
	code, err := a.API.Exec(ctx, a.ID, ExecSpec{Cmd: manifest.ListCommand(dir), User: rootUser, Stdout: &out, Stderr: &errOut})
	if err == nil && code == 0 {
		return manifest.ParseListing(&out, dir)
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	rc, cerr := a.API.CopyFrom(ctx, a.ID, dir)
	if cerr != nil {
		if notFound(cerr) {
			return manifest.Manifest{}, nil
		}
		return nil, fmt.Errorf("unable to list %s in the container (exec: %v, archive: %w)", dir, firstErr(err, code, errOut.String()), cerr)
	}
	defer rc.Close()
	return manifest.ParseTar(rc, dir)
}

func firstErr(err error, code int, stderr string) error {
	if err != nil {
		return err
	}
	return fmt.Errorf("exit %d: %s", code, strings.TrimSpace(stderr))
}

// notFound recognises the engine's answer for a missing path.
func notFound(err error) bool {
	if errors.Is(err, fs.ErrNotExist) {
		return true
	}
	msg := strings.ToLower(err.Error())
	return strings.Contains(msg, "could not find the file") || strings.Contains(msg, "no such container:path")
}
