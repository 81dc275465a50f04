package load

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestCacheGivesWhatALoadGives: for every fixture that loads, a load
// answered from the cache is the project a fresh load makes.
func TestCacheGivesWhatALoadGives(t *testing.T) {
	dirs, err := filepath.Glob(filepath.Join("..", "..", "testdata", "load", "*"))
	if err != nil {
		t.Fatal(err)
	}
	hits := 0
	for _, dir := range dirs {
		if strings.HasPrefix(filepath.Base(dir), "err-") {
			continue
		}
		dir, _ := filepath.Abs(dir)
		o := Options{WorkDir: dir, Env: []string{"TOKEN=t0ken", "TAG=1"}}
		fresh, err := Load(context.Background(), o)
		if err != nil {
			continue // fixtures that need more options than these
		}
		o.CacheDir = t.TempDir()
		stored, err := Load(context.Background(), o)
		if err != nil {
			t.Fatalf("%s: load to the cache: %v", dir, err)
		}
		got, err := Load(context.Background(), o)
		if err != nil {
			t.Fatalf("%s: load from the cache: %v", dir, err)
		}
		if !reflect.DeepEqual(got, stored) {
			t.Fatalf("%s: the cached project differs:\n got %+v\nwant %+v", dir, got, stored)
		}
		// compose-go logs some warnings once a process (the obsolete
		// version:), so only the first load has them.
		got.Warnings, fresh.Warnings = nil, nil
		if !reflect.DeepEqual(got, fresh) {
			t.Fatalf("%s: the cached project differs from a fresh load:\n got %+v\nwant %+v", dir, got, fresh)
		}
		if entries, _ := os.ReadDir(o.CacheDir); len(entries) == 1 {
			hits++
		}
	}
	if hits < 10 {
		t.Fatalf("only %d fixtures were cached", hits)
	}
}

// TestCacheSeesWhatChanged: every input of a load changed after it was
// cached is seen by the next load; a project that includes another file
// is not cached at all.
func TestCacheSeesWhatChanged(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("compose.yaml", `
services:
  app:
    build: ./app
    image: app:${TAG}
    env_file: [app.env]
    environment:
      FROM_SHELL: ${WHO:-nobody}
`)
	write(".env", "TAG=1\n")
	write("app.env", "MODE=a\n")
	write("app/Dockerfile", "FROM scratch\n")
	cache := t.TempDir()
	load := func(env ...string) (image, mode, who string, err error) {
		t.Helper()
		p, err := Load(context.Background(), Options{WorkDir: dir, Env: env, CacheDir: cache})
		if err != nil {
			return "", "", "", err
		}
		svc, _ := p.Service("app")
		val := func(k string) string {
			if v := svc.Environment[k]; v != nil {
				return *v
			}
			return ""
		}
		return svc.Image, val("MODE"), val("FROM_SHELL"), nil
	}
	check := func(what, wantImage, wantMode, wantWho string, env ...string) {
		t.Helper()
		image, mode, who, err := load(env...)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if image != wantImage || mode != wantMode || who != wantWho {
			t.Fatalf("%s: image %q mode %q who %q, want %q %q %q", what, image, mode, who, wantImage, wantMode, wantWho)
		}
	}
	check("first load", "app:1", "a", "nobody")
	check("from the cache", "app:1", "a", "nobody")
	write(".env", "TAG=2\n")
	check(".env changed", "app:2", "a", "nobody")
	write("app.env", "MODE=b\n")
	check("env_file changed", "app:2", "b", "nobody")
	check("the shell's variable", "app:2", "b", "me", "WHO=me")
	write("compose.yaml", `
services:
  app:
    build: ./app
    image: other:${TAG}
    env_file: [app.env]
`)
	check("compose file changed", "other:2", "b", "")
	if err := os.Remove(filepath.Join(dir, "app", "Dockerfile")); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := load(); err == nil || !strings.Contains(err.Error(), "Dockerfile") {
		t.Fatalf("a Dockerfile gone since the load was cached: %v", err)
	}
	write("app/Dockerfile", "FROM scratch\n")

	// include: never cached, so the included file's change is seen.
	write("compose.yaml", "include: [more.yaml]\n")
	write("more.yaml", "services:\n  app:\n    image: inc:1\n")
	check("included", "inc:1", "", "")
	write("more.yaml", "services:\n  app:\n    image: inc:2\n")
	check("included file changed", "inc:2", "", "")
}

// TestBeforeParseOnlyWhenComposeGoLoads: the hook runs before a load the
// cache cannot answer, and not when it answers.
func TestBeforeParseOnlyWhenComposeGoLoads(t *testing.T) {
	dir, _ := filepath.Abs(filepath.Join("..", "..", "testdata", "bench", "dag20"))
	calls := 0
	o := Options{WorkDir: dir, BeforeParse: func() { calls++ }}
	if _, err := Load(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	if calls != 1 {
		t.Fatalf("a load without a cache called BeforeParse %d times, want 1", calls)
	}
	o.CacheDir = t.TempDir()
	for i, want := range []int{2, 2} { // stored, then answered from the cache
		if _, err := Load(context.Background(), o); err != nil {
			t.Fatal(err)
		}
		if calls != want {
			t.Fatalf("load %d with a cache: BeforeParse called %d times in all, want %d", i+1, calls, want)
		}
	}
}
