//go:build unix

package watch

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const lowLimitChild = "DEVSTACK_WATCH_LOW_LIMIT_CHILD"

// The watcher under macOS's default file limit on a 20,000-file tree: a
// child process (this test binary again) lowers its RLIMIT_NOFILE to 256,
// soft and hard, and watches with kqueue's costs (one open file per
// watched file), which forces the directories strategy the macOS build
// uses, with the notifier reduced to what a directory's kqueue watch
// sees. A mirror of the tree is kept the way sync keeps a container:
// every reported path is copied or removed. After a burst of edits of
// every kind, the mirror must equal the tree: no event missed.
func TestLowFileLimitTwentyThousandFiles(t *testing.T) {
	if os.Getenv(lowLimitChild) == "" {
		if testing.Short() {
			t.Skip("20,000 files: not in -short")
		}
		cmd := exec.Command(os.Args[0], "-test.run", "^TestLowFileLimitTwentyThousandFiles$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), lowLimitChild+"=1")
		out, err := cmd.CombinedOutput()
		t.Logf("child:\n%s", out)
		if err != nil || !bytes.Contains(out, []byte("--- PASS")) {
			t.Fatalf("the child under RLIMIT_NOFILE=256 failed: %v", err)
		}
		return
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: 256, Max: 256}); err != nil {
		t.Fatal(err)
	}
	costsPerFile = true

	base := t.TempDir()
	tree, mirror := filepath.Join(base, "tree"), filepath.Join(base, "mirror")
	const dirs, perDir = 100, 200
	for d := 0; d < dirs; d++ {
		dir := filepath.Join(tree, fmt.Sprintf("pkg%03d", d))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for f := 0; f < perDir; f++ {
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("file%03d.go", f)), fmt.Appendf(nil, "package p // %d %d v1\n", d, f), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	if out, err := exec.Command("cp", "-a", tree, mirror).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}

	m := &mirrorSync{tree: tree, mirror: mirror, wake: make(chan struct{}, 1)}
	go m.run()
	defer m.stop()
	var errMu sync.Mutex
	var errs []error
	w, err := Start(Options{Roots: []string{tree}, OnChange: m.add,
		OnError: func(err error) { errMu.Lock(); errs = append(errs, err); errMu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	st := w.Strategy()
	t.Logf("strategy: %s", st)
	if st.Mode != Directories || st.Limit != 256 || st.Files != dirs*perDir {
		t.Fatalf("want the directories strategy under a limit of 256 for %d files, got %+v", dirs*perDir, st)
	}

	// The burst: writes in place (some twice at the same size, within one
	// clock tick), appends, new files, new directories with files,
	// deletions, renames, a directory removed, and an atomic save.
	start := time.Now()
	rewrite := func(p, body string) {
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	file := func(d, f int) string {
		return filepath.Join(tree, fmt.Sprintf("pkg%03d", d), fmt.Sprintf("file%03d.go", f))
	}
	for i := 0; i < 2000; i++ {
		p := file(i%dirs, i/dirs)
		rewrite(p, fmt.Sprintf("package p // %d %d v2\n", i%dirs, i/dirs))
		if i%4 == 0 {
			rewrite(p, fmt.Sprintf("package p // %d %d v3\n", i%dirs, i/dirs))
		}
	}
	for i := 0; i < 500; i++ {
		f, err := os.OpenFile(file(i%dirs, 100+i/dirs), os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(f, "// appended %d\n", i)
		f.Close()
	}
	for i := 0; i < 1000; i++ {
		write(t, filepath.Join(tree, fmt.Sprintf("pkg%03d", i%dirs), fmt.Sprintf("new%03d.go", i/dirs)), "new\n")
	}
	for d := 0; d < 5; d++ {
		for f := 0; f < 100; f++ {
			write(t, filepath.Join(tree, fmt.Sprintf("added%d", d), "sub", fmt.Sprintf("f%03d", f)), "added\n")
		}
	}
	for i := 0; i < 1000; i++ {
		if err := os.Remove(file(i%dirs, 150+i/dirs)); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 200; i++ {
		if err := os.Rename(file(i%dirs, 180+i/dirs), file(i%dirs, 180+i/dirs)+".renamed"); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.RemoveAll(filepath.Join(tree, "pkg099")); err != nil {
		t.Fatal(err)
	}
	tmp := file(0, 0) + ".tmp"
	rewrite(tmp, "atomic save\n")
	if err := os.Rename(tmp, file(0, 0)); err != nil {
		t.Fatal(err)
	}
	t.Logf("burst of edits written in %v", time.Since(start).Round(time.Millisecond))

	deadline := time.Now().Add(90 * time.Second)
	var diff string
	for {
		if diff = compareTrees(tree, mirror); diff == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the mirror never caught up with the tree (an event was missed): %s", diff)
		}
		time.Sleep(200 * time.Millisecond) // polling a condition, with a deadline
	}
	t.Logf("mirror equal to the tree %v after the burst; %d paths reported", time.Since(start).Round(time.Millisecond), m.count())
	errMu.Lock()
	defer errMu.Unlock()
	if len(errs) > 0 {
		t.Fatalf("watch errors under the limit: %v", errs)
	}
}

// mirrorSync copies each reported path from tree to mirror (or removes
// it there), off the watcher's goroutine, as sync's batches do.
type mirrorSync struct {
	tree, mirror string
	mu           sync.Mutex
	queue        []string
	n            int
	wake         chan struct{}
	done         bool
}

func (m *mirrorSync) add(p string, _ bool) {
	m.mu.Lock()
	m.queue = append(m.queue, p)
	m.n++
	m.mu.Unlock()
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

func (m *mirrorSync) count() int { m.mu.Lock(); defer m.mu.Unlock(); return m.n }

func (m *mirrorSync) stop() {
	m.mu.Lock()
	m.done = true
	m.mu.Unlock()
	m.add("", false)
}

func (m *mirrorSync) run() {
	for range m.wake {
		m.mu.Lock()
		q, done := m.queue, m.done
		m.queue = nil
		m.mu.Unlock()
		if done {
			return
		}
		for _, p := range q {
			m.apply(p)
		}
	}
}

func (m *mirrorSync) apply(p string) {
	rel, err := filepath.Rel(m.tree, p)
	if err != nil || strings.HasPrefix(rel, "..") {
		return
	}
	dst := filepath.Join(m.mirror, rel)
	fi, err := os.Lstat(p)
	switch {
	case err != nil:
		os.RemoveAll(dst)
	case fi.IsDir():
		os.MkdirAll(dst, 0o755)
	default:
		b, err := os.ReadFile(p)
		if err != nil {
			return // gone again: its removal is reported
		}
		os.MkdirAll(filepath.Dir(dst), 0o755)
		os.RemoveAll(dst) // a directory replaced by a file
		os.WriteFile(dst, b, 0o644)
	}
}

// compareTrees returns "" when both trees hold the same paths with the
// same contents, else the first difference.
func compareTrees(a, b string) string {
	list := func(root string) map[string]string {
		out := map[string]string{}
		filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || p == root {
				return nil
			}
			rel, _ := filepath.Rel(root, p)
			if d.IsDir() {
				out[rel] = "dir"
				return nil
			}
			body, _ := os.ReadFile(p)
			out[rel] = string(body)
			return nil
		})
		return out
	}
	la, lb := list(a), list(b)
	for p, v := range la {
		if w, ok := lb[p]; !ok {
			return p + " is missing from the mirror"
		} else if w != v {
			return fmt.Sprintf("%s differs: %q in the tree, %q in the mirror", p, v, w)
		}
	}
	for p := range lb {
		if _, ok := la[p]; !ok {
			return p + " is still in the mirror"
		}
	}
	return ""
}
