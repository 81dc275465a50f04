package sync

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"devstack/engine/model"
)

// SourcesDigest moves with what a fill would send (an edit, a new file, a
// deletion) and only with that: an ignored file, or a rule that is not
// made from a bind mount, leaves it as it was.
func TestSourcesDigest(t *testing.T) {
	dir := t.TempDir()
	src, other := filepath.Join(dir, "src"), filepath.Join(dir, "other")
	write := func(p, s string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		// Older than racyWindow: a fresh file makes every digest unique.
		old := time.Now().Add(-time.Hour)
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(src, "a.txt"), "a")
	write(filepath.Join(src, "sub", "b.txt"), "b")
	write(filepath.Join(src, ".dockerignore"), "*.log\n")
	write(filepath.Join(other, "c.txt"), "c")
	p := &model.Project{Name: "digest", WorkingDir: dir, Services: []model.Service{{Name: "app", Watch: []model.WatchRule{
		{Path: src, Action: model.WatchSync, Target: "/app", IgnoreFile: filepath.Join(src, ".dockerignore"), FromBind: true},
		{Path: other, Action: model.WatchSync, Target: "/other"},
	}}, {Name: "plain", Watch: []model.WatchRule{{Path: other, Action: model.WatchSync, Target: "/other"}}}}}
	o := Options{Project: p, Engine: unusedEngine{}}
	digest := func() string {
		t.Helper()
		d, err := SourcesDigest(o, "app")
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	first := digest()
	if first == "" || digest() != first {
		t.Fatalf("digest %q, then %q: not stable", first, digest())
	}
	if d, err := SourcesDigest(o, "plain"); err != nil || d != "" {
		t.Errorf("a service without rules from binds: %q, %v", d, err)
	}
	write(filepath.Join(src, "debug.log"), "ignored")
	write(filepath.Join(other, "c.txt"), "not from a bind")
	if digest() != first {
		t.Errorf("an ignored file, or a file of another rule, changed the digest")
	}
	later := time.Now().Add(-30 * time.Minute)
	if err := os.Chtimes(filepath.Join(src, "a.txt"), later, later); err != nil {
		t.Fatal(err)
	}
	edited := digest()
	if edited == first {
		t.Errorf("a file touched: the digest did not move")
	}
	if err := os.Remove(filepath.Join(src, "sub", "b.txt")); err != nil {
		t.Fatal(err)
	}
	if d := digest(); d == edited {
		t.Errorf("a file deleted: the digest did not move")
	}
	deleted := digest()
	if digest() != deleted {
		t.Fatalf("the digest after the deletion is not stable")
	}
	// Modified just now: a same-size edit within the same mtime tick could
	// follow unseen, so no two digests match until the file is older.
	if err := os.WriteFile(filepath.Join(src, "a.txt"), []byte("A"), 0o644); err != nil {
		t.Fatal(err)
	}
	if racy := digest(); racy == deleted || digest() == racy {
		t.Errorf("a file modified just now: digests %q then %q, want each unique", racy, digest())
	}
}
