package docker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/client"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"devstack/engine"
	"devstack/engine/docker/buildkit"
	"devstack/engine/event"
	"devstack/engine/model"
)

// How a build's settings reach the engine's BuildKit through the build
// API (version 2), and what the API cannot carry:
//   - the context and the Dockerfile go through the session (filesync):
//     BuildKit reads .dockerignore itself and, on a rebuild, asks only for
//     the files that changed; a git or URL context is fetched by the engine;
//   - build.secrets and build.ssh are session providers; registry
//     credentials too (the session's auth provider);
//   - target, args, labels, network, extra_hosts, shm_size, ulimits,
//     cache_from and a single platform are API parameters;
//   - cache_to: only the inline cache (a build argument the engine reads);
//   - no_cache_filter: the API turns the cache off for every stage, so it
//     does (a superset, said in a warning);
//   - additional_contexts: the engine's built-in Dockerfile frontend has no
//     named contexts and the API no way to pass them, so each becomes a
//     stage of its own in the Dockerfile sent (FROM image AS name); a
//     directory is first built into a helper image;
//   - privileged and entitlements other than network.host (granted with
//     network: host) cannot be passed: a clear error.

// buildTailKit is how many output lines a failed step's event and error carry.
const buildTailKit = 10

// kitBuild is one BuildKit build being prepared: what the session offers
// and what the request says.
type kitBuild struct {
	svc        *model.Service
	cfg        buildkit.Config
	opts       client.ImageBuildOptions
	df         *buildkit.Dockerfile
	redact     []string // secret values, never shown
	cleanup    []func()
	helperTags []string // helper images of directory contexts, removed after
}

func (k *kitBuild) close() {
	for i := len(k.cleanup) - 1; i >= 0; i-- {
		k.cleanup[i]()
	}
}

func (r *Runtime) buildKit(ctx context.Context, p *model.Project, svc *model.Service, o engine.BuildOptions, sink event.Sink) (string, error) {
	// Unchanged inputs: the image is what the builder would give again
	// (see buildskip.go).
	in := r.buildInputs(ctx, p, svc, o)
	if id, ok := r.upToDate(ctx, svc, o, in); ok {
		sink.Publish(upToDateEvent(svc, id))
		return id, nil
	}
	k, err := r.prepareKit(ctx, p, svc, o, sink)
	if k != nil {
		defer k.close()
	}
	if err != nil {
		return "", err
	}
	id, err := r.runKit(ctx, k, sink)
	if err == nil {
		recordBuild(in, id)
	}
	return id, err
}

// prepareKit checks the build's settings (each bad one is an error naming
// the service and the field) and prepares the session's directories.
func (r *Runtime) prepareKit(ctx context.Context, p *model.Project, svc *model.Service, o engine.BuildOptions, sink event.Sink) (*kitBuild, error) {
	b := svc.Build
	k := &kitBuild{svc: svc, cfg: buildkit.Config{Dirs: map[string]string{}, Secrets: map[string]buildkit.Secret{}}}
	fail := func(field, format string, a ...any) error {
		return fmt.Errorf("service %q: %s: %s", svc.Name, field, fmt.Sprintf(format, a...))
	}

	tags := append([]string{svc.Image}, b.Tags...)
	tags = append(tags, o.Tags...)
	args := map[string]*string{}
	for name, v := range b.Args {
		args[name] = v
	}
	k.opts = client.ImageBuildOptions{
		Version:     build.BuilderBuildKit,
		Tags:        tags,
		BuildArgs:   args,
		Target:      b.Target,
		NetworkMode: b.Network,
		Labels:      buildLabels(p, svc),
		ExtraHosts:  b.ExtraHosts,
		ShmSize:     b.ShmSize,
		NoCache:     o.NoCache || b.NoCache,
		PullParent:  o.Pull || b.Pull,
		Ulimits:     buildUlimits(b),
		BuildID:     randomID(),
	}

	// Platforms: the engine's image store holds one platform per tag.
	platform := svc.Platform
	switch len(b.Platforms) {
	case 0:
	case 1:
		if platform != "" && platform != b.Platforms[0] {
			return k, fail("build.platforms", "builds %s but the service runs platform %s: make them agree", b.Platforms[0], platform)
		}
		platform = b.Platforms[0]
	default:
		return k, fail("build.platforms", "lists %d platforms (%s); the engine's image store keeps one platform per image: list one", len(b.Platforms), strings.Join(b.Platforms, ", "))
	}
	if platform != "" {
		pl, ok := platformOf(platform)
		if !ok {
			return k, fail("platform", "%q is not os/arch[/variant]", platform)
		}
		k.opts.Platforms = []ocispec.Platform{pl}
	}

	for _, c := range b.CacheFrom {
		ref, err := cacheRef(c)
		if err != nil {
			return k, fail("build.cache_from", "%q: %v", c, err)
		}
		k.opts.CacheFrom = append(k.opts.CacheFrom, ref)
	}
	for _, c := range b.CacheTo {
		if attrs := csvAttrs(c); attrs["type"] != "inline" {
			return k, fail("build.cache_to", "%q: the engine's builder writes only the inline cache (type=inline) through its API; use type=inline or remove the entry", c)
		}
		yes := "1"
		k.opts.BuildArgs["BUILDKIT_INLINE_CACHE"] = &yes
	}
	if len(b.NoCacheFilter) > 0 && !k.opts.NoCache {
		k.opts.NoCache = true
		sink.Publish(event.Warning{Time: time.Now(), Service: svc.Name, Message: fmt.Sprintf(
			"build.no_cache_filter: the engine's builder API turns the cache off for every stage, not only %s: all stages are rebuilt",
			strings.Join(b.NoCacheFilter, ", "))})
	}
	if b.Privileged {
		return k, fail("build.privileged", "the engine's builder API cannot grant privileged builds (entitlement security.insecure): remove it, or build this image with docker buildx")
	}
	for _, e := range b.Entitlements {
		switch {
		case e == "network.host" && b.Network == "host":
		case e == "network.host":
			return k, fail("build.entitlements", "network.host is granted by the engine's builder API only with build.network: host (every RUN step then uses the host network): add it")
		default:
			return k, fail("build.entitlements", "%s cannot be granted through the engine's builder API: remove it, or build this image with docker buildx", e)
		}
	}

	if err := r.kitSecrets(p, svc, k); err != nil {
		return k, err
	}
	if err := kitSSH(svc, k); err != nil {
		return k, err
	}
	k.cfg.Credentials = func(host string) (string, string, bool) {
		c, err := loadDockerConfig()
		if err != nil {
			return "", "", false
		}
		ac, ok, err := c.credentials(host)
		if err != nil || !ok {
			return "", "", false
		}
		if ac.IdentityToken != "" {
			return "", ac.IdentityToken, true
		}
		return ac.Username, ac.Password, true
	}

	if remoteContext(b.Context) {
		k.opts.RemoteContext = b.Context
		k.opts.Dockerfile = b.Dockerfile
		if len(b.AdditionalContexts) > 0 {
			return k, fail("build.additional_contexts", "only a local build context can have additional contexts here")
		}
		return k, nil
	}
	if err := r.kitDirs(ctx, p, svc, k, sink); err != nil {
		return k, err
	}
	return k, nil
}

// remoteContext tells a git or URL build context from a local directory.
func remoteContext(c string) bool {
	return strings.Contains(c, "://") || strings.HasPrefix(c, "git@") || strings.HasPrefix(c, "github.com/")
}

// kitDirs sets the "context" and "dockerfile" directories of the session.
// The Dockerfile is sent from a private directory when devstack writes it
// (dockerfile_inline, additional contexts as stages); its own directory
// otherwise.
func (r *Runtime) kitDirs(ctx context.Context, p *model.Project, svc *model.Service, k *kitBuild, sink event.Sink) error {
	b := svc.Build
	bc, err := newBuildContext(b)
	if err != nil {
		return fmt.Errorf("service %q: %w", svc.Name, err)
	}
	k.cfg.Dirs["context"] = bc.dir
	data, name, dir := bc.dockerfileData, "Dockerfile", ""
	shown := "dockerfile_inline"
	if data == nil || b.Inline == "" {
		abs := b.Dockerfile
		if abs == "" {
			abs = "Dockerfile"
		}
		if !filepath.IsAbs(abs) {
			abs = filepath.Join(b.Context, abs)
		}
		if data == nil {
			if data, err = os.ReadFile(abs); err != nil {
				return fmt.Errorf("service %q: unable to read the Dockerfile %s: %w", svc.Name, abs, err)
			}
		}
		dir, name = filepath.Dir(abs), filepath.Base(abs)
		shown = abs
		if rel, err := filepath.Rel(p.WorkingDir, abs); err == nil && !strings.HasPrefix(rel, "..") {
			shown = rel
		}
	}
	k.df = buildkit.ParseDockerfile(shown, data)

	stages, err := r.contextStages(ctx, p, svc, k, sink)
	if err != nil {
		return err
	}
	if len(stages) > 0 {
		if data, err = k.df.WithStages(data, stages); err != nil {
			return fmt.Errorf("service %q: build.additional_contexts: %w", svc.Name, err)
		}
		dir = ""
	}
	if dir == "" {
		tmp, err := os.MkdirTemp("", "devstack-dockerfile-")
		if err != nil {
			return fmt.Errorf("unable to build service %q: %w", svc.Name, err)
		}
		k.cleanup = append(k.cleanup, func() { _ = os.RemoveAll(tmp) })
		name = "Dockerfile"
		if err := os.WriteFile(filepath.Join(tmp, name), data, 0o600); err != nil {
			return fmt.Errorf("unable to build service %q: %w", svc.Name, err)
		}
		dir = tmp
	}
	k.cfg.Dirs["dockerfile"] = dir
	k.opts.RemoteContext = "client-session"
	k.opts.Dockerfile = name
	return nil
}

// contextStages turns build.additional_contexts into image references by
// name: service:NAME is that service's image, docker-image://REF is REF,
// and a directory is built into a helper image first.
func (r *Runtime) contextStages(ctx context.Context, p *model.Project, svc *model.Service, k *kitBuild, sink event.Sink) (map[string]string, error) {
	b := svc.Build
	if len(b.AdditionalContexts) == 0 {
		return nil, nil
	}
	names := make([]string, 0, len(b.AdditionalContexts))
	for n := range b.AdditionalContexts {
		names = append(names, n)
	}
	sort.Strings(names)
	stages := map[string]string{}
	for _, name := range names {
		src := b.AdditionalContexts[name]
		field := "build.additional_contexts." + name
		if !validStageName(name) {
			return nil, fmt.Errorf("service %q: %s: the name must be letters, digits, '-', '_' or '.' to be used as a stage here", svc.Name, field)
		}
		switch {
		case strings.HasPrefix(src, "service:"):
			other, ok := p.Service(strings.TrimPrefix(src, "service:"))
			if !ok {
				return nil, fmt.Errorf("service %q: %s: there is no service %q in the project: fix the name", svc.Name, field, strings.TrimPrefix(src, "service:"))
			}
			if _, err := r.api.ImageInspect(ctx, other.Image); err != nil {
				// Not built yet: built now, as Compose builds the services
				// a build depends on first.
				if other.Build == nil || other.Name == svc.Name {
					return nil, fmt.Errorf("service %q: %s: the image of service %q (%s) is not here and has no build: section to make it", svc.Name, field, other.Name, other.Image)
				}
				if _, err := r.buildKit(ctx, p, other, engine.BuildOptions{}, sink); err != nil {
					return nil, fmt.Errorf("service %q: %s: building service %q first failed: %w", svc.Name, field, other.Name, err)
				}
			}
			stages[name] = other.Image
		case strings.HasPrefix(src, "docker-image://"):
			stages[name] = strings.TrimPrefix(src, "docker-image://")
		case strings.Contains(src, "://"):
			return nil, fmt.Errorf("service %q: %s: %q: the engine's built-in Dockerfile frontend has no named contexts (unsupported frontend capability moby.buildkit.frontend.contexts); devstack stands in for directories, service:NAME and docker-image:// only", svc.Name, field, src)
		default:
			tag, err := r.contextImage(ctx, p, svc, name, src, sink)
			if err != nil {
				return nil, err
			}
			k.cleanup = append(k.cleanup, func() {
				_, _ = r.api.ImageRemove(context.WithoutCancel(ctx), tag, client.ImageRemoveOptions{})
			})
			stages[name] = tag
		}
	}
	return stages, nil
}

var stageName = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9_.-]*$`)

func validStageName(s string) bool { return stageName.MatchString(s) }

// contextImage builds a directory into a helper image (FROM scratch, the
// files at /) so a stage can stand for it, and returns its tag.
func (r *Runtime) contextImage(ctx context.Context, p *model.Project, svc *model.Service, name, dir string, sink event.Sink) (string, error) {
	field := "build.additional_contexts." + name
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return "", fmt.Errorf("service %q: %s: %s is not a directory: fix the path (relative paths start from the project directory)", svc.Name, field, dir)
	}
	tag := "devstack-context/" + strings.ToLower(p.Name+"-"+svc.Name+"-"+name) + ":" + randomID()[:12]
	helper := &model.Service{Name: svc.Name, Image: tag, Build: &model.Build{Context: dir, Inline: "FROM scratch\nCOPY . /\n"}}
	k, err := r.prepareKit(ctx, p, helper, engine.BuildOptions{}, sink)
	if k != nil {
		defer k.close()
	}
	if err != nil {
		return "", err
	}
	if _, err := r.runKit(ctx, k, event.Discard); err != nil {
		return "", fmt.Errorf("service %q: %s: unable to send %s: %w", svc.Name, field, dir, err)
	}
	return tag, nil
}

// cacheRef reads a cache_from entry: an image reference, or
// type=registry,ref=REF. Other cache types cannot be imported through the
// engine's API.
func cacheRef(c string) (string, error) {
	if !strings.Contains(c, "=") {
		return c, nil
	}
	attrs := csvAttrs(c)
	if attrs["type"] != "" && attrs["type"] != "registry" {
		return "", fmt.Errorf("the engine's builder imports only image caches (type=registry) through its API: use an image reference")
	}
	if attrs["ref"] == "" {
		return "", fmt.Errorf("no ref= given")
	}
	return attrs["ref"], nil
}

func csvAttrs(s string) map[string]string {
	out := map[string]string{}
	if !strings.Contains(s, "=") {
		out["type"] = "registry"
		out["ref"] = s
		return out
	}
	for _, f := range strings.Split(s, ",") {
		k, v, _ := strings.Cut(f, "=")
		out[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(v)
	}
	return out
}

// kitSecrets resolves build.secrets: a file is checked now (and read
// now, so its content can be kept out of every message), an environment
// variable is read from the project's environment.
func (r *Runtime) kitSecrets(p *model.Project, svc *model.Service, k *kitBuild) error {
	for _, s := range svc.Build.Secrets {
		obj, ok := p.Secrets[s.Source]
		field := "build.secrets"
		if !ok {
			return fmt.Errorf("service %q: %s: secret %q is not defined: declare it under the top-level secrets:", svc.Name, field, s.Source)
		}
		var value []byte
		switch {
		case obj.File != "":
			data, err := os.ReadFile(obj.File)
			if err != nil {
				why := "cannot be read"
				if errors.Is(err, os.ErrNotExist) {
					why = "does not exist"
				}
				return fmt.Errorf("service %q: %s: secret %q: the file %s %s: create it or fix secrets.%s.file", svc.Name, field, s.Source, obj.File, why, s.Source)
			}
			value = data
		case obj.Environment != "":
			v, ok := p.Environment[obj.Environment]
			if !ok {
				v, ok = os.LookupEnv(obj.Environment)
			}
			if !ok {
				return fmt.Errorf("service %q: %s: secret %q: the variable %s is not set: set it (or put it in .env)", svc.Name, field, s.Source, obj.Environment)
			}
			value = []byte(v)
		default:
			return fmt.Errorf("service %q: %s: secret %q has neither file: nor environment: (builds cannot use external secrets)", svc.Name, field, s.Source)
		}
		k.cfg.Secrets[s.ID] = buildkit.ValueSecret(value)
		k.redact = append(k.redact, redactions(value)...)
	}
	return nil
}

// redactions are the strings of a secret that must never be shown: the
// whole value and each of its lines, when long enough to mean something
// (a one-letter secret cannot be blanked out of every message).
func redactions(v []byte) []string {
	var out []string
	add := func(s string) {
		if s = strings.TrimSpace(s); len(s) >= 4 && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	add(string(v))
	for _, l := range strings.Split(string(v), "\n") {
		add(l)
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

func (k *kitBuild) redactFunc() func(string) string {
	return func(s string) string {
		for _, v := range k.redact {
			s = strings.ReplaceAll(s, v, "****")
		}
		return s
	}
}

// kitSSH checks build.ssh: the agent must answer, key files must exist.
func kitSSH(svc *model.Service, k *kitBuild) error {
	for _, key := range svc.Build.SSH {
		field := "build.ssh"
		if key.Path == "" {
			sock := os.Getenv("SSH_AUTH_SOCK")
			if sock == "" {
				return fmt.Errorf("service %q: %s %s: no SSH agent: SSH_AUTH_SOCK is not set: start one (eval $(ssh-agent); ssh-add) or give key files (%s=~/.ssh/id_ed25519)", svc.Name, field, key.ID, key.ID)
			}
			conn, err := net.DialTimeout("unix", sock, 2*time.Second)
			if err != nil {
				return fmt.Errorf("service %q: %s %s: the SSH agent at %s does not answer (%v): start it (eval $(ssh-agent); ssh-add)", svc.Name, field, key.ID, sock, unwrapAll(err))
			}
			_ = conn.Close()
			k.cfg.SSH = append(k.cfg.SSH, buildkit.SSH{ID: key.ID})
			continue
		}
		var paths []string
		for _, p := range strings.Split(key.Path, ",") {
			if _, err := os.Stat(p); err != nil {
				return fmt.Errorf("service %q: %s %s: %s does not exist: fix the path", svc.Name, field, key.ID, p)
			}
			paths = append(paths, p)
		}
		k.cfg.SSH = append(k.cfg.SSH, buildkit.SSH{ID: key.ID, Paths: paths})
	}
	return nil
}

func unwrapAll(err error) error {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err
		}
		err = u
	}
}

func randomID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// runKit opens the session, sends the build request and follows its
// progress. Interrupted, it cancels the build on the engine.
func (r *Runtime) runKit(ctx context.Context, k *kitBuild, sink event.Sink) (string, error) {
	svc := k.svc
	sess, err := buildkit.Start(ctx, k.cfg, func(ctx context.Context, proto string, meta map[string][]string) (net.Conn, error) {
		return r.api.DialHijack(ctx, "/session", proto, meta)
	})
	if err != nil {
		return "", fmt.Errorf("service %q: %w", svc.Name, err)
	}
	defer sess.Close()
	k.opts.SessionID = sess.ID()

	res, err := r.api.ImageBuild(ctx, nil, k.opts)
	if err != nil {
		return "", fmt.Errorf("unable to build service %q: %w", svc.Name, r.engineError(err))
	}
	defer res.Body.Close()
	stop := context.AfterFunc(ctx, func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_, _ = r.api.BuildCancel(cctx, k.opts.BuildID, client.BuildCancelOptions{})
	})
	defer stop()

	id, err := readKitStream(res.Body, k, sink)
	if err != nil && ctx.Err() != nil {
		return "", fmt.Errorf("build of service %q interrupted: %w", svc.Name, ctx.Err())
	}
	return id, err
}

// readKitStream publishes one event per finished step (and the lines of
// output as they come) and returns the image ID, or an error naming the
// failing step's Dockerfile line and command, with its last output.
func readKitStream(body io.Reader, k *kitBuild, sink event.Sink) (string, error) {
	svc := k.svc
	redact := k.redactFunc()
	tr := buildkit.NewTracker(buildTailKit, redact)
	dec := json.NewDecoder(body)
	var imageID string
	publish := func(e event.BuildStep) {
		e.Time, e.Service, e.Image = time.Now(), svc.Name, svc.Image
		sink.Publish(e)
	}
	for {
		var m jsonstream.Message
		if err := dec.Decode(&m); err == io.EOF {
			break
		} else if err != nil {
			return "", fmt.Errorf("unable to read the build output of service %q: %w", svc.Name, err)
		}
		if m.Error != nil {
			return "", k.buildError(tr, redact(m.Error.Message))
		}
		if m.Aux == nil {
			continue
		}
		switch m.ID {
		case buildkit.ImageID:
			var aux struct{ ID string }
			if json.Unmarshal(*m.Aux, &aux) == nil && aux.ID != "" {
				imageID = aux.ID
			}
		case buildkit.TraceID:
			resp, err := buildkit.DecodeTrace(*m.Aux)
			if err != nil {
				continue // progress is for show: a message we cannot read is skipped
			}
			for _, c := range tr.Add(resp) {
				s := c.Step
				if c.Started && !c.Done {
					publish(event.BuildStep{Step: s.Name, Vertex: s.ID, Status: event.StepStarted})
				}
				for _, l := range c.Lines {
					publish(event.BuildStep{Step: s.Name, Vertex: s.ID, Line: l})
				}
				if c.Done {
					e := event.BuildStep{Step: s.Name, Vertex: s.ID, Status: event.StepDone, Duration: s.Duration().Seconds()}
					switch {
					case s.Error != "":
						e.Status, e.Error, e.Tail = event.StepFailed, s.Error, append([]string(nil), s.Tail...)
					case s.Cached:
						e.Status = event.StepCached
					}
					if k.df != nil {
						if line, _, ok := k.df.Instruction(s.Name); ok {
							e.Dockerfile, e.DockerfileLine = k.df.Name, line
						}
					}
					publish(e)
				}
			}
		}
	}
	if imageID == "" {
		return "", k.buildError(tr, "the engine ended the build without an image")
	}
	return imageID, nil
}

// buildPrefixes are the wrappers BuildKit puts around the message that
// matters.
var buildPrefixes = []string{
	"rpc error: code = Unknown desc = ",
	"failed to solve with frontend dockerfile.v0: ",
	"failed to solve: ",
	"failed to build LLB: ",
	"failed to create LLB definition: ",
}

func trimBuildMessage(msg string) string {
	msg = strings.TrimSpace(msg)
	for changed := true; changed; {
		changed = false
		for _, p := range buildPrefixes {
			if strings.HasPrefix(msg, p) {
				msg, changed = strings.TrimPrefix(msg, p), true
			}
		}
	}
	return msg
}

// buildError explains a failed BuildKit build.
func (k *kitBuild) buildError(tr *buildkit.Tracker, msg string) error {
	svc := k.svc
	msg = trimBuildMessage(msg)
	be := &BuildError{Service: svc.Name, Message: msg}
	if s := tr.Failed(); s != nil {
		be.Step, be.Tail = s.Name, s.Tail
		if m := trimBuildMessage(s.Error); m != "" && !strings.Contains(msg, m) {
			be.Message = m
		}
	}
	if base, ok := strings.CutPrefix(be.Step, "[internal] load metadata for "); ok {
		// The builder pulls a missing base image: say so as pull does.
		base = strings.TrimPrefix(strings.TrimPrefix(base, "docker.io/"), "library/")
		if why := pullReason(base, errors.New(be.Message)); why != "" {
			be.Message = fmt.Sprintf("its base image %s is not here and could not be pulled: %s", base, why)
		}
	}
	if k.df != nil {
		if line, text, ok := k.df.Instruction(be.Step); ok {
			be.Dockerfile, be.Line, be.Command = k.df.Name, line, text
		}
		be.Message = k.explain(be.Message)
	}
	return be
}

var (
	missingSSH    = regexp.MustCompile(`(?:no SSH key "?([^" ]+)"? forwarded from the client|unset ssh forward key ([^" ]+))`)
	missingSecret = regexp.MustCompile(`secret "?([^" :]+)"?( not found|: not found)`)
	mountType     = regexp.MustCompile(`unsupported mount type "?([^" ]+)"?`)
	dockerfileAt  = regexp.MustCompile(`(?i)dockerfile:(\d+)`)
)

// explain rewrites BuildKit's messages about the build's settings into
// ones that name the field to fix.
func (k *kitBuild) explain(msg string) string {
	b := k.svc.Build
	switch {
	case k.df.Syntax != "" && (strings.Contains(msg, k.df.Syntax) || strings.Contains(msg, "frontend")) && pullFailure(msg):
		return fmt.Sprintf("%s line %d (# syntax=%s) asks for the frontend image %s, which could not be pulled: %s; remove the line to build with the engine's built-in frontend, or make the registry reachable",
			k.df.Name, k.df.SyntaxLine, k.df.Syntax, k.df.Syntax, msg)
	}
	if m := missingSSH.FindStringSubmatch(msg); m != nil {
		if m[1] == "" {
			m[1] = m[2]
		}
		offered := []string{}
		for _, s := range b.SSH {
			offered = append(offered, s.ID)
		}
		return fmt.Sprintf("the Dockerfile asks for the SSH key %q, which build.ssh does not offer (it offers: %s): add it to build.ssh", m[1], listOrNone(offered))
	}
	if m := missingSecret.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("the Dockerfile asks for the secret %q, which build.secrets does not offer (it offers: %s): add it to build.secrets (target: %s)", m[1], listOrNone(k.cfg.SecretIDs()), m[1])
	}
	if m := mountType.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("%s: RUN --mount=type=%s is not a mount type the engine's BuildKit knows (cache, bind, secret, ssh, tmpfs): fix the Dockerfile", k.df.Name, m[1])
	}
	if m := dockerfileAt.FindStringSubmatch(msg); m != nil && k.df.Name != "" {
		// The builder's own line numbers count the stages devstack added.
		var n int
		fmt.Sscan(m[1], &n)
		if u := k.df.UserLine(n); u != n {
			msg = strings.Replace(msg, m[0], fmt.Sprintf("Dockerfile:%d", u), 1)
		}
	}
	return msg
}

func pullFailure(msg string) bool {
	for _, s := range []string{"failed to resolve", "failed to do request", "no such host", "dial tcp", "connection refused",
		"i/o timeout", "pull access denied", "not found", "unauthorized", "server misbehaving", "network is unreachable"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

func listOrNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}
