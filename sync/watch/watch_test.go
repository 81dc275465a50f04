package watch

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// seen collects reported paths and lets a test wait for one.
type seen struct {
	mu    sync.Mutex
	paths map[string]bool
	ch    chan struct{}
	over  int
	errs  []error
}

func newSeen() *seen { return &seen{paths: map[string]bool{}, ch: make(chan struct{}, 1)} }

func (s *seen) change(p string, _ bool) {
	s.mu.Lock()
	s.paths[p] = true
	s.mu.Unlock()
	select {
	case s.ch <- struct{}{}:
	default:
	}
}

func (s *seen) has(p string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.paths[p]
}

func (s *seen) reset() {
	s.mu.Lock()
	s.paths = map[string]bool{}
	s.mu.Unlock()
}

// wait blocks until every path was reported, or fails after a deadline.
func (s *seen) wait(t *testing.T, paths ...string) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		missing := ""
		for _, p := range paths {
			if !s.has(p) {
				missing = p
				break
			}
		}
		if missing == "" {
			return
		}
		select {
		case <-s.ch:
		case <-deadline:
			t.Fatalf("%s was never reported", missing)
		}
	}
}

func start(t *testing.T, roots []string, skip func(string) bool) (*Watcher, *seen) {
	t.Helper()
	s := newSeen()
	w, err := Start(Options{Roots: roots, SkipDir: skip, OnChange: s.change, force: testForce, Every: testEvery,
		OnOverflow: func() { s.mu.Lock(); s.over++; s.mu.Unlock() },
		OnError:    func(err error) { s.mu.Lock(); s.errs = append(s.errs, err); s.mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w, s
}

func write(t *testing.T, p, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestFollowsDirectoriesCreatedLater(t *testing.T) {
	dir := t.TempDir()
	w, s := start(t, []string{dir}, nil)
	// mkdir -p and a file at once: the file may exist before the watch.
	write(t, filepath.Join(dir, "a", "b", "c", "f.txt"), "x")
	s.wait(t, filepath.Join(dir, "a"), filepath.Join(dir, "a", "b", "c", "f.txt"))
	// Once the watch is there, later files are seen too.
	deadline := time.Now().Add(10 * time.Second)
	for w.Watched() < 4 && time.Now().Before(deadline) {
		<-time.After(time.Millisecond)
	}
	write(t, filepath.Join(dir, "a", "b", "c", "g.txt"), "x")
	s.wait(t, filepath.Join(dir, "a", "b", "c", "g.txt"))
}

func TestAtomicSave(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "main.go")
	write(t, target, "v1")
	_, s := start(t, []string{dir}, nil)
	for i := 0; i < 3; i++ {
		s.reset()
		tmp := filepath.Join(dir, ".main.go.tmp123")
		write(t, tmp, "v2")
		if err := os.Rename(tmp, target); err != nil {
			t.Fatal(err)
		}
		s.wait(t, target)
	}
}

func TestDirectoryRemovedAndRecreated(t *testing.T) {
	dir := t.TempDir()
	d := filepath.Join(dir, "d")
	write(t, filepath.Join(d, "old.txt"), "x")
	w, s := start(t, []string{dir}, nil)
	if err := os.RemoveAll(d); err != nil {
		t.Fatal(err)
	}
	s.wait(t, d)
	write(t, filepath.Join(d, "new.txt"), "x")
	s.wait(t, filepath.Join(d, "new.txt"))
	s.reset()
	write(t, filepath.Join(d, "later.txt"), "x")
	s.wait(t, filepath.Join(d, "later.txt"))
	if n := w.Watched(); n != 2 {
		t.Fatalf("%d watches, want 2 (root and d)", n)
	}
}

func TestDirectoryRenamedAway(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "d", "sub", "x.txt"), "x")
	_, s := start(t, []string{dir}, nil)
	if err := os.Rename(filepath.Join(dir, "d"), filepath.Join(dir, "e")); err != nil {
		t.Fatal(err)
	}
	s.wait(t, filepath.Join(dir, "d"), filepath.Join(dir, "e"), filepath.Join(dir, "e", "sub", "x.txt"))
	s.reset()
	write(t, filepath.Join(dir, "e", "sub", "y.txt"), "x")
	s.wait(t, filepath.Join(dir, "e", "sub", "y.txt"))
	if s.has(filepath.Join(dir, "d", "sub", "y.txt")) {
		t.Fatal("a change below a renamed directory was reported under its old name")
	}
}

func TestSkippedDirectoriesAreNotWatched(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "node_modules", "a", "x.js"), "x")
	write(t, filepath.Join(dir, "src", "x.go"), "x")
	skip := func(p string) bool { return filepath.Base(p) == "node_modules" }
	w, s := start(t, []string{dir}, skip)
	if n := w.Watched(); n != 2 {
		t.Fatalf("%d watches, want 2 (root, src)", n)
	}
	write(t, filepath.Join(dir, "node_modules", "a", "y.js"), "x")
	write(t, filepath.Join(dir, "src", "y.go"), "x")
	s.wait(t, filepath.Join(dir, "src", "y.go"))
	if s.has(filepath.Join(dir, "node_modules", "a", "y.js")) {
		t.Fatal("a change in a skipped directory was reported")
	}
}

func TestRootRemovedAndRecreated(t *testing.T) {
	base := t.TempDir()
	root := filepath.Join(base, "src")
	write(t, filepath.Join(root, "a.txt"), "x")
	write(t, filepath.Join(base, "sibling.txt"), "x")
	_, s := start(t, []string{root}, nil)
	if err := os.RemoveAll(root); err != nil {
		t.Fatal(err)
	}
	s.wait(t, root)
	write(t, filepath.Join(root, "b.txt"), "x")
	s.wait(t, filepath.Join(root, "b.txt"))
	write(t, filepath.Join(base, "sibling.txt"), "y")
	write(t, filepath.Join(root, "c.txt"), "x")
	s.wait(t, filepath.Join(root, "c.txt"))
	if s.has(filepath.Join(base, "sibling.txt")) {
		t.Fatal("a sibling of the root was reported")
	}
}

func TestSingleFileRoot(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "app.conf")
	write(t, file, "v1")
	_, s := start(t, []string{file}, nil)
	write(t, filepath.Join(dir, "other"), "x")
	tmp := filepath.Join(dir, "app.conf.new")
	write(t, tmp, "v2")
	if err := os.Rename(tmp, file); err != nil {
		t.Fatal(err)
	}
	s.wait(t, file)
	if s.has(filepath.Join(dir, "other")) || s.has(tmp) {
		t.Fatal("siblings of a single-file root were reported")
	}
}

func TestBurstOfFilesInNewDirectories(t *testing.T) {
	dir := t.TempDir()
	_, s := start(t, []string{dir}, nil)
	var want []string
	for d := 0; d < 20; d++ {
		for f := 0; f < 100; f++ {
			p := filepath.Join(dir, "pkg", "d"+strconv.Itoa(d), "f"+strconv.Itoa(f)+".go")
			write(t, p, "x")
			want = append(want, p)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		s.mu.Lock()
		over := s.over
		s.mu.Unlock()
		if over > 0 {
			return // the caller rescans: allowed
		}
		missing := 0
		for _, p := range want {
			if !s.has(p) {
				missing++
			}
		}
		if missing == 0 {
			return
		}
		select {
		case <-s.ch:
		case <-time.After(100 * time.Millisecond):
		}
	}
	t.Fatal("not every file of the burst was reported, and no overflow either")
}

func TestTooManyWatchesIsExplained(t *testing.T) {
	err := watchError("/x", os.NewSyscallError("inotify_add_watch", errENOSPC()))
	if !strings.Contains(err.Error(), "max_user_watches") {
		t.Fatalf("%v", err)
	}
}
