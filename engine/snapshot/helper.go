package snapshot

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"devstack/engine"
	"devstack/engine/model"
	"devstack/engine/state"
)

// Volumes are streamed by tar run as an exec in a helper container made
// from one of the project's own images, the stream being the exec's
// standard input or output. Measured here (256 MiB, one file, load 29):
// the exec stream 2.8 s, the engine's archive endpoint 1.7 s, a
// container's attach stream 26 s (the engine's log copier) — and
// devstack's reading of the archive endpoint paced by it, 0.14–0.31× tar
// in all. Images without a shell and tar fall back to the archive
// endpoint.

// saveTools and restoreTools are what the helper's shell must find (a
// restore's helper without tar stages through the archive endpoint).
var (
	saveTools    = []string{"tar"}
	restoreTools = []string{"tar", "find", "mv", "rm", "rmdir", "mkdir", "chown", "chmod"}
)

// probeScript checks the tools, and that the helper sees the file $1
// (none: "") through the bind mount of the snapshot's directory.
const probeScript = `[ -z "$1" ] || [ -e "$1" ] || { echo "no $1"; exit 96; }; shift
for t in "$@"; do command -v "$t" >/dev/null || { echo "no $t"; exit 97; }; done`

// imageCandidates lists the project's local images, those of the
// services mounting the volumes first: what a helper is made from.
func imageCandidates(p *model.Project, obs model.Observed, vols []volumeRef) []string {
	var candidates []string
	seen := map[string]bool{}
	add := func(image string) {
		if image != "" && !seen[image] && obs.Images[image] != "" {
			seen[image] = true
			candidates = append(candidates, image)
		}
	}
	for _, v := range vols {
		for _, s := range v.services {
			if svc, ok := p.Service(s); ok {
				add(svc.Image)
			}
		}
	}
	for _, s := range p.Services {
		add(s.Image)
	}
	return candidates
}

// startStreamer starts a helper container with the mounts from the first
// of the candidate images whose shell finds every tool. It returns the
// running container and its image, or "" for both when no image has them
// all. The helper runs the engine's init as its first process and is
// removed by the engine when it ends: a restore's helper can be handed
// the removal of a volume's old entries and end by itself (handOff).
func startStreamer(ctx context.Context, rt Runtime, p *model.Project, candidates []string, mounts []model.Mount, tools []string, mustSee string) (string, string, error) {
	yes := true
	for _, image := range candidates {
		// sleep's end bounds a helper that a killed devstack leaves behind.
		helper := &model.Service{Name: helperService, Image: image, NetworkMode: "none", User: "0:0",
			Entrypoint: []string{"sleep", "86400"}, Volumes: mounts, Init: &yes}
		id, err := createHelper(ctx, rt, p, helper, false, true)
		if err != nil {
			return "", "", err
		}
		if err := rt.StartContainer(ctx, id); err == nil {
			code, err := rt.Exec(ctx, id, engine.ExecOptions{Cmd: append([]string{"sh", "-c", probeScript, "probe", mustSee}, tools...), User: "0:0"})
			if err == nil && code == 0 {
				return id, image, nil
			}
		}
		_ = rt.RemoveContainer(context.WithoutCancel(ctx), id, false)
		if ctx.Err() != nil {
			return "", "", ctx.Err()
		}
	}
	return "", "", nil
}

// The local fast path: an engine on this machine sees the snapshot's
// directory, bind-mounted into the helper at /snap, and tar reads or
// writes the snapshot file there itself; devstack hashes the file as it
// grows (save) or beside the extraction (restore). No byte passes through
// the engine's stream copier, which is what costs most here. A remote
// engine, or one in a VM that does not share the directory, is found out
// by a file the helper cannot see, and streams instead.

// sharedDir is where the helper sees the snapshot's directory.
const sharedDir = "/snap"

// startShared starts the streamer with dir bind-mounted at /snap when the
// engine is local and sees it, else without (shared false).
func startShared(ctx context.Context, rt Runtime, p *model.Project, candidates []string, mounts []model.Mount, tools []string, dir string, restore bool) (id, image string, shared bool, err error) {
	if r, ok := rt.(interface{ Remote() bool }); ok && !r.Remote() {
		nonce := ".probe-" + randomID()
		if err := state.WriteFile(filepath.Join(dir, nonce), nil); err == nil {
			withDir := append(slices.Clone(mounts), model.Mount{Type: model.MountBind, Source: dir, Target: sharedDir, ReadOnly: restore})
			id, image, err = startStreamer(ctx, rt, p, candidates, withDir, tools, sharedDir+"/"+nonce)
			_ = os.Remove(filepath.Join(dir, nonce))
			if err != nil || id != "" {
				return id, image, id != "", err
			}
		}
	}
	id, image, err = startStreamer(ctx, rt, p, candidates, mounts, tools, "")
	return id, image, false, err
}

// follower reads a file another process is writing until done says the
// writer finished (then to the file's end).
type follower struct {
	f        *os.File
	done     <-chan error
	finished bool
	// ended says done was received, endErr what it said.
	ended  bool
	endErr error
	// read and flushed: what was read, and where the writeback asked of
	// the kernel has reached (every 16 MiB read).
	read, flushed int64
}

func (r *follower) Read(p []byte) (int, error) {
	for {
		n, err := r.f.Read(p)
		if n > 0 {
			r.read += int64(n)
			if r.read-r.flushed >= 16<<20 {
				startWriteback(r.f, r.flushed, r.read-r.flushed)
				r.flushed = r.read
			}
			return n, nil
		}
		if err != nil && err != io.EOF {
			return 0, err
		}
		if r.finished {
			return 0, io.EOF
		}
		select {
		case err := <-r.done:
			r.ended, r.endErr = true, err
			if err != nil {
				return 0, err
			}
			r.finished = true // one more read takes what was written last
		case <-time.After(5 * time.Millisecond): // the writer's next bytes
		}
	}
}

// tarOut streams dir in the streamer as tar (names "./…") into w.
func tarOut(ctx context.Context, rt Runtime, streamer, dir string, w io.Writer) error {
	return execTar(ctx, rt, streamer, engine.ExecOptions{Cmd: []string{"tar", "-cf", "-", "-C", dir, "."}, Stdout: w})
}

// tarIn extracts the tar stream r into dir, owners kept by number.
func tarIn(ctx context.Context, rt Runtime, streamer, dir string, r io.Reader) error {
	return execTar(ctx, rt, streamer, engine.ExecOptions{Cmd: []string{"tar", "-xf", "-", "--numeric-owner", "-C", dir}, Stdin: r})
}

func execTar(ctx context.Context, rt Runtime, streamer string, o engine.ExecOptions) error {
	stderr := &limitedBuffer{max: 4 << 10}
	o.User, o.Stderr = "0:0", stderr
	code, err := rt.Exec(ctx, streamer, o)
	if err != nil {
		return err
	}
	if code != 0 {
		return &tarExit{code: code, stderr: strings.TrimSpace(stderr.String())}
	}
	return nil
}

// tarExit is tar (or its script) in the helper ending with a failure.
type tarExit struct {
	code   int
	stderr string
}

func (e *tarExit) Error() string {
	return fmt.Sprintf("tar in the helper container exited %d: %s", e.code, e.stderr)
}

// limitedBuffer keeps the first max bytes written to it.
type limitedBuffer struct {
	bytes.Buffer
	max int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.Len(); room > 0 {
		b.Buffer.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}
