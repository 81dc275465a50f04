package buildinputs

import (
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"sync"
	"testing"
	"time"
)

func write(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// tree is a small context: files, a subdirectory, a link and an excluded
// directory.
func tree(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	write(t, dir, map[string]string{
		"Dockerfile":      "FROM x\n",
		"main.go":         "package main\n",
		"src/a.go":        "package src // a\n",
		"src/b.go":        "package src // b\n",
		"node_modules/m":  "ignored\n",
		"logs/debug.log":  "ignored\n",
		"logs/keep.log":   "kept by a ! pattern\n",
		"docs/README.txt": "read me\n",
	})
	if err := os.Symlink("main.go", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	return dir
}

var excludes = []string{"node_modules", "logs", "!logs/keep.log"}

func digest(t *testing.T, h *Hasher, dir string) (string, Stats) {
	t.Helper()
	sum, st, err := h.Tree(dir, excludes)
	if err != nil {
		t.Fatal(err)
	}
	return sum, st
}

// Every input a build reads changes the digest; what .dockerignore
// leaves out does not.
func TestTreeDigestFollowsEveryInput(t *testing.T) {
	cases := []struct {
		name    string
		change  func(t *testing.T, dir string)
		changes bool
	}{
		{"content, other size", func(t *testing.T, dir string) {
			write(t, dir, map[string]string{"src/a.go": "package src // a, longer\n"})
		}, true},
		{"content, same size", func(t *testing.T, dir string) { write(t, dir, map[string]string{"src/a.go": "package src // A\n"}) }, true},
		{"a new file", func(t *testing.T, dir string) { write(t, dir, map[string]string{"src/c.go": ""}) }, true},
		{"a file removed", func(t *testing.T, dir string) { must(t, os.Remove(filepath.Join(dir, "src/b.go"))) }, true},
		{"a file renamed", func(t *testing.T, dir string) {
			must(t, os.Rename(filepath.Join(dir, "src/b.go"), filepath.Join(dir, "src/c.go")))
		}, true},
		{"a mode", func(t *testing.T, dir string) { must(t, os.Chmod(filepath.Join(dir, "main.go"), 0o755)) }, true},
		{"an empty directory", func(t *testing.T, dir string) { must(t, os.Mkdir(filepath.Join(dir, "empty"), 0o755)) }, true},
		{"a link's target", func(t *testing.T, dir string) {
			must(t, os.Remove(filepath.Join(dir, "link")))
			must(t, os.Symlink("src/a.go", filepath.Join(dir, "link")))
		}, true},
		{"a file a ! pattern keeps", func(t *testing.T, dir string) { write(t, dir, map[string]string{"logs/keep.log": "changed\n"}) }, true},
		{"the Dockerfile", func(t *testing.T, dir string) { write(t, dir, map[string]string{"Dockerfile": "FROM y\n"}) }, true},
		{"an ignored file", func(t *testing.T, dir string) { write(t, dir, map[string]string{"node_modules/m": "other\n"}) }, false},
		{"an ignored file in a kept directory", func(t *testing.T, dir string) {
			write(t, dir, map[string]string{"logs/debug.log": "other, longer\n"})
		}, false},
		{"an mtime", func(t *testing.T, dir string) {
			later := time.Now().Add(-time.Hour)
			must(t, os.Chtimes(filepath.Join(dir, "main.go"), later, later))
		}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := &Hasher{Dir: t.TempDir()}
			dir := tree(t)
			before, _ := digest(t, h, dir)
			c.change(t, dir)
			after, _ := digest(t, h, dir)
			if (before != after) != c.changes {
				t.Errorf("digest %s -> %s; want changed=%v", before, after, c.changes)
			}
			// The cache gives what reading everything gives.
			fresh, _ := digest(t, &Hasher{}, dir)
			if fresh != after {
				t.Errorf("with the cache %s, without %s", after, fresh)
			}
		})
	}
}

// The cache spares reading files whose metadata did not move, once they
// have been still for longer than Racy; a touched file is read again and
// the digest stays.
func TestTreeReadsOnlyWhatChanged(t *testing.T) {
	dir := tree(t)
	later := time.Now().Add(10 * time.Second) // files written now are old news by then
	h := &Hasher{Dir: t.TempDir(), Now: func() time.Time { return later }}
	first, st := digest(t, h, dir)
	if st.Read != 6 {
		t.Fatalf("first digest read %d files, want 6 (%+v)", st.Read, st)
	}
	second, st := digest(t, h, dir)
	if second != first || st.Read != 0 {
		t.Fatalf("second digest: %s (was %s), read %d files, want 0", second, first, st.Read)
	}
	then := time.Now().Add(-time.Hour)
	must(t, os.Chtimes(filepath.Join(dir, "src/a.go"), then, then))
	third, st := digest(t, h, dir)
	if third != first || st.Read != 1 {
		t.Fatalf("after a touch: %s (was %s), read %d files, want 1", third, first, st.Read)
	}
}

// A file changed in the same tick as it was read, to the same size, with
// its mtime put back, is still seen: a sum read within Racy of the file's
// change is not trusted.
func TestTreeSeesSameSecondSameSizeEdit(t *testing.T) {
	dir := tree(t)
	h := &Hasher{Dir: t.TempDir()}
	first, st := digest(t, h, dir)
	if st.Read != 6 {
		t.Fatalf("read %d files", st.Read)
	}
	p := filepath.Join(dir, "src/a.go")
	fi, err := os.Stat(p)
	must(t, err)
	write(t, dir, map[string]string{"src/a.go": "package src // A\n"}) // same size
	must(t, os.Chtimes(p, fi.ModTime(), fi.ModTime()))
	second, _ := digest(t, h, dir)
	if second == first {
		t.Fatal("an edit of the same size with the same mtime left the digest as it was")
	}
}

// The recency rule on its own: same metadata, read less than Racy after
// the change, is not trusted; read later, it is.
func TestEntryTrustedOnlyWhenReadAfterRacy(t *testing.T) {
	mtime := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixNano()
	e := entry{size: 10, mtime: mtime, ctime: mtime, ino: 7, read: mtime + int64(time.Second)}
	if e.trusted(10, mtime, mtime, 7) {
		t.Error("a sum read 1s after the change was trusted")
	}
	e.read = mtime + int64(3*time.Second)
	if !e.trusted(10, mtime, mtime, 7) {
		t.Error("a sum read 3s after the change was not trusted")
	}
	for _, c := range []struct {
		size, mtime, ctime int64
		ino                uint64
	}{{11, mtime, mtime, 7}, {10, mtime + 1, mtime, 7}, {10, mtime, mtime + 1, 7}, {10, mtime, mtime, 8}} {
		if e.trusted(c.size, c.mtime, c.ctime, c.ino) {
			t.Errorf("trusted with other metadata %+v", c)
		}
	}
}

// A damaged cache file is ignored, not trusted.
func TestTreeDamagedCache(t *testing.T) {
	dir := tree(t)
	cache := t.TempDir()
	h := &Hasher{Dir: cache, Now: func() time.Time { return time.Now().Add(10 * time.Second) }}
	first, _ := digest(t, h, dir)
	files, _ := os.ReadDir(cache)
	if len(files) != 1 {
		t.Fatalf("%d cache files", len(files))
	}
	p := filepath.Join(cache, files[0].Name())
	data, _ := os.ReadFile(p)
	must(t, os.WriteFile(p, data[:len(data)-5], 0o600))
	again, st := digest(t, h, dir)
	if again != first || st.Read != 6 {
		t.Errorf("with a damaged cache: %s (was %s), read %d", again, first, st.Read)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// Prune forgets caches not written for long, and nothing else.
func TestPrune(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, map[string]string{"0123abcd": "old", "89abcdef": "new", "notes.txt": "not ours"})
	old := time.Now().Add(-2 * Forget)
	must(t, os.Chtimes(filepath.Join(dir, "0123abcd"), old, old))
	must(t, os.Chtimes(filepath.Join(dir, "notes.txt"), old, old))
	Prune(dir, Forget)
	for name, want := range map[string]bool{"0123abcd": false, "89abcdef": true, "notes.txt": true} {
		if _, err := os.Stat(filepath.Join(dir, name)); (err == nil) != want {
			t.Errorf("%s: kept=%v, want %v", name, err == nil, want)
		}
	}
}

// The parallel walk the digest uses visits exactly what Walk (the tar
// of the legacy builder) visits, whatever the patterns.
func TestParallelWalkVisitsWhatWalkVisits(t *testing.T) {
	dir := tree(t)
	write(t, dir, map[string]string{"a/b/c/d.txt": "", "a/b/e.txt": "", "a/x.tmp": "", "z/y/x.tmp": "", "logs/deep/keep.log": ""})
	for _, ex := range [][]string{nil, excludes, {"**/*.tmp", "a/b", "!a/b/c"}, {"*", "!src"}} {
		want := map[string]bool{}
		must(t, Walk(dir, ex, func(_, rel string, _ fs.DirEntry) error { want[rel] = true; return nil }))
		got := map[string]bool{}
		var mu sync.Mutex
		must(t, parallelWalk(dir, ex, func(_, rel string, _ fs.FileInfo) error {
			mu.Lock()
			defer mu.Unlock()
			if got[rel] {
				t.Errorf("%v: %s visited twice", ex, rel)
			}
			got[rel] = true
			return nil
		}))
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%v: parallel walk visited %v, Walk %v", ex, keys(got), keys(want))
		}
	}
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
