//go:build unix

package sync_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"devstack/engine/event"
	devsync "devstack/sync"
)

// fingerprint hashes everything about a host tree sync could change:
// names, kinds, modes, sizes, mtimes, contents, link targets.
func fingerprint(t *testing.T, dir string) string {
	t.Helper()
	var lines []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return nil
		}
		line := fmt.Sprintf("%s %v %d %d", p, fi.Mode(), fi.Size(), fi.ModTime().UnixNano())
		switch {
		case fi.Mode()&os.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			line += " -> " + l
		case fi.Mode().IsRegular():
			b, _ := os.ReadFile(p)
			sum := sha256.Sum256(b)
			line += " " + hex.EncodeToString(sum[:])
		}
		lines = append(lines, line)
		return nil
	})
	sort.Strings(lines)
	sum := sha256.Sum256([]byte(strings.Join(lines, "\n")))
	return hex.EncodeToString(sum[:])
}

func TestSafetyLinksOutFifosVanishedFilesAndAnUntouchedHost(t *testing.T) {
	s := newStack(t, basic, map[string]string{"src/a.txt": "a", "outside/secret.txt": "SECRET",
		"src/pristine/p.txt": "p", "src/pristine/deep/q.txt": "q"})
	src := filepath.Join(s.dir, "src")
	outside := filepath.Join(s.dir, "outside")
	must(t, os.Symlink(filepath.Join(outside, "secret.txt"), filepath.Join(src, "abs-link")))
	must(t, os.Symlink("../outside/secret.txt", filepath.Join(src, "rel-link")))
	must(t, os.Symlink(outside, filepath.Join(src, "dir-link")))
	must(t, syscall.Mkfifo(filepath.Join(src, "pipe"), 0o644))
	must(t, os.Symlink("p.txt", filepath.Join(src, "pristine", "link")))
	id := s.one("app").ID
	pristine, secret := fingerprint(t, filepath.Join(src, "pristine")), fingerprint(t, outside)

	s.start(devsync.Options{})
	s.waitTree(id, "/app/pristine", "deep D\ndeep/q.txt F q\nlink L p.txt\np.txt F p\n")
	want := "a.txt F a\nabs-link L " + filepath.Join(outside, "secret.txt") + "\ndir-link L " + outside + "\nrel-link L ../outside/secret.txt\n"
	s.waitTree(id, "/app", sortLines(want+pristineLines))
	if out := s.sh(id, "grep -r SECRET /app 2>/dev/null; true"); out != "" {
		t.Fatalf("a file outside the watched tree reached the container: %q", out)
	}
	if !strings.Contains(s.warnings(), "pipe: not a regular file") {
		t.Fatalf("the FIFO was not reported:\n%s", s.warnings())
	}

	// Files that vanish between their event and their read, in bulk,
	// while other files keep coming: no crash, the next batch still goes.
	for i := 0; i < 200; i++ {
		p := filepath.Join(src, "tmp"+strconv.Itoa(i))
		writeFile(t, p, "x")
		must(t, os.Remove(p))
	}
	must(t, syscall.Mkfifo(filepath.Join(src, "pipe2"), 0o644))
	writeFile(t, filepath.Join(src, "after.txt"), "after")
	s.waitTree(id, "/app", "a.txt F a\nabs-link L "+filepath.Join(outside, "secret.txt")+"\nafter.txt F after\ndir-link L "+outside+"\n"+pristineLines+"rel-link L ../outside/secret.txt\n")

	// A link replaced by a directory, a directory by a file.
	must(t, os.Remove(filepath.Join(src, "dir-link")))
	writeFile(t, filepath.Join(src, "dir-link", "inside.txt"), "in")
	s.waitTree(id, "/app/dir-link", "inside.txt F in\n")
	if out := s.sh(id, "ls "+outside+" 2>&1 || true"); !strings.Contains(out, "No such file") {
		t.Fatalf("writing below a replaced link escaped in the container: %q", out)
	}

	for _, e := range s.rec.Events() {
		if se, ok := e.(event.Sync); ok && se.Error != "" {
			t.Fatalf("sync error: %+v", se)
		}
	}
	s.stop()
	// The host tree was only ever read.
	if fingerprint(t, filepath.Join(src, "pristine")) != pristine || fingerprint(t, outside) != secret {
		t.Fatal("the host tree changed")
	}
}

const pristineLines = "pristine D\npristine/deep D\npristine/deep/q.txt F q\npristine/link L p.txt\npristine/p.txt F p\n"
