package snapshot

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"

	"devstack/engine"
	"devstack/engine/model"
)

// Volumes are streamed by tar run as an exec in a helper container made
// from one of the project's own images, the stream being the exec's
// standard input or output. Measured here (256 MiB, one file, load 29):
// the exec stream 2.8 s, the engine's archive endpoint 1.7 s, a
// container's attach stream 26 s (the engine's log copier) — and
// devstack's reading of the archive endpoint paced by it, 0.14–0.31× tar
// in all. Images without a shell and tar fall back to the archive
// endpoint.

// saveTools and swapTools are what the helper's shell must find.
var (
	saveTools = []string{"tar"}
	swapTools = []string{"tar", "find", "rm", "cp", "chown", "chmod"}
)

const probeScript = `for t in "$@"; do command -v "$t" >/dev/null || { echo "no $t"; exit 97; }; done`

// startStreamer starts a helper container with the mounts from the first
// of the project's local images (those of the services mounting the
// volumes first) whose shell finds every tool. It returns the running
// container and its image, or "" for both when no image has them all.
func startStreamer(ctx context.Context, rt Runtime, p *model.Project, obs model.Observed, vols []volumeRef, mounts []model.Mount, tools []string) (string, string, error) {
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
	for _, image := range candidates {
		// sleep's end bounds a helper that a killed devstack leaves behind.
		helper := &model.Service{Name: helperService, Image: image, NetworkMode: "none", User: "0:0",
			Entrypoint: []string{"sleep", "86400"}, Volumes: mounts}
		id, err := createHelper(ctx, rt, p, helper, false)
		if err != nil {
			return "", "", err
		}
		if err := rt.StartContainer(ctx, id); err == nil {
			code, err := rt.Exec(ctx, id, engine.ExecOptions{Cmd: append([]string{"sh", "-c", probeScript, "probe"}, tools...), User: "0:0"})
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
		return fmt.Errorf("tar in the helper container exited %d: %s", code, strings.TrimSpace(stderr.String()))
	}
	return nil
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
