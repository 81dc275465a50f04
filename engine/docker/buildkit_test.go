package docker

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh/agent"

	"devstack/engine"
	"devstack/engine/event"
	"devstack/engine/model"
)

// kitSvc is a service building dir with a Dockerfile, tagged for p.
func kitSvc(t *testing.T, p *model.Project, name, dir, dockerfile string) *model.Service {
	t.Helper()
	writeTree(t, dir, map[string]string{"Dockerfile": dockerfile})
	return &model.Service{Name: name, Image: "devstack-test/" + p.Name + "-" + name + ":1", Build: &model.Build{Context: dir, Dockerfile: "Dockerfile"}}
}

// lines returns the output lines of a build's events.
func lines(rec *event.Recorder) []string {
	var out []string
	for _, e := range rec.Events() {
		if b, ok := e.(event.BuildStep); ok && b.Line != "" {
			out = append(out, b.Line)
		}
	}
	return out
}

func hasLine(rec *event.Recorder, want string) bool {
	for _, l := range lines(rec) {
		if strings.TrimSpace(l) == want {
			return true
		}
	}
	return false
}

func imageMissing(t *testing.T, r *Runtime, ref string) bool {
	t.Helper()
	_, err := r.api.ImageInspect(context.Background(), ref)
	return err != nil
}

// A RUN --mount=type=cache keeps its content from one build to the next,
// even when the step itself reruns.
func TestBuildKitCacheMountPersists(t *testing.T) {
	t.Parallel()
	r, img := newTestRuntime(t)
	ctx := testCtx(t, 3*time.Minute)
	p := newProject(t)
	id := "devstack-test-" + randomHex(6) // a cache of this test's own
	svc := kitSvc(t, p, "app", t.TempDir(), "FROM "+img+"\nARG RUNNO\n"+
		"RUN --mount=type=cache,id="+id+",target=/cache echo \"run $RUNNO\" >> /cache/log && echo \"runs=$(wc -l < /cache/log)\"\n")
	for i, want := range []string{"runs=1", "runs=2"} {
		svc.Build.Args = map[string]*string{"RUNNO": ptr(randomHex(4))} // the step must run again
		rec := &event.Recorder{}
		if _, err := r.Build(ctx, p, svc, engine.BuildOptions{}, rec); err != nil {
			t.Fatalf("build %d: %v", i+1, err)
		}
		if !hasLine(rec, want) {
			t.Fatalf("build %d printed %q, want %s", i+1, lines(rec), want)
		}
	}
}

// Secrets from a file and from the project's environment reach RUN, and
// appear nowhere: not in the image's history, not in the events (a step
// that prints one shows ****), not in an error.
func TestBuildKitSecrets(t *testing.T) {
	t.Parallel()
	r, img := newTestRuntime(t)
	ctx := testCtx(t, 3*time.Minute)
	p := newProject(t)
	fileValue, envValue := "file-secret-"+randomHex(8), "env-secret-"+randomHex(8)
	secretFile := filepath.Join(t.TempDir(), "npmrc")
	if err := os.WriteFile(secretFile, []byte(fileValue+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p.Secrets["npmrc"] = model.FileObject{Name: "npmrc", File: secretFile}
	p.Secrets["token"] = model.FileObject{Name: "token", Environment: "API_TOKEN"}
	p.Environment["API_TOKEN"] = envValue
	svc := kitSvc(t, p, "app", t.TempDir(), "FROM "+img+"\nRUN echo "+p.Name+"\n"+
		"RUN --mount=type=secret,id=npmrc --mount=type=secret,id=api_token "+
		"test -s /run/secrets/npmrc && test -s /run/secrets/api_token && echo \"lengths $(wc -c < /run/secrets/npmrc) $(wc -c < /run/secrets/api_token)\"\n"+
		"RUN --mount=type=secret,id=api_token cat /run/secrets/api_token; echo\n")
	svc.Build.Secrets = []model.BuildSecret{{Source: "npmrc", ID: "npmrc"}, {Source: "token", ID: "api_token"}}
	rec := &event.Recorder{}
	if _, err := r.Build(ctx, p, svc, engine.BuildOptions{}, rec); err != nil {
		t.Fatal(err)
	}
	if want := "lengths " + strconv.Itoa(len(fileValue)+1) + " " + strconv.Itoa(len(envValue)); !hasLine(rec, want) {
		t.Errorf("the secrets did not reach RUN: %q, want %q", lines(rec), want)
	}
	if !hasLine(rec, "****") {
		t.Errorf("the step that prints a secret did not show ****: %q", lines(rec))
	}
	for _, e := range rec.Events() {
		b, _ := event.Marshal(e)
		if strings.Contains(string(b), fileValue) || strings.Contains(string(b), envValue) {
			t.Errorf("an event carries a secret: %s", b)
		}
	}
	hist, err := r.api.ImageHistory(ctx, svc.Image)
	if err != nil {
		t.Fatal(err)
	}
	all, _ := json.Marshal(hist)
	if len(hist.Items) == 0 || strings.Contains(string(all), fileValue) || strings.Contains(string(all), envValue) {
		t.Errorf("docker history shows a secret (or nothing): %s", all)
	}

	// A failing step that printed the secret: the error does not carry it.
	svc.Build.Inline = "FROM " + img + "\nRUN --mount=type=secret,id=npmrc cat /run/secrets/npmrc; exit 1\n"
	_, err = r.Build(ctx, p, svc, engine.BuildOptions{}, event.Discard)
	if err == nil || strings.Contains(err.Error(), fileValue) || !strings.Contains(err.Error(), "****") {
		t.Errorf("failed build's error: %v", err)
	}
}

// testAgent serves an in-memory SSH agent holding one key with comment
// on a socket, and points SSH_AUTH_SOCK at it.
func testAgent(t *testing.T, comment string) {
	t.Helper()
	keyring := agent.NewKeyring()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	if err := keyring.Add(agent.AddedKey{PrivateKey: priv, Comment: comment}); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "agent.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); _ = agent.ServeAgent(keyring, c) }()
		}
	}()
	t.Setenv("SSH_AUTH_SOCK", sock)
}

// agentList is a static program that asks the agent at SSH_AUTH_SOCK for
// its keys and prints their comments: the image has no ssh client.
const agentList = `package main

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
)

func main() {
	c, err := net.Dial("unix", os.Getenv("SSH_AUTH_SOCK"))
	if err != nil {
		fmt.Println("dial:", err)
		os.Exit(1)
	}
	c.Write([]byte{0, 0, 0, 1, 11}) // SSH_AGENTC_REQUEST_IDENTITIES
	var n uint32
	binary.Read(c, binary.BigEndian, &n)
	body := make([]byte, n)
	io.ReadFull(c, body)
	if len(body) < 5 || body[0] != 12 {
		fmt.Println("unexpected answer")
		os.Exit(1)
	}
	keys := binary.BigEndian.Uint32(body[1:5])
	rest := body[5:]
	str := func() []byte {
		l := binary.BigEndian.Uint32(rest)
		s := rest[4 : 4+l]
		rest = rest[4+l:]
		return s
	}
	for i := uint32(0); i < keys; i++ {
		str()
		fmt.Printf("key %s\n", str())
	}
}
`

// A RUN --mount=type=ssh reaches the user's agent through the session.
func TestBuildKitSSHAgent(t *testing.T) {
	r, img := newTestRuntime(t)
	ctx := testCtx(t, 3*time.Minute)
	p := newProject(t)
	comment := "devstack-test-key-" + randomHex(4)
	testAgent(t, comment)
	dir := t.TempDir()
	src := filepath.Join(t.TempDir(), "agentlist.go")
	if err := os.WriteFile(src, []byte(agentList), 0o644); err != nil {
		t.Fatal(err)
	}
	build := exec.Command("go", "build", "-o", filepath.Join(dir, "agentlist"), src)
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=", "GO111MODULE=off")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	svc := kitSvc(t, p, "app", dir, "FROM "+img+"\nCOPY agentlist /agentlist\nRUN --mount=type=ssh /agentlist\n")
	svc.Build.SSH = []model.SSHKey{{ID: "default"}}
	rec := &event.Recorder{}
	if _, err := r.Build(ctx, p, svc, engine.BuildOptions{NoCache: true}, rec); err != nil {
		t.Fatal(err)
	}
	if !hasLine(rec, "key "+comment) {
		t.Errorf("the agent did not answer in the build: %q", lines(rec))
	}

	// An id the Dockerfile asks for and build.ssh does not offer.
	svc.Build.Inline = "FROM " + img + "\nRUN --mount=type=ssh,id=deploy,required=true true\n"
	_, err := r.Build(ctx, p, svc, engine.BuildOptions{}, event.Discard)
	if err == nil || !strings.Contains(err.Error(), `"app"`) || !strings.Contains(err.Error(), "build.ssh") || !strings.Contains(err.Error(), "deploy") {
		t.Errorf("unknown ssh id: %v", err)
	}

	// The agent is not running.
	t.Setenv("SSH_AUTH_SOCK", filepath.Join(t.TempDir(), "gone.sock"))
	svc.Build.Inline = ""
	_, err = r.Build(ctx, p, svc, engine.BuildOptions{}, event.Discard)
	if err == nil || !strings.Contains(err.Error(), `service "app": build.ssh default: the SSH agent at`) || strings.Contains(err.Error(), "\n") {
		t.Errorf("no agent: %v", err)
	}
}

// Additional contexts: another service's image and a directory, used by
// COPY --from and FROM, on an engine whose frontend has no named contexts.
func TestBuildKitAdditionalContexts(t *testing.T) {
	t.Parallel()
	r, img := newTestRuntime(t)
	ctx := testCtx(t, 3*time.Minute)
	p := newProject(t)
	base := kitSvc(t, p, "base", t.TempDir(), "FROM "+img+"\nRUN echo from-base > /base.txt\n")
	shared := t.TempDir()
	writeTree(t, shared, map[string]string{"shared.txt": "from-dir", ".dockerignore": "secret.txt\n", "secret.txt": "no"})
	app := kitSvc(t, p, "app", t.TempDir(), "# a comment first\nARG UNUSED=1\nFROM "+img+"\n"+
		"COPY --from=basectx /base.txt /base.txt\nCOPY --from=shared / /shared/\n"+
		"RUN cat /base.txt /shared/shared.txt && test ! -e /shared/secret.txt # "+p.Name+"\nRUN exit 7\n")
	app.Build.AdditionalContexts = map[string]string{"basectx": "service:base", "shared": shared}
	p.Services = []model.Service{*app, *base}

	// service:base is not built yet: it is built first.
	rec := &event.Recorder{}
	_, err := r.Build(ctx, p, app, engine.BuildOptions{}, rec)
	if imageMissing(t, r, base.Image) {
		t.Fatalf("service base was not built first: %v", err)
	}
	if !hasLine(rec, "from-base") || !hasLine(rec, "from-dir") {
		t.Errorf("the contexts did not reach the build: %q", lines(rec))
	}
	// The failing step is named by the user's own line (the stages devstack
	// put in the Dockerfile do not count).
	var be *BuildError
	if !errors.As(err, &be) || be.Line != 7 || be.Command != "RUN exit 7" {
		t.Errorf("error: %v (%+v)", err, be)
	}
	// The directory's helper image went with the build.
	out, _ := exec.Command("docker", "images", "--format", "{{.Repository}}", "--filter", "reference=devstack-context/"+p.Name+"-*").Output()
	if s := strings.TrimSpace(string(out)); s != "" {
		t.Errorf("helper images left: %s", s)
	}
}

// A multi-stage target builds only what the target needs; a failure names
// the Dockerfile line, the command and its last output, and tags nothing.
func TestBuildKitTargetAndFailure(t *testing.T) {
	t.Parallel()
	r, img := newTestRuntime(t)
	ctx := testCtx(t, 3*time.Minute)
	p := newProject(t)
	svc := kitSvc(t, p, "app", t.TempDir(), "FROM "+img+" AS base\nRUN echo in-base "+p.Name+"\n"+
		"FROM base AS broken\nRUN exit 1\n"+
		"FROM base AS dev\nRUN echo in-dev\n")
	svc.Build.Target = "dev"
	rec := &event.Recorder{}
	id, err := r.Build(ctx, p, svc, engine.BuildOptions{}, rec)
	if err != nil || !hasLine(rec, "in-dev") {
		t.Fatalf("target dev: %v %q", err, lines(rec))
	}
	var done, cached int
	for _, e := range rec.Events() {
		b := e.(event.BuildStep)
		if strings.Contains(b.Step, "exit 1") {
			t.Errorf("a step of the stage the target does not need ran: %+v", b)
		}
		if b.Status == event.StepDone || b.Status == event.StepCached {
			done++
			if b.Step == "" || b.Vertex == "" {
				t.Errorf("a step event lacks its name or vertex: %+v", b)
			}
		}
	}
	if done < 3 {
		t.Errorf("%d step events", done)
	}
	// Again, after a change no step reads (so the build is not skipped
	// as up to date): every step from the cache, and the same image.
	writeTree(t, svc.Build.Context, map[string]string{"unread.txt": "x"})
	rec = &event.Recorder{}
	again, err := r.Build(ctx, p, svc, engine.BuildOptions{}, rec)
	for _, e := range rec.Events() {
		if b := e.(event.BuildStep); b.Status == event.StepCached && strings.Contains(b.Step, "echo in-dev") {
			cached++
		}
	}
	if err != nil || again != id || cached != 1 {
		t.Errorf("rebuild: %s vs %s, %d cached, %v", again, id, cached, err)
	}

	failing := &model.Service{Name: "bad", Image: "devstack-test/" + p.Name + "-bad:1", Build: &model.Build{Context: t.TempDir(),
		Inline: "FROM " + img + "\nRUN echo ok\nRUN echo about to fail; \\\n    echo doomed && exit 3\n"}}
	rec = &event.Recorder{}
	_, err = r.Build(ctx, p, failing, engine.BuildOptions{}, rec)
	var be *BuildError
	if !errors.As(err, &be) || be.Line != 3 || !strings.HasPrefix(be.Command, "RUN echo about to fail") ||
		!strings.Contains(err.Error(), "exit code: 3") || !strings.Contains(err.Error(), "doomed") || be.Dockerfile != "dockerfile_inline" {
		t.Errorf("build error = %v (%+v)", err, be)
	}
	var failed bool
	for _, e := range rec.Events() {
		if b := e.(event.BuildStep); b.Status == event.StepFailed {
			failed = b.DockerfileLine == 3 && len(b.Tail) > 0 && b.Tail[len(b.Tail)-1] == "doomed"
		}
	}
	if !failed {
		t.Errorf("no failed-step event with its line and output: %v", rec.Events())
	}
	if !imageMissing(t, r, failing.Image) {
		t.Errorf("a failed build left %s tagged", failing.Image)
	}
}

// Bad input: each a one-line error naming the service and the field,
// and nothing tagged.
func TestBuildKitBadInput(t *testing.T) {
	t.Parallel()
	r, img := newTestRuntime(t)
	ctx := testCtx(t, 3*time.Minute)
	p := newProject(t)
	p.Secrets["missing"] = model.FileObject{Name: "missing", File: filepath.Join(t.TempDir(), "nope")}
	p.Secrets["unset"] = model.FileObject{Name: "unset", Environment: "DEVSTACK_TEST_UNSET_" + randomHex(4)}
	cases := []struct {
		name   string
		setup  func(b *model.Build)
		inline string
		want   []string
	}{
		{"missing secret file", func(b *model.Build) { b.Secrets = []model.BuildSecret{{Source: "missing", ID: "missing"}} }, "",
			[]string{`service "app": build.secrets: secret "missing": the file`, "does not exist"}},
		{"unset secret variable", func(b *model.Build) { b.Secrets = []model.BuildSecret{{Source: "unset", ID: "unset"}} }, "",
			[]string{`service "app": build.secrets: secret "unset": the variable DEVSTACK_TEST_UNSET_`, "is not set"}},
		{"secret the Dockerfile needs but build.secrets lacks", nil, "FROM " + img + "\nRUN --mount=type=secret,id=npmrc,required=true true\n",
			[]string{`"app"`, `the secret "npmrc", which build.secrets does not offer`}},
		{"ssh key file missing", func(b *model.Build) { b.SSH = []model.SSHKey{{ID: "deploy", Path: "/nonexistent/key"}} }, "",
			[]string{`service "app": build.ssh deploy: /nonexistent/key does not exist`}},
		{"service context that does not exist", func(b *model.Build) { b.AdditionalContexts = map[string]string{"x": "service:nosuch"} }, "",
			[]string{`service "app": build.additional_contexts.x: there is no service "nosuch"`}},
		{"cache_to the engine cannot write", func(b *model.Build) { b.CacheTo = []string{"type=local,dest=/tmp/cache"} }, "",
			[]string{`service "app": build.cache_to: "type=local,dest=/tmp/cache": the engine's builder writes only the inline cache`}},
		{"several platforms", func(b *model.Build) { b.Platforms = []string{"linux/amd64", "linux/arm64"} }, "",
			[]string{`service "app": build.platforms: lists 2 platforms`}},
		{"privileged", func(b *model.Build) { b.Privileged = true }, "",
			[]string{`service "app": build.privileged:`}},
		{"unsupported mount type", nil, "FROM " + img + "\nRUN --mount=type=nosuch,target=/x true\n",
			[]string{`"app"`, "nosuch"}},
		{"syntax line without a registry", nil, "# syntax=devstack-nonexistent.invalid/dockerfile:1\nFROM " + img + "\nRUN true\n",
			[]string{`"app"`, "line 1", "devstack-nonexistent.invalid/dockerfile:1", "remove the line"}},
	}
	for _, c := range cases {
		svc := kitSvc(t, p, "app", t.TempDir(), "FROM "+img+"\nRUN true\n")
		svc.Build.Inline = c.inline
		if c.setup != nil {
			c.setup(svc.Build)
		}
		_, err := r.Build(ctx, p, svc, engine.BuildOptions{}, event.Discard)
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		msg := err.Error()
		if _, ok := err.(*BuildError); !ok && strings.Contains(msg, "\n") {
			t.Errorf("%s: not one line: %s", c.name, msg)
		}
		for _, w := range c.want {
			if !strings.Contains(msg, w) {
				t.Errorf("%s: error lacks %q:\n%s", c.name, w, msg)
			}
		}
		if !imageMissing(t, r, svc.Image) {
			t.Errorf("%s: %s is tagged", c.name, svc.Image)
		}
	}
}

// DOCKER_BUILDKIT=0: the legacy builder, said once; what only BuildKit
// does is refused with the reason.
func TestLegacyBuilderFallback(t *testing.T) {
	t.Setenv("DOCKER_BUILDKIT", "0")
	r, img := newTestRuntime(t)
	ctx := testCtx(t, 3*time.Minute)
	p := newProject(t)
	svc := kitSvc(t, p, "app", t.TempDir(), "FROM "+img+"\nRUN echo legacy\n")
	rec := &event.Recorder{}
	for range 2 {
		if _, err := r.Build(ctx, p, svc, engine.BuildOptions{NoCache: true}, rec); err != nil {
			t.Fatal(err)
		}
	}
	var warnings, classic int
	for _, e := range rec.Events() {
		switch e := e.(type) {
		case event.Warning:
			if strings.Contains(e.Message, "legacy builder") && strings.Contains(e.Message, "DOCKER_BUILDKIT=0") {
				warnings++
			}
		case event.BuildStep:
			if strings.HasSuffix(e.Step, " : RUN echo legacy") && strings.HasPrefix(e.Step, "Step 2/") {
				classic++
			}
		}
	}
	if warnings != 1 || classic == 0 {
		t.Errorf("%d warnings, %d classic steps: %v", warnings, classic, rec.Events())
	}
	svc.Build.SSH = []model.SSHKey{{ID: "default"}}
	_, err := r.Build(ctx, p, svc, engine.BuildOptions{}, event.Discard)
	if err == nil || !strings.Contains(err.Error(), `service "app": build.ssh needs BuildKit`) || !strings.Contains(err.Error(), "DOCKER_BUILDKIT=0") {
		t.Errorf("build.ssh on the legacy builder: %v", err)
	}
}
