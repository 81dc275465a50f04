package docker

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"devstack/engine/event"
	"devstack/engine/model"
)

func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		path := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// tarFiles lists the regular files (and their content) of a tar.
func tarFiles(t *testing.T, data []byte) map[string]string {
	t.Helper()
	out := map[string]string{}
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			b, _ := io.ReadAll(tr)
			out[h.Name] = string(b)
		}
	}
}

func contextTar(t *testing.T, b *model.Build) (*buildContext, map[string]string) {
	t.Helper()
	bc, err := newBuildContext(b)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := bc.write(&buf); err != nil {
		t.Fatal(err)
	}
	return bc, tarFiles(t, buf.Bytes())
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func TestBuildContextHonoursDockerignore(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"Dockerfile":          "FROM scratch\n",
		".dockerignore":       "secret.txt\nnode_modules\nlogs/*.log\n!logs/keep.log\ndocker/\nDockerfile\n",
		"main.go":             "package main",
		"secret.txt":          "hunter2",
		"node_modules/x/y.js": "x",
		"logs/a.log":          "a",
		"logs/keep.log":       "k",
		"docker/other":        "o",
	})
	// A socket cannot go into a build context; it must be skipped.
	if l, err := net.Listen("unix", filepath.Join(dir, "s.sock")); err == nil {
		defer l.Close()
	}
	_, files := contextTar(t, &model.Build{Context: dir})
	want := []string{".dockerignore", "Dockerfile", "logs/keep.log", "main.go"}
	if got := keys(files); !slices.Equal(got, want) {
		t.Errorf("context = %v, want %v", got, want)
	}
}

// A Dockerfile inside an ignored directory still goes: the engine needs it.
func TestBuildContextKeepsIgnoredDockerfile(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"build/Dockerfile.dev": "FROM scratch\n",
		"build/other":          "x",
		".dockerignore":        "build\n",
	})
	bc, files := contextTar(t, &model.Build{Context: dir, Dockerfile: "build/Dockerfile.dev"})
	if bc.dockerfile != "build/Dockerfile.dev" {
		t.Errorf("dockerfile = %q", bc.dockerfile)
	}
	if got := keys(files); !slices.Equal(got, []string{".dockerignore", "build/Dockerfile.dev"}) {
		t.Errorf("context = %v", got)
	}
}

// A Dockerfile outside the context, or inline, travels under a fixed
// name that the .dockerignore sent along hides from COPY.
func TestBuildContextOutsideAndInlineDockerfile(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, map[string]string{"ctx/app.txt": "app", "docker/Dockerfile": "FROM outside\n"})
	bc, files := contextTar(t, &model.Build{Context: filepath.Join(root, "ctx"), Dockerfile: "../docker/Dockerfile"})
	if bc.dockerfile != inlineDockerfile || files[inlineDockerfile] != "FROM outside\n" {
		t.Errorf("outside Dockerfile: name %q, files %v", bc.dockerfile, files)
	}
	if !strings.Contains(files[".dockerignore"], inlineDockerfile) {
		t.Errorf(".dockerignore does not hide the Dockerfile: %q", files[".dockerignore"])
	}
	_, files = contextTar(t, &model.Build{Context: filepath.Join(root, "ctx"), Inline: "FROM inline\n"})
	if files[inlineDockerfile] != "FROM inline\n" || files["app.txt"] != "app" {
		t.Errorf("inline: %v", files)
	}
}

func TestBuildContextErrorsNamePaths(t *testing.T) {
	dir := t.TempDir()
	_, err := newBuildContext(&model.Build{Context: filepath.Join(dir, "nope")})
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "nope")) {
		t.Errorf("missing context: %v", err)
	}
	_, err = newBuildContext(&model.Build{Context: dir, Dockerfile: "Dockerfile.missing"})
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "Dockerfile.missing")) {
		t.Errorf("missing Dockerfile: %v", err)
	}
}

func TestReadBuildStream(t *testing.T) {
	svc := &model.Service{Name: "api", Image: "demo-api"}
	ok := `{"stream":"Step 1/2 : FROM scratch\n"}
{"stream":" ---\u003e abc\n"}
{"stream":"Step 2/2 : COPY . /\n"}
{"stream":" ---\u003e def\n"}
{"aux":{"ID":"sha256:def"}}
{"stream":"Successfully built def\n"}
`
	rec := &event.Recorder{}
	id, err := readBuildStream(strings.NewReader(ok), svc, rec)
	if err != nil || id != "sha256:def" {
		t.Fatalf("id %q err %v", id, err)
	}
	evs := rec.Events()
	if len(evs) != 5 || evs[3].(event.BuildStep).Step != "Step 2/2 : COPY . /" || evs[3].(event.BuildStep).Line != " ---> def" {
		t.Errorf("events = %v", evs)
	}

	failed := `{"stream":"Step 1/2 : FROM scratch\n"}
{"stream":"Step 2/2 : RUN make\n"}
{"stream":"make: *** no rule\n"}
{"errorDetail":{"code":2,"message":"The command '/bin/sh -c make' returned a non-zero code: 2"},"error":"The command '/bin/sh -c make' returned a non-zero code: 2"}
`
	_, err = readBuildStream(strings.NewReader(failed), svc, event.Discard)
	var be *BuildError
	if !errors.As(err, &be) || be.Step != "Step 2/2 : RUN make" {
		t.Fatalf("err = %v", err)
	}
	for _, want := range []string{`"api"`, "Step 2/2 : RUN make", "non-zero code: 2", "make: *** no rule"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}
