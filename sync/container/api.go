// Package container is live sync's side of one container: it applies
// batches (a tar stream of changed files, a list of deletions), lists a
// directory for the initial sync and resolves the container's user. Two
// transports do it: a long-lived exec whose stdin carries every batch into
// the container's own tar (fast: no engine call per batch), and the
// engine's archive API with one exec per deletion list (works in any
// image, even without a shell).
package container

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"

	"devstack/sync/manifest"
)

// ExecSpec describes one command run in a container.
type ExecSpec struct {
	Cmd     []string
	User    string // "" for the container's user
	WorkDir string
	Env     []string // NAME=value
	Stdin   io.Reader
	Stdout  io.Writer
	Stderr  io.Writer
}

// API is what this package needs from the engine: three calls that exist
// on every Docker engine, local or remote.
type API interface {
	// CopyTo extracts an uncompressed tar stream into dir in container id.
	CopyTo(ctx context.Context, id, dir string, tar io.Reader) error
	// CopyFrom returns a tar stream of path in container id.
	CopyFrom(ctx context.Context, id, path string) (io.ReadCloser, error)
	// Exec runs a command in container id and returns its exit code once
	// its output ends; stdin is streamed while it runs.
	Exec(ctx context.Context, id string, x ExecSpec) (int, error)
}

// Batch is one change to apply to a container.
type Batch struct {
	// Delete lists absolute container paths to remove (rm -rf), before
	// anything is written.
	Delete []string
	// Parts write the tar streams to extract at "/" (names relative to
	// the container's root). Parts are independent: a transport may
	// extract them at once, which is what makes a big batch fast where
	// creating a file is slow (FUSE-backed storage drivers).
	Parts []func(w io.Writer) error
	// Dirs are the container directories the parts write into or
	// create. None of them, nor any directory above them, may be a
	// symlink in the container: a transport refuses such a batch with a
	// *manifest.SymlinkError before writing anything. Deletions are
	// guarded the same way (the directories above each deleted path).
	Dirs []string
	// RootOwned says every entry of Parts belongs to root (0:0), so a
	// transport extracting as root need not set owners one by one.
	RootOwned bool
	// Compress asks for the parts to travel gzipped, where the transport
	// can: the engine is on another machine, behind a slower link. Only
	// the exec transport does, unpacking with the container's own gzip;
	// the archive API never gets a compressed stream (see Archive.Apply).
	Compress bool
}

// gzipped wraps a part so that it writes its tar stream gzipped, at the
// fastest level: the point is fewer bytes on the link, not the last one.
func gzipped(part func(io.Writer) error) func(io.Writer) error {
	return func(w io.Writer) error {
		zw, _ := gzip.NewWriterLevel(w, gzip.BestSpeed)
		err := part(zw)
		if cerr := zw.Close(); err == nil {
			err = cerr
		}
		return err
	}
}

// Transport applies batches to one container.
type Transport interface {
	// Apply applies a batch; when it returns nil the changes are visible
	// in the container.
	Apply(ctx context.Context, b Batch) error
	// List lists dir in the container (nothing when it does not exist).
	List(ctx context.Context, dir string) (manifest.Manifest, error)
	// Digest returns the content digests (manifest.DigestOf) of files,
	// by absolute container path; a file it cannot read is left out.
	Digest(ctx context.Context, paths []string) (map[string]string, error)
	// Kind names the transport ("exec" or "archive").
	Kind() string
	// Close releases the transport.
	Close()
}

// guardDirs returns the directories a batch must not find symlinked:
// each of dirs and every directory above it, and every directory above
// each deleted path (rm removes a link itself, never what it points to).
// "/" is left out: it is no link.
func guardDirs(dirs, deletes []string) []string {
	seen := map[string]bool{}
	var out []string
	add := func(d string) {
		for ; d != "/" && d != "." && d != "" && !seen[d]; d = path.Dir(d) {
			seen[d] = true
			out = append(out, d)
		}
	}
	for _, d := range dirs {
		add(path.Clean(d))
	}
	for _, p := range deletes {
		add(path.Dir(path.Clean(p)))
	}
	sort.Strings(out)
	return out
}

// symlinkError reads the agent's "symlink <path>" lines.
func symlinkError(lines []string) error {
	e := &manifest.SymlinkError{}
	for _, l := range lines {
		if p, ok := strings.CutPrefix(l, "symlink "); ok {
			e.Paths = append(e.Paths, p)
		}
	}
	return e
}

// ErrNoSpace means the container's filesystem is full: a batch stopped
// part-way. What it wrote is not recorded as synced, so it is sent again
// (whole) once there is room.
var ErrNoSpace = errors.New("the container's disk is full (no space left on device): free space in the container; sync sends the files again until they fit")

// noSpace recognises a full filesystem in a failed write.
func noSpace(err error) error {
	if err != nil && strings.Contains(strings.ToLower(err.Error()), "no space left on device") {
		return fmt.Errorf("%w: %v", ErrNoSpace, err)
	}
	return err
}

// rootUser runs sync's own commands: tar must be able to write anywhere
// below the target and to give files their owner.
const rootUser = "0:0"
