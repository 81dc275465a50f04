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
func (a *Archive) Apply(ctx context.Context, b Batch) error {
	if err := a.remove(ctx, b.Delete); err != nil {
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
		return fmt.Errorf("unable to copy files into the container: %w", err)
	}
	return nil
}

func (a *Archive) remove(ctx context.Context, paths []string) error {
	for len(paths) > 0 {
		n, size := 0, 0
		for n < len(paths) && (n == 0 || size+len(paths[n]) < maxArgs) {
			size += len(paths[n]) + 1
			n++
		}
		var out bytes.Buffer
		cmd := append([]string{"rm", "-rf", "--"}, paths[:n]...)
		code, err := a.API.Exec(ctx, a.ID, ExecSpec{Cmd: cmd, User: rootUser, Stdout: &out, Stderr: &out})
		if err != nil {
			return fmt.Errorf("unable to delete files in the container: %w", err)
		}
		if code != 0 {
			return fmt.Errorf("unable to delete files in the container: rm exited with %d: %s", code, strings.TrimSpace(out.String()))
		}
		paths = paths[n:]
	}
	return nil
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
