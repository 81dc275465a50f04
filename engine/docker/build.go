package docker

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/client"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"devstack/engine"
	"devstack/engine/event"
	"devstack/engine/model"
)

// Build builds svc's image and returns its ID. It builds with the
// engine's BuildKit (API version 2 with a session, see buildkit.go)
// unless the engine has none or DOCKER_BUILDKIT=0 asks for the legacy
// builder, which is then said once.
func (r *Runtime) Build(ctx context.Context, p *model.Project, svc *model.Service, o engine.BuildOptions, sink event.Sink) (string, error) {
	b := svc.Build
	if b == nil {
		return "", fmt.Errorf("service %q has no build section", svc.Name)
	}
	if svc.Image == "" {
		return "", fmt.Errorf("service %q: no image name to tag the build with", svc.Name)
	}
	kit, why := r.builder(ctx)
	if !kit {
		r.legacyOnce.Do(func() {
			sink.Publish(event.Warning{Time: time.Now(), Message: "builds use the engine's legacy builder: " + why +
				"; RUN --mount, build secrets and build.ssh need BuildKit"})
		})
		if field := buildKitOnly(b); field != "" {
			return "", fmt.Errorf("service %q: %s needs BuildKit, and builds use the legacy builder (%s): unset DOCKER_BUILDKIT or remove %s", svc.Name, field, why, field)
		}
		return r.buildLegacy(ctx, p, svc, o, sink)
	}
	return r.buildKit(ctx, p, svc, o, sink)
}

// builder tells whether builds go through BuildKit, and if not why.
// Decided once per Runtime: the engine and the environment do not change
// under a running devstack.
func (r *Runtime) builder(ctx context.Context) (bool, string) {
	r.builderOnce.Do(func() {
		if v, ok := os.LookupEnv("DOCKER_BUILDKIT"); ok {
			if on, err := strconv.ParseBool(v); err == nil && !on {
				r.legacyWhy = "DOCKER_BUILDKIT=" + v + " is set"
				return
			}
		}
		ping, err := r.api.Ping(ctx, client.PingOptions{})
		if err != nil {
			r.kit = true // the build itself will say what is wrong
			return
		}
		// BuildKit answers through the API (with a session) from API 1.39
		// on Linux engines; Windows engines have none.
		switch {
		case ping.OSType != "" && ping.OSType != "linux":
			r.legacyWhy = "the engine (" + ping.OSType + ") has no BuildKit"
		case apiBelow(ping.APIVersion, 1, 39):
			r.legacyWhy = "the engine's API " + ping.APIVersion + " predates BuildKit builds (1.39)"
		default:
			r.kit = true
		}
	})
	return r.kit, r.legacyWhy
}

func apiBelow(v string, major, minor int) bool {
	a, b, ok := strings.Cut(v, ".")
	if !ok {
		return false
	}
	ma, err1 := strconv.Atoi(a)
	mi, err2 := strconv.Atoi(b)
	if err1 != nil || err2 != nil {
		return false
	}
	return ma < major || (ma == major && mi < minor)
}

// buildKitOnly names the first build field only BuildKit honours, or "".
func buildKitOnly(b *model.Build) string {
	switch {
	case len(b.Secrets) > 0:
		return "build.secrets"
	case len(b.SSH) > 0:
		return "build.ssh"
	case len(b.AdditionalContexts) > 0:
		return "build.additional_contexts"
	case len(b.CacheTo) > 0:
		return "build.cache_to"
	case len(b.NoCacheFilter) > 0:
		return "build.no_cache_filter"
	case b.Privileged:
		return "build.privileged"
	case len(b.Entitlements) > 0:
		return "build.entitlements"
	}
	return ""
}

// buildLabels are the image's labels: the build's own and the project's.
func buildLabels(p *model.Project, svc *model.Service) map[string]string {
	labels := map[string]string{}
	for k, v := range svc.Build.Labels {
		labels[k] = v
	}
	labels[model.LabelProject] = p.Name
	labels[model.LabelService] = svc.Name
	return labels
}

// buildLegacy builds with the engine's classic builder, streaming the
// context as a tar that honours .dockerignore: gzipped for an engine on
// another machine, where the link is slower than compressing (source
// trees shrink 3-5×), plain for a local one.
func (r *Runtime) buildLegacy(ctx context.Context, p *model.Project, svc *model.Service, o engine.BuildOptions, sink event.Sink) (string, error) {
	b := svc.Build
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

	tags := append([]string{svc.Image}, b.Tags...)
	tags = append(tags, o.Tags...)
	opts := client.ImageBuildOptions{
		Tags:        tags,
		Dockerfile:  bc.dockerfile,
		BuildArgs:   b.Args,
		Target:      b.Target,
		NetworkMode: b.Network,
		Labels:      buildLabels(p, svc),
		ExtraHosts:  b.ExtraHosts,
		ShmSize:     b.ShmSize,
		NoCache:     o.NoCache || b.NoCache,
		PullParent:  o.Pull || b.Pull,
		Remove:      true,
		ForceRemove: true,
		Version:     build.BuilderV1,
		Ulimits:     buildUlimits(b),
	}
	auths, err := r.auths.get()
	if err != nil {
		return "", fmt.Errorf("unable to build service %q: registry credentials: %w", svc.Name, err)
	}
	opts.AuthConfigs = auths
	if pl, ok := platformOf(svc.Platform); ok {
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

// platformOf parses "os/arch[/variant]".
func platformOf(s string) (ocispec.Platform, bool) {
	parts := strings.Split(s, "/")
	if len(parts) < 2 {
		return ocispec.Platform{}, false
	}
	pl := ocispec.Platform{OS: parts[0], Architecture: parts[1]}
	if len(parts) > 2 {
		pl.Variant = parts[2]
	}
	return pl, true
}

func buildUlimits(b *model.Build) []*container.Ulimit {
	var out []*container.Ulimit
	for name, u := range b.Ulimits {
		out = append(out, &container.Ulimit{Name: name, Soft: u.Soft, Hard: u.Hard})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
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
	Step    string // "Step 2/5 : RUN make" or "[2/5] RUN make"; "" if it failed before the first step
	// Where the step comes from, when known (BuildKit builds).
	Dockerfile string // as the user names it
	Line       int
	Command    string // the instruction as written, e.g. "RUN make"
	Message    string
	Tail       []string
}

func (e *BuildError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "build of service %q failed", e.Service)
	switch {
	case e.Line > 0:
		fmt.Fprintf(&b, " at %s:%d (%s)", e.Dockerfile, e.Line, e.Command)
	case e.Step != "":
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
