package docker

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"devstack/engine"
	"devstack/engine/docker/buildinputs"
	"devstack/engine/docker/buildkit"
	"devstack/engine/event"
	"devstack/engine/model"
	"devstack/engine/state"
)

// A build whose inputs have not changed since its image was built is not
// sent to the builder at all: the builder would only walk the context
// again over the session and answer every step from its cache, which
// costs a second or more for what devstack can tell in milliseconds.
//
// The inputs are everything the builder's own cache keys depend on: the
// build section (Key), the project, service and image names (they are
// labels and tags of the image), the Dockerfile, the context's files
// after .dockerignore (paths, modes, link targets and contents; not
// mtimes, which BuildKit leaves out too), the additional contexts, the
// IDs of the local images the Dockerfile and the contexts name, the
// engine, and devstack's own version. Their digest is recorded beside
// the image ID it built, in devstack's state directory (not as a label:
// a label would give the image a new ID whenever any file of the context
// changed, even one no step reads, and every container would then be
// recreated). A build is skipped only when the image tags still point at
// that very image: an image rebuilt or retagged by anyone else is built.
//
// Never skipped: --no-cache and no_cache_filter, --pull and pull: true
// (a base image may have moved in its registry), a `# syntax=` line (the
// frontend image may have), a git or URL context, an ADD of a URL or a
// git repository, a base image that is not here (it would be pulled), an
// image name with a variable devstack cannot resolve, a Dockerfile-specific
// .dockerignore (older frontends ignore it), and any input that cannot be
// read.

// buildInputsVersion changes when what goes into the digest does.
const buildInputsVersion = "devstack build inputs 1"

// inputs is one build's digest, or why the build cannot be skipped.
type inputs struct {
	digest string
	why    string            // when not "", the build must run: why
	stats  buildinputs.Stats // what hashing the contexts read
	record string            // the state file recording digest -> image
}

// buildRecord is what the state file holds.
type buildRecord struct {
	Digest string `json:"digest"`
	Image  string `json:"image"` // the image ID the build made
}

// buildInputs computes the digest of svc's build inputs.
func (r *Runtime) buildInputs(ctx context.Context, p *model.Project, svc *model.Service, o engine.BuildOptions) inputs {
	b := svc.Build
	no := func(why string) inputs { return inputs{why: why} }
	if v, ok := os.LookupEnv("DEVSTACK_BUILD_SKIP"); ok {
		if on, err := strconv.ParseBool(v); err == nil && !on {
			return no("DEVSTACK_BUILD_SKIP=" + v)
		}
	}
	switch {
	case o.NoCache || b.NoCache || len(b.NoCacheFilter) > 0:
		return no("no cache asked")
	case o.Pull || b.Pull:
		return no("pull asked")
	case remoteContext(b.Context):
		return no("the context is not a local directory")
	}
	dir, err := state.Dir()
	if err != nil {
		return no("no state directory")
	}
	h := &buildinputs.Hasher{Dir: filepath.Join(dir, "build-inputs", "files")}

	d := sha256.New()
	put := func(parts ...string) {
		for _, s := range parts {
			d.Write(binary.AppendUvarint(nil, uint64(len(s))))
			d.Write([]byte(s))
		}
	}
	put(buildInputsVersion, devstackVersion(), "buildkit", r.host, p.Name, svc.Name, svc.Image, svc.Platform, b.Key())
	tags := slices.Clone(o.Tags)
	sort.Strings(tags)
	put(strings.Join(tags, "\n"))

	bc, err := newBuildContext(b)
	if err != nil {
		return no(err.Error())
	}
	data := bc.dockerfileData
	if data == nil {
		if data, err = os.ReadFile(filepath.Join(bc.dir, filepath.FromSlash(bc.dockerfile))); err != nil {
			return no(err.Error())
		}
	}
	put(bc.dockerfile, string(data), string(bc.ignore))
	df := buildkit.ParseDockerfile("Dockerfile", data)
	if df.Syntax != "" {
		return no("# syntax= names a frontend image")
	}
	names := make([]string, 0, len(b.AdditionalContexts))
	for n := range b.AdditionalContexts {
		names = append(names, n)
	}
	sort.Strings(names)
	images, fixed := df.Sources(b.Args, names)
	if !fixed {
		return no("the Dockerfile reads something that may change without a local edit")
	}
	for _, ref := range images {
		id, ok := r.localImage(ctx, ref)
		if !ok {
			return no("image " + ref + " is not here")
		}
		put(ref, id)
	}

	// A <Dockerfile>.dockerignore replaces .dockerignore on frontends
	// that know it and not on older ones: which files the builder reads
	// then depends on the engine, so such builds always go to it.
	if dockerfileIgnore(b) {
		return no("a Dockerfile-specific .dockerignore")
	}

	var in inputs
	sum, st, err := h.Tree(bc.dir, bc.excludes)
	if err != nil {
		return no(err.Error())
	}
	put(sum)
	in.stats = st

	for _, name := range names {
		src := b.AdditionalContexts[name]
		put(name, src)
		switch {
		case strings.HasPrefix(src, "service:"):
			other, ok := p.Service(strings.TrimPrefix(src, "service:"))
			if !ok {
				return no("unknown service")
			}
			id, ok := r.localImage(ctx, other.Image)
			if !ok {
				return no("image " + other.Image + " is not here")
			}
			put(id)
		case strings.HasPrefix(src, "docker-image://"):
			id, ok := r.localImage(ctx, strings.TrimPrefix(src, "docker-image://"))
			if !ok {
				return no("image " + src + " is not here")
			}
			put(id)
		case strings.Contains(src, "://"):
			return no("a remote additional context")
		default:
			cbc, err := newBuildContext(&model.Build{Context: src, Inline: "FROM scratch\n"})
			if err != nil {
				return no(err.Error())
			}
			sum, st, err := h.Tree(cbc.dir, cbc.excludes)
			if err != nil {
				return no(err.Error())
			}
			put(string(cbc.ignore), sum)
			in.stats.Entries += st.Entries
			in.stats.Read += st.Read
			in.stats.Bytes += st.Bytes
		}
	}
	in.digest = "sha256:" + hex.EncodeToString(d.Sum(nil))
	key := sha256.Sum256([]byte(r.host + "\x00" + svc.Image))
	in.record = filepath.Join(dir, "build-inputs", "images", hex.EncodeToString(key[:16]))
	return in
}

// localImage is the ID of an image in the engine's store.
func (r *Runtime) localImage(ctx context.Context, ref string) (string, bool) {
	res, err := r.api.ImageInspect(ctx, ref)
	if err != nil || res.ID == "" {
		return "", false
	}
	return res.ID, true
}

// upToDate returns the image ID svc's build would give again, when its
// inputs are those recorded for the image its tags point at.
func (r *Runtime) upToDate(ctx context.Context, svc *model.Service, o engine.BuildOptions, in inputs) (string, bool) {
	if in.why != "" {
		return "", false
	}
	data, err := state.ReadFile(in.record)
	if err != nil {
		return "", false
	}
	var rec buildRecord
	if json.Unmarshal(data, &rec) != nil || rec.Digest != in.digest || rec.Image == "" {
		return "", false
	}
	for _, tag := range append(append([]string{svc.Image}, svc.Build.Tags...), o.Tags...) {
		if id, ok := r.localImage(ctx, tag); !ok || id != rec.Image {
			return "", false
		}
	}
	return rec.Image, true
}

// recordBuild notes which image the inputs built. A record that cannot
// be written costs the next build its skip, nothing else.
func recordBuild(in inputs, id string) {
	if in.why != "" || id == "" {
		return
	}
	data, err := json.Marshal(buildRecord{Digest: in.digest, Image: id})
	if err != nil {
		return
	}
	if _, err := os.Lstat(in.record); err != nil {
		buildinputs.Prune(filepath.Dir(in.record), buildinputs.Forget) // a new image: forget those long gone
	}
	if state.MkdirAll(filepath.Dir(in.record)) == nil {
		// A record lost in a crash costs a build, no more: not worth
		// waiting for the disk.
		_ = state.WriteCache(in.record, func(w io.Writer) error {
			_, err := w.Write(data)
			return err
		})
	}
}

// upToDateEvent says a build was not needed.
func upToDateEvent(svc *model.Service, id string) event.BuildStep {
	short := strings.TrimPrefix(id, "sha256:")
	if len(short) > 12 {
		short = short[:12]
	}
	return event.BuildStep{Time: time.Now(), Service: svc.Name, Image: svc.Image, Status: event.StepUpToDate,
		Step: fmt.Sprintf("nothing changed since image %s was built", short)}
}

// devstackVersion is the binary's own version: a devstack that builds
// differently does not trust what an older one recorded.
func devstackVersion() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	v := info.Main.Version
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" || s.Key == "vcs.modified" {
			v += " " + s.Value
		}
	}
	return v
}

// dockerfileIgnore tells whether there is an ignore file beside the
// Dockerfile (<Dockerfile>.dockerignore), which BuildKit's frontend
// prefers to the context's .dockerignore.
func dockerfileIgnore(b *model.Build) bool {
	if b.Inline != "" {
		return false
	}
	df := b.Dockerfile
	if df == "" {
		df = "Dockerfile"
	}
	if !filepath.IsAbs(df) {
		df = filepath.Join(b.Context, df)
	}
	_, err := os.Lstat(df + ".dockerignore")
	return err == nil
}
