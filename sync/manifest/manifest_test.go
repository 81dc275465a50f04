package manifest

import (
	"archive/tar"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseListing(t *testing.T) {
	// Real busybox output for /app (see ListCommand); the last file's
	// date comes from a stat without nanoseconds.
	out := `41ed 4096 1795441285 0 0 1795441285 2026-11-23 17:41:25.000000000 +0000 /app
41ed 4096 1795441285 1000 1000 1795441286 2026-11-23 17:41:25.000000000 +0000 /app/d
81a4 3 1795441285 1000 1000 1795441286 2026-11-23 17:41:25.250000000 +0000 /app/d/f
a1ff 4 1795441285 0 0 1795441285 2026-11-23 17:41:25.000000000 +0000 /app/l
81ed 12 17 0 0 17 1970-01-01 00:00:17 +0000 /app/name with spaces
8000 1 2 0 0 2 1970-01-01 00:00:02.000000000 +0000 /app/../etc/passwd
garbage line
81a4 3 1795441285 0 0 /app/old-format
81a4 3 1795441285 0 0 1795441285 2026-11-23 17:41:25.000000000 +0000 /other/x
`
	m, err := ParseListing(strings.NewReader(out), "/app")
	if err != nil {
		t.Fatal(err)
	}
	want := Manifest{
		"d":                {Kind: KindDir, Perm: 0o755, MTime: 1795441285, UID: 1000, GID: 1000, CTime: 1795441286},
		"d/f":              {Kind: KindFile, Size: 3, Perm: 0o644, MTime: 1795441285, MTimeNS: 250000000, UID: 1000, GID: 1000, CTime: 1795441286},
		"l":                {Kind: KindSymlink, Size: 4, Perm: 0o777, MTime: 1795441285, CTime: 1795441285},
		"name with spaces": {Kind: KindFile, Size: 12, Perm: 0o755, MTime: 17, MTimeNS: -1, CTime: 17},
	}
	if !reflect.DeepEqual(m, want) {
		t.Fatalf("got %+v\nwant %+v", m, want)
	}
}

func TestListCommandQuotes(t *testing.T) {
	cmd := ListCommand("/it's")
	if !strings.Contains(cmd[2], `'/it'\''s'`) {
		t.Fatalf("not quoted: %s", cmd[2])
	}
}

func TestParseTar(t *testing.T) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mt := time.Unix(1700000000, 0)
	for _, h := range []*tar.Header{
		{Name: "app/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: mt},
		{Name: "app/a.txt", Typeflag: tar.TypeReg, Mode: 0o644, Size: 2, ModTime: mt, Uid: 5, Gid: 6},
		{Name: "app/l", Typeflag: tar.TypeSymlink, Linkname: "a.txt", ModTime: mt},
		{Name: "app/sub/", Typeflag: tar.TypeDir, Mode: 0o700, ModTime: mt},
	} {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 {
			tw.Write([]byte("hi"))
		}
	}
	tw.Close()
	m, err := ParseTar(&buf, "/srv/app")
	if err != nil {
		t.Fatal(err)
	}
	want := Manifest{
		"a.txt": {Kind: KindFile, Size: 2, Perm: 0o644, MTime: 1700000000, MTimeNS: -1, UID: 5, GID: 6, Digest: "49f68a5c8493ec2c0bf489821c21fc3b"}, // md5("hi")
		"l":     {Kind: KindSymlink, Size: 5, Perm: 0o777, MTime: 1700000000, MTimeNS: -1},
		"sub":   {Kind: KindDir, Perm: 0o700, MTime: 1700000000, MTimeNS: -1},
	}
	if !reflect.DeepEqual(m, want) {
		t.Fatalf("got %+v\nwant %+v", m, want)
	}
}

func TestHostHonoursDecide(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"a.go", "node_modules/x.js", "src/b.go", "src/README"} {
		os.MkdirAll(filepath.Join(dir, filepath.Dir(f)), 0o755)
		os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o644)
	}
	os.Symlink("/etc", filepath.Join(dir, "etc-link"))
	r, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var visited []string
	m, skips, err := Host(r, func(rel string, isDir bool) (bool, bool) {
		visited = append(visited, rel)
		if rel == "node_modules" {
			return false, false
		}
		return rel != "src/README", true
	})
	if err != nil || len(skips) != 0 {
		t.Fatal(err, skips)
	}
	var got []string
	for k := range m {
		got = append(got, k)
	}
	if len(got) != 4 || m["etc-link"].Kind != KindSymlink || m["src"].Kind != KindDir || m["a.go"].Size != 1 {
		t.Fatalf("manifest %+v", m)
	}
	for _, v := range visited {
		if strings.HasPrefix(v, "node_modules/") || strings.HasPrefix(v, "etc-link/") {
			t.Fatalf("walked into %s", v)
		}
	}
}

func TestCompare(t *testing.T) {
	owner := Owner{UID: 1000, GID: 1000}
	f := func(size, mtime int64) Info {
		return Info{Kind: KindFile, Size: size, MTime: mtime, Perm: 0o644, UID: -1, GID: -1}
	}
	c := func(i Info) Info { i.UID, i.GID = 1000, 1000; return i }
	dir := Info{Kind: KindDir, Perm: 0o755, UID: -1, GID: -1}
	host := Manifest{
		"same":        f(1, 10),
		"newer":       f(1, 11),
		"bigger":      f(2, 10),
		"new":         f(1, 10),
		"chmod":       {Kind: KindFile, Size: 1, MTime: 10, Perm: 0o755, UID: -1, GID: -1},
		"owner":       f(1, 10),
		"was-dir":     f(1, 10),
		"was-gen-dir": f(1, 10),
		"src":         dir,
	}
	ctr := Manifest{
		"same":              c(f(1, 10)),
		"newer":             c(f(1, 10)),
		"bigger":            c(f(1, 10)),
		"chmod":             c(f(1, 10)),
		"owner":             f(1, 10), // root-owned: UID 0
		"was-dir":           c(dir),
		"was-dir/x":         c(f(1, 1)),
		"was-gen-dir":       c(dir),
		"was-gen-dir/made":  c(f(1, 1)),
		"src":               c(dir),
		"deleted":           c(f(1, 1)),
		"gone-dir":          c(dir),
		"gone-dir/a":        c(f(1, 1)),
		"gone-dir/b":        c(f(1, 1)),
		"mixed-dir":         c(dir),
		"mixed-dir/synced":  c(f(1, 1)),
		"mixed-dir/made":    c(f(1, 1)),
		"generated.pyc":     c(f(1, 1)),
		"node_modules":      c(dir),
		"node_modules/x.js": c(f(1, 1)),
		"node_modules/y.js": c(f(1, 1)),
	}
	ctr["owner"] = Info{Kind: KindFile, Size: 1, MTime: 10, Perm: 0o644, UID: 0, GID: 0}
	syncedSet := map[string]bool{"deleted": true, "gone-dir": true, "gone-dir/a": true, "gone-dir/b": true,
		"mixed-dir": true, "mixed-dir/synced": true, "was-dir": true, "was-dir/x": true, "was-gen-dir": true,
		"node_modules/x.js": true}
	synced := func(rel string) byte {
		if syncedSet[rel] {
			return KindFile
		}
		return 0
	}
	excluded := func(rel string) bool { return rel == "node_modules" || strings.HasPrefix(rel, "node_modules/") }
	d := Compare(host, ctr, owner, synced, excluded)
	check := func(name string, got, want []string) {
		t.Helper()
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	check("Missing", d.Missing, []string{"new"})
	check("Differ", d.Differ, []string{"bigger", "chmod", "newer", "owner", "was-dir"})
	check("Replace", d.Replace, []string{"was-dir"})
	check("Conflicts", d.Conflicts, []string{"was-gen-dir"})
	check("Delete", d.Delete, []string{"deleted", "gone-dir", "mixed-dir/synced"})
	check("Kept", d.Kept, []string{"mixed-dir"})
	check("ContainerOnly", d.ContainerOnly, []string{"generated.pyc", "mixed-dir/made", "was-gen-dir/made"})
	if d.Empty() {
		t.Fatal("not empty")
	}
	if !Compare(host, host, owner, synced, excluded).Empty() {
		t.Fatal("a tree equals itself (unknown owners are not compared)")
	}
}

// A same-size edit within the second its previous version was synced in
// cannot be told by size and mtime second: nanoseconds tell where the
// container has real ones, contents where it has the tar's whole seconds.
func TestSameSecondEdits(t *testing.T) {
	owner := Owner{UID: 0, GID: 0}
	host := func(ns int64) Info {
		return Info{Kind: KindFile, Size: 4, MTime: 100, MTimeNS: ns, Perm: 0o644, UID: -1, GID: -1}
	}
	ctr := func(ns, ctime int64) Info {
		return Info{Kind: KindFile, Size: 4, MTime: 100, MTimeNS: ns, Perm: 0o644, CTime: ctime}
	}
	hm := Manifest{
		"synced-within-the-second": host(750_000_000), // synced at 100.3 (tar: 100.0), edited at 100.75
		"synced-in-the-next":       host(750_000_000), // written at 101.2: still racy (clocks may disagree)
		"synced-later":             host(250_000_000), // written at 105: any later edit has a later second
		"ns-from-elsewhere":        host(250_000_000), // the container's own ns (not sync's tar)
		"same-ns":                  host(250_000_000),
		"whole-seconds-both":       host(0),
		"tar-listing":              host(250_000_000), // no shell: no ns, no ctime
	}
	cm := Manifest{
		"synced-within-the-second": ctr(0, 100),
		"synced-in-the-next":       ctr(0, 101),
		"synced-later":             ctr(0, 105),
		"ns-from-elsewhere":        ctr(500_000_000, 100),
		"same-ns":                  ctr(250_000_000, 100),
		"whole-seconds-both":       ctr(0, 100),
		"tar-listing":              {Kind: KindFile, Size: 4, MTime: 100, MTimeNS: -1, Perm: 0o644, Digest: "x"},
	}
	d := Compare(hm, cm, owner, func(string) byte { return KindFile }, func(string) bool { return false })
	if got := strings.Join(d.Unsure, ","); got != "synced-in-the-next,synced-within-the-second,tar-listing" {
		t.Errorf("Unsure = %s", got)
	}
	if got := strings.Join(d.Differ, ","); got != "ns-from-elsewhere" {
		t.Errorf("Differ = %s", got)
	}
	d.Settle(func(rel string) bool { return rel == "synced-in-the-next" })
	if got := strings.Join(d.Differ, ","); got != "ns-from-elsewhere,synced-within-the-second,tar-listing" || len(d.Unsure) != 0 {
		t.Errorf("settled: Differ = %s, Unsure = %v", got, d.Unsure)
	}
}

// A symlink the container made where the host has a directory is a
// conflict: nothing is sent below it, nothing deleted through it. One
// devstack synced (the host had a link there) is replaced.
func TestCompareSymlinkInTheContainer(t *testing.T) {
	dir := Info{Kind: KindDir, Perm: 0o755, UID: -1, GID: -1}
	file := Info{Kind: KindFile, Size: 1, MTime: 1, Perm: 0o644, UID: -1, GID: -1}
	link := Info{Kind: KindSymlink, Size: 4, Perm: 0o777, UID: -1, GID: -1}
	host := Manifest{"sub": dir, "sub/inner": dir, "sub/inner/x": file, "was-link": dir, "was-link/y": file}
	ctr := Manifest{"sub": dir, "sub/inner": link, "was-link": link}
	kinds := map[string]byte{"sub": KindDir, "sub/inner": KindDir, "sub/inner/x": KindFile, "was-link": KindSymlink}
	d := Compare(host, ctr, Owner{}, func(rel string) byte { return kinds[rel] }, func(string) bool { return false })
	if strings.Join(d.Conflicts, ",") != "sub/inner" || strings.Join(d.Missing, ",") != "was-link/y" ||
		strings.Join(d.Replace, ",") != "was-link" || len(d.Delete) != 0 {
		t.Fatalf("diff %+v", d)
	}
	// A listing of a directory that is itself a link says so.
	_, err := ParseListing(strings.NewReader("a1ff 4 1 0 0 1 d t z /app\n"), "/app")
	var se *SymlinkError
	if !errors.As(err, &se) || se.Paths[0] != "/app" {
		t.Fatalf("listing a symlinked directory: %v", err)
	}
}

func TestNanos(t *testing.T) {
	for in, want := range map[string]int64{"17:41:25.257048436": 257048436, "17:41:25.5": 500000000, "17:41:25": -1, "17:41:25.": -1, "x.1234567890": -1, "x.-1": -1} {
		if got := nanos(in); got != want {
			t.Errorf("nanos(%q) = %d, want %d", in, got, want)
		}
	}
}

func FuzzParseListing(f *testing.F) {
	f.Add("81a4 3 1795441285 0 0 1 2026-11-23 17:41:25.5 +0000 /app/d/f\n41ed 4096 1 0 0 1 d t z /app/../x\n", "/app")
	f.Add("81a4 3 1 0 0 1 d t.1 z /app//x\n81a4 3 1 0 0 1 d t z /app/./y\n", "/app/")
	f.Add("81a4 3 1 0 0 1 d t z //x\n", "/")
	f.Fuzz(func(t *testing.T, out, dir string) {
		m, err := ParseListing(strings.NewReader(out), dir)
		if err != nil {
			return
		}
		for rel := range m {
			if rel == "" || rel == "." || strings.HasPrefix(rel, "/") || filepath.Clean(rel) != rel || rel == ".." || strings.HasPrefix(rel, "../") {
				t.Fatalf("listing of %q yielded unsafe path %q", dir, rel)
			}
		}
	})
}
