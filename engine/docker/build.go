package docker

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"

	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/client"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"devstack/engine"
	"devstack/engine/event"
	"devstack/engine/model"
)

// Build builds svc's image with the engine's classic builder (API 1.41
// engines offer BuildKit only through a session this client does not
// run), streaming the context as a tar that honours .dockerignore:
// gzipped for an engine on another machine, where the link is slower
// than compressing (source trees shrink 3-5×), plain for a local one.
// It returns the image ID.
func (r *Runtime) Build(ctx context.Context, p *model.Project, svc *model.Service, o engine.BuildOptions, sink event.Sink) (string, error) {
	b := svc.Build
	if b == nil {
		return "", fmt.Errorf("service %q has no build section", svc.Name)
	}
	if svc.Image == "" {
		return "", fmt.Errorf("service %q: no image name to tag the build with", svc.Name)
	}
	bc, err := newBuildContext(b)
	if err != nil {
		return "", fmt.Errorf("service %q: %w", svc.Name, err)
	}
	pr, pw := io.Pipe()
	go func() {
		if !r.Remote() {
			pw.CloseWithError(bc.write(pw))
			return
		}
		zw, _ := gzip.NewWriterLevel(pw, gzip.BestSpeed)
		err := bc.write(zw)
		if cerr := zw.Close(); err == nil {
			err = cerr
		}
		pw.CloseWithError(err)
	}()
	// Unblocks the writer whatever happens to the request.
	defer pr.CloseWithError(errors.New("build ended"))

	labels := map[string]string{}
	for k, v := range b.Labels {
		labels[k] = v
	}
	labels[model.LabelProject] = p.Name
	labels[model.LabelService] = svc.Name
	tags := append([]string{svc.Image}, b.Tags...)
	tags = append(tags, o.Tags...)
	opts := client.ImageBuildOptions{
		Tags:        tags,
		Dockerfile:  bc.dockerfile,
		BuildArgs:   b.Args,
		Target:      b.Target,
		NetworkMode: b.Network,
		Labels:      labels,
		ExtraHosts:  b.ExtraHosts,
		ShmSize:     b.ShmSize,
		NoCache:     o.NoCache || b.NoCache,
		PullParent:  o.Pull || b.Pull,
		Remove:      true,
		ForceRemove: true,
		Version:     build.BuilderV1,
	}
	auths, err := r.auths.get()
	if err != nil {
		return "", fmt.Errorf("unable to build service %q: registry credentials: %w", svc.Name, err)
	}
	opts.AuthConfigs = auths
	if parts := strings.Split(svc.Platform, "/"); len(parts) >= 2 {
		pl := ocispec.Platform{OS: parts[0], Architecture: parts[1]}
		if len(parts) > 2 {
			pl.Variant = parts[2]
		}
		opts.Platforms = []ocispec.Platform{pl}
	}
	res, err := r.api.ImageBuild(ctx, pr, opts)
	if err != nil {
		// The context writer's own error (an unreadable file) says more
		// than the broken request it caused.
		return "", fmt.Errorf("unable to build service %q: %w", svc.Name, r.engineError(err))
	}
	defer res.Body.Close()
	id, err := readBuildStream(res.Body, svc, sink)
	if err != nil && ctx.Err() != nil {
		return "", fmt.Errorf("build of service %q interrupted: %w", svc.Name, ctx.Err())
	}
	return id, err
}

var stepRe = regexp.MustCompile(`^Step \d+/\d+ : `)

// buildTail is how many lines of output a build error carries.
const buildTail = 10

// readBuildStream publishes the build's output line by line and returns
// the image ID, or an error naming the failing step with the last lines
// of output.
func readBuildStream(body io.Reader, svc *model.Service, sink event.Sink) (string, error) {
	dec := json.NewDecoder(body)
	var step, imageID string
	var tail []string
	for {
		var m jsonstream.Message
		if err := dec.Decode(&m); err == io.EOF {
			break
		} else if err != nil {
			return "", fmt.Errorf("unable to read the build output of service %q: %w", svc.Name, err)
		}
		if m.Error != nil {
			msg := strings.TrimSpace(m.Error.Message)
			if base, ok := baseImage(step); ok {
				// The builder pulls a missing base image: say so as pull does.
				if why := pullReason(base, errors.New(msg)); why != "" {
					msg = fmt.Sprintf("its base image %s is not here and could not be pulled: %s", base, why)
				}
			}
			return "", &BuildError{Service: svc.Name, Step: step, Message: msg, Tail: tail}
		}
		if m.Aux != nil {
			var aux struct{ ID string }
			if json.Unmarshal(*m.Aux, &aux) == nil && aux.ID != "" {
				imageID = aux.ID
			}
		}
		text := m.Stream
		if text == "" && m.Status != "" {
			if m.Progress != nil && m.Progress.Total > 0 {
				continue // a progress bar's tick: too many to show
			}
			text = m.Status
			if m.ID != "" {
				text = m.ID + ": " + text
			}
		}
		for _, line := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
			line = strings.TrimRight(line, "\r")
			if strings.TrimSpace(line) == "" {
				continue
			}
			if stepRe.MatchString(line) {
				step = line
			}
			if id, ok := strings.CutPrefix(line, "Successfully built "); ok && imageID == "" {
				imageID = id
			}
			tail = append(tail, line)
			if len(tail) > buildTail {
				tail = tail[1:]
			}
			sink.Publish(event.BuildStep{Time: time.Now(), Service: svc.Name, Image: svc.Image, Step: step, Line: line})
		}
	}
	if imageID == "" {
		return "", &BuildError{Service: svc.Name, Step: step, Message: "the engine ended the build without an image", Tail: tail}
	}
	return imageID, nil
}

// baseImage returns the image of a "Step N/M : FROM image [AS name]" step.
func baseImage(step string) (string, bool) {
	_, instr, ok := strings.Cut(step, " : ")
	f := strings.Fields(instr)
	if !ok || len(f) < 2 || !strings.EqualFold(f[0], "FROM") {
		return "", false
	}
	return f[1], true
}

// BuildError is a failed build: the step, the engine's message and the
// last lines of output before it.
type BuildError struct {
	Service string
	Step    string // "Step 2/5 : RUN make", "" if it failed before the first step
	Message string
	Tail    []string
}

func (e *BuildError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "build of service %q failed", e.Service)
	if e.Step != "" {
		fmt.Fprintf(&b, " at %q", e.Step)
	}
	fmt.Fprintf(&b, ": %s", e.Message)
	if len(e.Tail) > 0 {
		b.WriteString("\n  last output:\n")
		for _, l := range e.Tail {
			b.WriteString("    " + l + "\n")
		}
	}
	return strings.TrimRight(b.String(), "\n")
}
