package record

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

func TestRecordPersistsAcrossOpens(t *testing.T) {
	dir := t.TempDir()
	r, err := Open(dir, "abc123")
	if err != nil {
		t.Fatal(err)
	}
	must(t, r.Put(map[string]byte{"/app/a": 'f', "/app/d": 'd', "/app/d/x": 'f', "/app/d/e/y": 'f', "/app/l": 'l', "/app/dd": 'd'}))
	must(t, r.Delete([]string{"/app/d", "/app/l"}))
	must(t, r.Close())

	r, err = Open(dir, "abc123")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if !r.Has("/app/a") || r.Has("/app/d") || r.Has("/app/d/x") || r.Has("/app/d/e/y") || r.Has("/app/l") || r.Kind("/app/dd") != 'd' || r.Len() != 2 {
		t.Fatalf("reloaded record is wrong: %v", r.paths)
	}
	must(t, r.Put(map[string]byte{"/app/dd/z": 'f', "/app/ddd": 'f'}))
	got := r.Under("/app/dd")
	if len(got) != 1 || got[0] != "/app/dd/z" {
		t.Fatalf("Under = %v", got)
	}
	must(t, r.Replace(map[string]byte{"/srv/n": 'f'}))
	r.Close()
	r2, _ := Open(dir, "abc123")
	defer r2.Close()
	if r2.Len() != 1 || !r2.Has("/srv/n") {
		t.Fatalf("after Replace: %v", r2.paths)
	}
}

func TestTornLogLineIsIgnored(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "id.rec"), []byte("+f/app/a\x00+f/app/b\x00+f/app/tor"), 0o600)
	r, err := Open(dir, "id")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var got []string
	for p := range r.paths {
		got = append(got, p)
	}
	sort.Strings(got)
	if strings.Join(got, ",") != "/app/a,/app/b" {
		t.Fatalf("got %v", got)
	}
}

func TestCompactionKeepsTheLogSmall(t *testing.T) {
	dir := t.TempDir()
	r, _ := Open(dir, "id")
	defer r.Close()
	for i := 0; i < 3000; i++ {
		must(t, r.Put(map[string]byte{"/app/same": 'f'}))
	}
	fi, _ := os.Stat(filepath.Join(dir, "id.rec"))
	if fi.Size() > 20000 {
		t.Fatalf("log grew to %d bytes for one path", fi.Size())
	}
}

func TestInMemoryAndBadIDs(t *testing.T) {
	r, err := Open("", "whatever")
	if err != nil {
		t.Fatal(err)
	}
	must(t, r.Put(map[string]byte{"/a": 'f'}))
	if !r.Has("/a") {
		t.Fatal("in-memory record lost a path")
	}
	if _, err := Open(t.TempDir(), "../escape"); err == nil {
		t.Fatal("an id with a path separator must be refused")
	}
}

func TestPrune(t *testing.T) {
	dir := t.TempDir()
	old := filepath.Join(dir, "old.rec")
	fresh := filepath.Join(dir, "fresh.rec")
	os.WriteFile(old, nil, 0o600)
	os.WriteFile(fresh, nil, 0o600)
	past := time.Now().Add(-40 * 24 * time.Hour)
	os.Chtimes(old, past, past)
	Prune(dir, 30*24*time.Hour)
	if _, err := os.Stat(old); !os.IsNotExist(err) {
		t.Fatal("old record kept")
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Fatal("fresh record removed")
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// A link planted where the record writes its snapshot (the fixed name
// `<id>.rec.tmp` it once used, or the record itself) is not followed:
// the file it points to is left as it was.
func TestASnapshotDoesNotWriteThroughALink(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(t.TempDir(), "precious")
	if err := os.WriteFile(victim, []byte("the user's own file"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(victim, filepath.Join(dir, "id.rec.tmp")); err != nil {
		t.Fatal(err)
	}
	r, err := Open(dir, "id")
	if err == nil {
		must(t, r.Replace(map[string]byte{"/app/a": 'f'}))
		must(t, r.Close())
	}
	if b, _ := os.ReadFile(victim); string(b) != "the user's own file" {
		t.Fatalf("the snapshot wrote through a planted link: the target now holds %q", b)
	}

	// A link in place of the record: not read, not appended to.
	dir = t.TempDir()
	if err := os.Symlink(victim, filepath.Join(dir, "id.rec")); err != nil {
		t.Fatal(err)
	}
	if r, err := Open(dir, "id"); err == nil {
		r.Put(map[string]byte{"/app/b": 'f'})
		r.Close()
	}
	if b, _ := os.ReadFile(victim); string(b) != "the user's own file" {
		t.Fatalf("the record wrote through a link: the target now holds %q", b)
	}
}

// Snapshots are written under unique names, synced and renamed: none is
// left beside the record, and the record and its directory are private.
func TestSnapshotsLeaveNoTemporaryFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "sync", "shop")
	r, err := Open(dir, "id")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		must(t, r.Replace(map[string]byte{fmt.Sprintf("/app/%d", i): 'f'}))
	}
	must(t, r.Close())
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != "id.rec" {
		t.Fatalf("files beside the record: %v", entries)
	}
	for _, p := range []string{dir, filepath.Dir(dir)} {
		if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o700 {
			t.Errorf("%s is %v, want 0700", p, fi.Mode().Perm())
		}
	}
	if fi, _ := os.Stat(filepath.Join(dir, "id.rec")); fi.Mode().Perm() != 0o600 {
		t.Errorf("the record is %v, want 0600", fi.Mode().Perm())
	}
}
