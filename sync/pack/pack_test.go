//go:build unix

//go:debug tarinsecurepath=0

package pack

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestName(t *testing.T) {
	cases := []struct {
		target, rel, want string
		bad               bool
	}{
		{"/app", "src/main.go", "app/src/main.go", false},
		{"/app/", "./src//main.go", "app/src/main.go", false},
		{"/app", ".", "app", false},
		{"/", "x", "x", false},
		{"/", ".", "", true},
		{"/app", "../etc/passwd", "", true},
		{"/app", "a/../../etc", "", true},
		{"/app", "/etc/passwd", "", true},
		{"/app", "", "", true},
		{"/app", "a\x00b", "", true},
		{"app", "x", "", true},
		{"/app/../etc", "x", "etc/x", false}, // the target is the user's to choose; it is cleaned
	}
	for _, c := range cases {
		got, err := Name(c.target, c.rel)
		if (err != nil) != c.bad || got != c.want {
			t.Errorf("Name(%q, %q) = %q, %v", c.target, c.rel, got, err)
		}
		if err != nil && !errors.Is(err, ErrUnsafeName) {
			t.Errorf("Name(%q, %q): error %v is not ErrUnsafeName", c.target, c.rel, err)
		}
	}
}

type tree struct {
	dir     string // the watched directory
	outside string // a file next to it that must never be read
	root    *os.Root
}

const secret = "SECRET-OUTSIDE-THE-WATCHED-TREE"

func newTree(t testing.TB) *tree {
	t.Helper()
	base := t.TempDir()
	dir := filepath.Join(base, "watched")
	outside := filepath.Join(base, "outside.txt")
	must(t, os.MkdirAll(filepath.Join(dir, "sub", "deep"), 0o750))
	must(t, os.WriteFile(outside, []byte(secret), 0o644))
	must(t, os.WriteFile(filepath.Join(dir, "a.txt"), []byte("hello"), 0o640))
	must(t, os.WriteFile(filepath.Join(dir, "run.sh"), []byte("#!/bin/sh\n"), 0o755))
	must(t, os.WriteFile(filepath.Join(dir, "sub", "deep", "b.txt"), []byte("deep"), 0o644))
	must(t, os.Symlink(outside, filepath.Join(dir, "link-out")))
	must(t, os.Symlink("../outside.txt", filepath.Join(dir, "link-rel-out")))
	must(t, os.Symlink(filepath.Dir(outside), filepath.Join(dir, "dirlink")))
	must(t, os.Symlink("a.txt", filepath.Join(dir, "link-in")))
	must(t, syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o644))
	r, err := os.OpenRoot(dir)
	must(t, err)
	t.Cleanup(func() { r.Close() })
	return &tree{dir: dir, outside: outside, root: r}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

type entry struct {
	hdr  *tar.Header
	body string
}

// read parses a stream; with tarinsecurepath=0 the reader itself rejects
// absolute names and "..".
func read(t testing.TB, b []byte) map[string]entry {
	t.Helper()
	out := map[string]entry{}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("reading the stream back: %v", err)
		}
		body, _ := io.ReadAll(tr)
		out[h.Name] = entry{h, string(body)}
	}
}

func TestWriterEntriesModesOwnersAndParents(t *testing.T) {
	tr := newTree(t)
	var buf bytes.Buffer
	w := NewWriter(&buf, Owner{UID: 1000, GID: 1001})
	m := Mapping{Root: tr.root, Target: "/srv/app"}
	for _, rel := range []string{"a.txt", "run.sh", "sub/deep/b.txt", "link-out", "link-rel-out", "link-in", "sub"} {
		must(t, w.Add(m, rel))
	}
	must(t, w.Close())
	got := read(t, buf.Bytes())
	want := map[string]string{
		"srv/app/a.txt":          "hello",
		"srv/app/run.sh":         "#!/bin/sh\n",
		"srv/app/sub/":           "",
		"srv/app/sub/deep/":      "",
		"srv/app/sub/deep/b.txt": "deep",
		"srv/app/link-out":       "",
		"srv/app/link-rel-out":   "",
		"srv/app/link-in":        "",
	}
	if len(got) != len(want) {
		t.Fatalf("entries %v", keys(got))
	}
	for name, body := range want {
		e, ok := got[name]
		if !ok || e.body != body {
			t.Errorf("%s: %q (present %v)", name, e.body, ok)
			continue
		}
		if e.hdr.Uid != 1000 || e.hdr.Gid != 1001 {
			t.Errorf("%s: owner %d:%d", name, e.hdr.Uid, e.hdr.Gid)
		}
		if e.hdr.ModTime.Nanosecond() != 0 {
			t.Errorf("%s: mtime not whole seconds", name)
		}
	}
	if m := got["srv/app/a.txt"].hdr.Mode; m != 0o640 {
		t.Errorf("a.txt mode %o", m)
	}
	if m := got["srv/app/run.sh"].hdr.Mode; m != 0o755 {
		t.Errorf("run.sh mode %o", m)
	}
	if m := got["srv/app/sub/"].hdr.Mode; m != 0o750 {
		t.Errorf("sub mode %o", m)
	}
	if l := got["srv/app/link-out"].hdr; l.Typeflag != tar.TypeSymlink || l.Linkname != tr.outside {
		t.Errorf("link-out sent as %c -> %s, want the link itself", l.Typeflag, l.Linkname)
	}
	if strings.Contains(buf.String(), secret) {
		t.Fatal("a file outside the watched tree was read")
	}
	if w.Files != 6 || w.Bytes != int64(len("hello")+len("#!/bin/sh\n")+len("deep")) {
		t.Errorf("counted %d files, %d bytes", w.Files, w.Bytes)
	}
}

func TestWriterSkipsWhatItMustNotRead(t *testing.T) {
	tr := newTree(t)
	var buf bytes.Buffer
	w := NewWriter(&buf, Owner{})
	m := Mapping{Root: tr.root, Target: "/app"}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, rel := range []string{"fifo", "gone.txt", "dirlink/outside.txt", "../outside.txt", "/etc/passwd"} {
			must(t, w.Add(m, rel))
		}
		must(t, w.Close())
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the writer blocked (on the FIFO?)")
	}
	if got := read(t, buf.Bytes()); len(got) != 0 {
		t.Fatalf("nothing should be written, got %v", keys(got))
	}
	reasons := map[string]string{}
	for _, s := range w.Skipped {
		reasons[s.Rel] = s.Reason
	}
	for rel, want := range map[string]string{
		"fifo":                "not a regular file",
		"gone.txt":            "vanished",
		"dirlink/outside.txt": "not a directory",
		"../outside.txt":      "unsafe path",
		"/etc/passwd":         "unsafe path",
	} {
		if !strings.Contains(reasons[rel], want) {
			t.Errorf("%s skipped for %q, want %q", rel, reasons[rel], want)
		}
	}
	if strings.Contains(buf.String(), secret) {
		t.Fatal("a file outside the watched tree was read")
	}
}

func TestSingleFileMapping(t *testing.T) {
	tr := newTree(t)
	var buf bytes.Buffer
	w := NewWriter(&buf, Owner{})
	must(t, w.Add(Mapping{Root: tr.root, Target: "/etc/app.conf", File: "a.txt"}, "."))
	must(t, w.Close())
	got := read(t, buf.Bytes())
	if e, ok := got["etc/app.conf"]; !ok || e.body != "hello" || len(got) != 1 {
		t.Fatalf("single file sent as %v", keys(got))
	}
}

func TestLargeFileIsStreamed(t *testing.T) {
	tr := newTree(t)
	const size = 32 << 20
	f, err := os.Create(filepath.Join(tr.dir, "big.bin"))
	must(t, err)
	must(t, f.Truncate(size))
	must(t, f.Close())
	w := NewWriter(io.Discard, Owner{})
	var before, after runtimeMem
	before.read()
	must(t, w.Add(Mapping{Root: tr.root, Target: "/app"}, "big.bin"))
	must(t, w.Close())
	after.read()
	if w.Bytes != size {
		t.Fatalf("wrote %d bytes", w.Bytes)
	}
	if grew := after.total - before.total; grew > size/4 {
		t.Fatalf("allocated %d bytes for a %d-byte file: not streamed", grew, size)
	}
}

func keys(m map[string]entry) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func FuzzName(f *testing.F) {
	for _, s := range [][2]string{{"/app", "a/b"}, {"/", ".."}, {"/app", "../../x"}, {"/a/../..", "./x"}, {"/app", "a/./../.."}, {"//", "x//y"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, target, rel string) {
		name, err := Name(target, rel)
		if err != nil {
			return
		}
		if err := ValidName(name); err != nil {
			t.Fatalf("Name(%q, %q) = %q: %v", target, rel, name, err)
		}
		tgt, _ := TargetDir(target)
		if tgt != "/" && name != tgt[1:] && !strings.HasPrefix(name, tgt[1:]+"/") {
			t.Fatalf("Name(%q, %q) = %q leaves the target", target, rel, name)
		}
	})
}

// FuzzWriter feeds arbitrary relative paths to a writer over a real tree:
// whatever comes in, the stream holds only safe names and never a byte of
// the file outside the tree.
func FuzzWriter(f *testing.F) {
	for _, s := range []string{"a.txt", "../outside.txt", "dirlink/outside.txt", "link-rel-out", "sub/../../outside.txt", "sub/deep/b.txt", "./a.txt", "fifo", "/etc/passwd", ".", "sub/./deep/../deep/b.txt"} {
		f.Add(s)
	}
	tr := newTree(f)
	f.Fuzz(func(t *testing.T, rel string) {
		var buf bytes.Buffer
		w := NewWriter(&buf, Owner{})
		if err := w.Add(Mapping{Root: tr.root, Target: "/app"}, rel); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		for name := range read(t, buf.Bytes()) {
			n := strings.TrimSuffix(name, "/")
			if err := ValidName(n); err != nil || (n != "app" && !strings.HasPrefix(n, "app/")) {
				t.Fatalf("rel %q produced entry %q", rel, name)
			}
		}
		if strings.Contains(buf.String(), secret) {
			t.Fatalf("rel %q read the file outside the tree", rel)
		}
	})
}
