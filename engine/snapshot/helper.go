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

// Volumes are streamed by tar running in a short-lived helper container
// made from one of the project's own images: its output (or input) is the
// container's attach stream, so the engine's archive endpoint, which
// walks the tree in Go and pauses on every file (measured 0.31× tar for
// small files, 0.14× for a large one), is out of the way. Images without
// a shell and tar fall back to the archive endpoint.

// saveTools and swapTools are what the helper's shell must find.
var (
	saveTools = []string{"tar"}
	swapTools = []string{"tar", "find", "rm", "cp", "chown", "chmod"}
)

const probeScript = `for t in "$@"; do command -v "$t" >/dev/null || { echo "no $t"; exit 97; }; done`

// toolImage returns the first of the project's local images (those of
// the services mounting the volumes first) whose shell finds every tool,
// or "" when none does. Each image tried costs one short-lived container.
func toolImage(ctx context.Context, rt Runtime, p *model.Project, obs model.Observed, vols []volumeRef, tools []string) (string, error) {
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
		helper := &model.Service{Name: helperService, Image: image, NetworkMode: "none", User: "0:0",
			Entrypoint: append([]string{"sh", "-c", probeScript, "probe"}, tools...)}
		code, _, err := runHelper(ctx, rt, p, helper, nil, io.Discard)
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		if err == nil && code == 0 {
			return image, nil
		}
	}
	return "", nil
}

// runHelper creates the helper container, runs it to its end with its
// standard streams attached, and removes it. stderr comes back for the
// error message.
func runHelper(ctx context.Context, rt Runtime, p *model.Project, helper *model.Service, stdin io.Reader, stdout io.Writer) (int, string, error) {
	id, err := createHelper(ctx, rt, p, helper, stdin != nil)
	if err != nil {
		return -1, "", err
	}
	defer func() { _ = rt.RemoveContainer(context.WithoutCancel(ctx), id, false) }()
	stderr := &limitedBuffer{max: 4 << 10}
	code, err := rt.AttachStart(ctx, id, engine.ExecOptions{Stdin: stdin, Stdout: stdout, Stderr: stderr})
	return code, strings.TrimSpace(stderr.String()), err
}

// tarOut streams the volume's content as tar (names "./…") into w.
func tarOut(ctx context.Context, rt Runtime, p *model.Project, image, volume string, w io.Writer) error {
	helper := &model.Service{Name: helperService, Image: image, NetworkMode: "none", User: "0:0",
		Entrypoint: []string{"tar", "-cf", "-", "-C", "/v", "."},
		Volumes:    []model.Mount{{Type: model.MountVolume, Source: volume, Target: "/v", ReadOnly: true, NoCopy: true}}}
	code, stderr, err := runHelper(ctx, rt, p, helper, nil, w)
	if err != nil {
		return err
	}
	if code != 0 {
		return fmt.Errorf("tar in the helper container exited %d: %s", code, stderr)
	}
	return nil
}

// tarIn extracts the tar stream r into the volume, owners kept by number.
func tarIn(ctx context.Context, rt Runtime, p *model.Project, image, volume string, r io.Reader) error {
	helper := &model.Service{Name: helperService, Image: image, NetworkMode: "none", User: "0:0",
		Entrypoint: []string{"tar", "-xf", "-", "--numeric-owner", "-C", "/s"},
		Volumes:    []model.Mount{{Type: model.MountVolume, Source: volume, Target: "/s", NoCopy: true}}}
	code, stderr, err := runHelper(ctx, rt, p, helper, r, io.Discard)
	if err != nil {
		return err
	}
	if code != 0 {
		return fmt.Errorf("tar in the helper container exited %d: %s", code, stderr)
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
