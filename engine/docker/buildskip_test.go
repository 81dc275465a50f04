package docker

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"devstack/engine"
	"devstack/engine/event"
	"devstack/engine/model"
)

// The package's tests keep devstack's state (the build-input records)
// in a directory of their own, never the user's.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "devstack-docker-test-state-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Setenv("XDG_STATE_HOME", dir)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// buildOutcome is what one build did: skipped as up to date, or the
// number of steps the builder reported.
type buildOutcome struct {
	id       string
	upToDate bool
	steps    int
}

func (o buildOutcome) String() string {
	return fmt.Sprintf("image %.19s, up to date %v, %d builder steps", o.id, o.upToDate, o.steps)
}

// A build whose inputs did not change is not sent to the builder; an
// edit, a rebuilt base image, a retagged image, a touched-only file and
// --no-cache each get what they should.
func TestBuildKitSkipsUnchangedBuild(t *testing.T) {
	t.Parallel()
	r, img := newTestRuntime(t)
	ctx := testCtx(t, 4*time.Minute)
	p := newProject(t)
	base := kitSvc(t, p, "base", t.TempDir(), "FROM "+img+"\nRUN echo "+randomHex(8)+" > /base-nonce\n")
	dir := t.TempDir()
	app := kitSvc(t, p, "app", dir, "FROM "+base.Image+"\nCOPY . /app\nRUN cat /app/main.txt\n")
	writeTree(t, dir, map[string]string{"main.txt": "one", ".dockerignore": "ignored.txt\n"})

	build := func(svcName string, o engine.BuildOptions) buildOutcome {
		t.Helper()
		svc := app
		if svcName == "base" {
			svc = base
		}
		rec := &event.Recorder{}
		id, err := r.Build(ctx, p, svc, o, rec)
		if err != nil {
			t.Fatalf("build %s: %v", svcName, err)
		}
		out := buildOutcome{id: id}
		for _, e := range rec.Events() {
			b := e.(event.BuildStep)
			switch b.Status {
			case event.StepUpToDate:
				out.upToDate = true
			case event.StepDone, event.StepCached:
				out.steps++
			}
		}
		return out
	}
	sent := func(what string, o buildOutcome) {
		t.Helper()
		if o.upToDate || o.steps == 0 {
			t.Fatalf("%s: the build was not sent to the builder: %s", what, o)
		}
	}
	skipped := func(what string, o buildOutcome, want string) {
		t.Helper()
		if !o.upToDate || o.steps != 0 || o.id != want {
			t.Fatalf("%s: want up to date with image %.19s, got %s", what, want, o)
		}
	}

	build("base", engine.BuildOptions{})
	first := build("app", engine.BuildOptions{})
	sent("first build", first)
	skipped("nothing changed", build("app", engine.BuildOptions{}), first.id)

	then := time.Now().Add(-time.Hour)
	if err := os.Chtimes(filepath.Join(dir, "main.txt"), then, then); err != nil {
		t.Fatal(err)
	}
	writeTree(t, dir, map[string]string{"ignored.txt": "not sent"})
	skipped("a touch and an ignored file", build("app", engine.BuildOptions{}), first.id)

	writeTree(t, dir, map[string]string{"main.txt": "two"})
	edited := build("app", engine.BuildOptions{})
	sent("an edit", edited)
	if edited.id == first.id {
		t.Fatalf("an edit built the same image %s", edited.id)
	}
	skipped("nothing changed after the edit", build("app", engine.BuildOptions{}), edited.id)

	// The base image rebuilt with other content: a new ID under the same
	// tag, so the app is built on it.
	writeTree(t, base.Build.Context, map[string]string{"Dockerfile": "FROM " + img + "\nRUN echo " + randomHex(8) + " > /base-nonce\n"})
	sent("the base image rebuilt", build("base", engine.BuildOptions{}))
	onNewBase := build("app", engine.BuildOptions{})
	sent("the app on a rebuilt base", onNewBase)
	if onNewBase.id == edited.id {
		t.Fatal("the app on a rebuilt base kept its image")
	}

	// Someone else's image under the app's tag: built again.
	if _, err := r.api.ImageTag(ctx, client.ImageTagOptions{Source: base.Image, Target: app.Image}); err != nil {
		t.Fatal(err)
	}
	sent("the tag moved to another image", build("app", engine.BuildOptions{}))

	sent("--no-cache", build("app", engine.BuildOptions{NoCache: true}))

	// An extra tag missing: built (which tags it).
	extra := "devstack-test/" + p.Name + "-extra:1"
	sent("a missing extra tag", build("app", engine.BuildOptions{Tags: []string{extra}}))
	skipped("with the extra tag there", build("app", engine.BuildOptions{Tags: []string{extra}}), mustImageID(t, r, app.Image))
	if _, err := r.api.ImageRemove(ctx, extra, client.ImageRemoveOptions{}); err != nil {
		t.Fatal(err)
	}
	sent("the extra tag removed", build("app", engine.BuildOptions{Tags: []string{extra}}))
}

func mustImageID(t *testing.T, r *Runtime, ref string) string {
	t.Helper()
	id, ok := r.localImage(testCtx(t, 30*time.Second), ref)
	if !ok {
		t.Fatalf("image %s is not here", ref)
	}
	return id
}

// TestMeasureLargeContextNoChange puts on record what recognising an
// unchanged build costs on a large tree (50,000 files), beside what the
// builder's own fully cached build of it costs: the skip must stay well
// below the builder, or large contexts would be better sent.
// Run with DEVSTACK_BUILD_MEASURE=1 (it writes 50,000 files).
func TestMeasureLargeContextNoChange(t *testing.T) {
	if os.Getenv("DEVSTACK_BUILD_MEASURE") == "" {
		t.Skip("set DEVSTACK_BUILD_MEASURE=1 to measure")
	}
	r, img := newTestRuntime(t)
	ctx := testCtx(t, 15*time.Minute)
	p := newProject(t)
	dir := t.TempDir()
	const dirs, perDir = 500, 100
	content := make([]byte, 256)
	for d := 0; d < dirs; d++ {
		sub := filepath.Join(dir, "src", fmt.Sprintf("d%03d", d))
		if err := os.MkdirAll(sub, 0o755); err != nil {
			t.Fatal(err)
		}
		for f := 0; f < perDir; f++ {
			copy(content, fmt.Sprintf("file %d/%d ", d, f))
			if err := os.WriteFile(filepath.Join(sub, fmt.Sprintf("f%03d", f)), content, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	svc := kitSvc(t, p, "big", dir, "FROM "+img+"\nCOPY . /app\nRUN ls -R /app | wc -l\n")
	median := func(ds []time.Duration) time.Duration {
		s := slices.Clone(ds)
		slices.Sort(s)
		return s[len(s)/2]
	}
	// The digest: cold (every file read), then warm (nothing read).
	start := time.Now()
	in := r.buildInputs(ctx, p, svc, engine.BuildOptions{})
	cold := time.Since(start)
	if in.why != "" {
		t.Fatalf("not skippable: %s", in.why)
	}
	// The builder: a first build, then fully cached builds sent anyway.
	if _, err := r.Build(ctx, p, svc, engine.BuildOptions{}, event.Discard); err != nil {
		t.Fatal(err)
	}
	// The files were written moments before the cold digest read them:
	// read again now that they are older than buildinputs.Racy, their
	// sums are trusted from here on.
	r.buildInputs(ctx, p, svc, engine.BuildOptions{})
	var warm, builder, skip []time.Duration
	for i := 0; i < 3; i++ {
		start = time.Now()
		in = r.buildInputs(ctx, p, svc, engine.BuildOptions{})
		warm = append(warm, time.Since(start))
		if in.stats.Read != 0 {
			t.Errorf("warm digest read %d files", in.stats.Read)
		}

		k, err := r.prepareKit(ctx, p, svc, engine.BuildOptions{}, event.Discard)
		if err != nil {
			t.Fatal(err)
		}
		start = time.Now()
		_, err = r.runKit(ctx, k, event.Discard)
		builder = append(builder, time.Since(start))
		k.close()
		if err != nil {
			t.Fatal(err)
		}

		rec := &event.Recorder{}
		start = time.Now()
		if _, err := r.Build(ctx, p, svc, engine.BuildOptions{}, rec); err != nil {
			t.Fatal(err)
		}
		skip = append(skip, time.Since(start))
	}
	t.Logf("%d files: digest cold %v (read %d files, %d bytes); warm %v (median of 3); the builder's fully cached build %v; Build skipped as up to date %v",
		in.stats.Entries, cold.Round(time.Millisecond), dirs*perDir, dirs*perDir*len(content), median(warm).Round(time.Millisecond),
		median(builder).Round(time.Millisecond), median(skip).Round(time.Millisecond))
	// What the user pays for the skip (the digest, the inspections, the
	// record) must stay well below the build it spares, even this large.
	if median(skip)*2 > median(builder) {
		t.Errorf("a skipped build (%v) is not well below the builder's cached build (%v): large contexts should be sent", median(skip), median(builder))
	}
}

// Additional contexts are inputs too: an edit in a directory context or
// a rebuilt service: context builds again, nothing else does.
func TestBuildKitSkipWithAdditionalContexts(t *testing.T) {
	t.Parallel()
	r, img := newTestRuntime(t)
	ctx := testCtx(t, 4*time.Minute)
	p := newProject(t)
	base := kitSvc(t, p, "base", t.TempDir(), "FROM "+img+"\nRUN echo "+randomHex(8)+" > /base.txt\n")
	shared := t.TempDir()
	writeTree(t, shared, map[string]string{"shared.txt": "one"})
	app := kitSvc(t, p, "app", t.TempDir(), "FROM "+img+"\nCOPY --from=basectx /base.txt /base.txt\nCOPY --from=shared / /shared/\n")
	app.Build.AdditionalContexts = map[string]string{"basectx": "service:base", "shared": shared}
	p.Services = []model.Service{*app, *base}

	build := func(svc *model.Service) (string, bool) {
		t.Helper()
		rec := &event.Recorder{}
		id, err := r.Build(ctx, p, svc, engine.BuildOptions{}, rec)
		if err != nil {
			t.Fatalf("build %s: %v", svc.Name, err)
		}
		for _, e := range rec.Events() {
			if e.(event.BuildStep).Status == event.StepUpToDate {
				return id, true
			}
		}
		return id, false
	}
	build(base)
	first, skipped := build(app)
	if skipped {
		t.Fatal("the first build was skipped")
	}
	if again, skipped := build(app); !skipped || again != first {
		t.Fatalf("nothing changed: skipped %v, image %s (was %s)", skipped, again, first)
	}
	writeTree(t, shared, map[string]string{"shared.txt": "two"})
	edited, skipped := build(app)
	if skipped || edited == first {
		t.Fatalf("an edit in the directory context: skipped %v, image %s (was %s)", skipped, edited, first)
	}
	writeTree(t, base.Build.Context, map[string]string{"Dockerfile": "FROM " + img + "\nRUN echo " + randomHex(8) + " > /base.txt\n"})
	build(base)
	if onNewBase, skipped := build(app); skipped || onNewBase == edited {
		t.Fatalf("the service: context rebuilt: skipped %v, image %s (was %s)", skipped, onNewBase, edited)
	}
}

// The digest moves with every input of a build, and what may change
// without a local edit is never skipped. FROM scratch: no engine needed.
func TestBuildInputsDigest(t *testing.T) {
	r := &Runtime{host: "unix:///test.sock"}
	newCase := func(t *testing.T) (*model.Project, *model.Service) {
		dir := t.TempDir()
		writeTree(t, dir, map[string]string{"Dockerfile": "FROM scratch\nCOPY . /\n", "a.txt": "a", ".dockerignore": "skip.txt\n"})
		p := &model.Project{Name: "proj"}
		return p, &model.Service{Name: "app", Image: "proj-app", Build: &model.Build{Context: dir, Dockerfile: "Dockerfile"}}
	}
	digest := func(t *testing.T, p *model.Project, svc *model.Service, o engine.BuildOptions) inputs {
		t.Helper()
		return r.buildInputs(context.Background(), p, svc, o)
	}
	p, svc := newCase(t)
	base := digest(t, p, svc, engine.BuildOptions{})
	if base.why != "" || base.digest == "" {
		t.Fatalf("not skippable: %s", base.why)
	}
	if again := digest(t, p, svc, engine.BuildOptions{}); again.digest != base.digest {
		t.Fatal("the same inputs gave another digest")
	}
	s := func(v string) *string { return &v }
	moves := []struct {
		name   string
		change func(t *testing.T, p *model.Project, svc *model.Service, o *engine.BuildOptions)
	}{
		{"a build argument", func(t *testing.T, p *model.Project, svc *model.Service, o *engine.BuildOptions) {
			svc.Build.Args = map[string]*string{"V": s("1")}
		}},
		{"the target", func(t *testing.T, p *model.Project, svc *model.Service, o *engine.BuildOptions) {
			svc.Build.Target = "dev"
		}},
		{"the project", func(t *testing.T, p *model.Project, svc *model.Service, o *engine.BuildOptions) { p.Name = "other" }},
		{"the service", func(t *testing.T, p *model.Project, svc *model.Service, o *engine.BuildOptions) { svc.Name = "other" }},
		{"the image", func(t *testing.T, p *model.Project, svc *model.Service, o *engine.BuildOptions) {
			svc.Image = "proj-other"
		}},
		{"the platform", func(t *testing.T, p *model.Project, svc *model.Service, o *engine.BuildOptions) {
			svc.Platform = "linux/arm64"
		}},
		{"an extra tag", func(t *testing.T, p *model.Project, svc *model.Service, o *engine.BuildOptions) {
			o.Tags = []string{"x:1"}
		}},
		{"the Dockerfile", func(t *testing.T, p *model.Project, svc *model.Service, o *engine.BuildOptions) {
			writeTree(t, svc.Build.Context, map[string]string{"Dockerfile": "FROM scratch\nCOPY a.txt /\n"})
		}},
		{"the .dockerignore", func(t *testing.T, p *model.Project, svc *model.Service, o *engine.BuildOptions) {
			writeTree(t, svc.Build.Context, map[string]string{".dockerignore": "other.txt\n"})
		}},
		{"a file", func(t *testing.T, p *model.Project, svc *model.Service, o *engine.BuildOptions) {
			writeTree(t, svc.Build.Context, map[string]string{"a.txt": "b"})
		}},
		{"an inline Dockerfile", func(t *testing.T, p *model.Project, svc *model.Service, o *engine.BuildOptions) {
			svc.Build.Inline = "FROM scratch\nCOPY . /\n"
		}},
		{"a directory context", func(t *testing.T, p *model.Project, svc *model.Service, o *engine.BuildOptions) {
			dir := t.TempDir()
			writeTree(t, dir, map[string]string{"x": "1"})
			svc.Build.AdditionalContexts = map[string]string{"x": dir}
		}},
	}
	for _, m := range moves {
		t.Run(m.name, func(t *testing.T) {
			p, svc := newCase(t)
			var o engine.BuildOptions
			before := digest(t, p, svc, o)
			m.change(t, p, svc, &o)
			after := digest(t, p, svc, o)
			if after.why != "" || after.digest == before.digest {
				t.Errorf("digest did not move (%s; why %q)", after.digest, after.why)
			}
		})
	}
	t.Run("an ignored file", func(t *testing.T) {
		p, svc := newCase(t)
		before := digest(t, p, svc, engine.BuildOptions{})
		writeTree(t, svc.Build.Context, map[string]string{"skip.txt": "x"})
		if after := digest(t, p, svc, engine.BuildOptions{}); after.digest != before.digest {
			t.Error("an ignored file moved the digest")
		}
	})

	never := []struct {
		name   string
		change func(t *testing.T, svc *model.Service, o *engine.BuildOptions)
	}{
		{"--no-cache", func(t *testing.T, svc *model.Service, o *engine.BuildOptions) { o.NoCache = true }},
		{"no_cache_filter", func(t *testing.T, svc *model.Service, o *engine.BuildOptions) {
			svc.Build.NoCacheFilter = []string{"x"}
		}},
		{"--pull", func(t *testing.T, svc *model.Service, o *engine.BuildOptions) { o.Pull = true }},
		{"pull: true", func(t *testing.T, svc *model.Service, o *engine.BuildOptions) { svc.Build.Pull = true }},
		{"a # syntax= line", func(t *testing.T, svc *model.Service, o *engine.BuildOptions) {
			writeTree(t, svc.Build.Context, map[string]string{"Dockerfile": "# syntax=docker/dockerfile:1\nFROM scratch\n"})
		}},
		{"ADD of a URL", func(t *testing.T, svc *model.Service, o *engine.BuildOptions) {
			writeTree(t, svc.Build.Context, map[string]string{"Dockerfile": "FROM scratch\nADD https://example.com/a /a\n"})
		}},
		{"a git context", func(t *testing.T, svc *model.Service, o *engine.BuildOptions) {
			svc.Build.Context = "https://github.com/o/r.git"
		}},
		{"a Dockerfile-specific .dockerignore", func(t *testing.T, svc *model.Service, o *engine.BuildOptions) {
			writeTree(t, svc.Build.Context, map[string]string{"Dockerfile.dockerignore": "a.txt\n"})
		}},
		{"an unreadable context", func(t *testing.T, svc *model.Service, o *engine.BuildOptions) {
			svc.Build.Context = filepath.Join(svc.Build.Context, "missing")
		}},
	}
	for _, n := range never {
		t.Run("never: "+n.name, func(t *testing.T) {
			p, svc := newCase(t)
			var o engine.BuildOptions
			n.change(t, svc, &o)
			if in := digest(t, p, svc, o); in.why == "" {
				t.Errorf("skippable (%s)", in.digest)
			}
		})
	}
}
