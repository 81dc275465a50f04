package transfer

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestPackRoundTrip packs a tree and unpacks it elsewhere under a new
// name: contents, modes, whole-second times and links survive, and the
// stream carries docker cp's headers (no PAX record for a plain file).
func TestPackRoundTrip(t *testing.T) {
	src := t.TempDir()
	must(t, os.MkdirAll(filepath.Join(src, "sub"), 0o750))
	must(t, os.WriteFile(filepath.Join(src, "a.txt"), []byte("alpha"), 0o640))
	big := bytes.Repeat([]byte("0123456789abcdef"), 3*copyBuffer/16+7) // crosses the buffer
	must(t, os.WriteFile(filepath.Join(src, "sub", "big"), big, 0o600))
	must(t, os.Symlink("../a.txt", filepath.Join(src, "sub", "link")))
	when := time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC)
	must(t, os.Chtimes(filepath.Join(src, "a.txt"), when, when))

	var stream bytes.Buffer
	must(t, Pack(&stream, src, "tree", false))

	tr := tar.NewReader(bytes.NewReader(stream.Bytes()))
	var names []string
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		must(t, err)
		names = append(names, h.Name)
		if len(h.PAXRecords) != 0 {
			t.Errorf("%s carries PAX records %v: docker cp's headers have none for a plain entry", h.Name, h.PAXRecords)
		}
	}
	want := []string{"tree/", "tree/a.txt", "tree/sub/", "tree/sub/big", "tree/sub/link"}
	if len(names) != len(want) {
		t.Fatalf("entries %v, want %v", names, want)
	}
	for i := range want {
		if names[i] != want[i] {
			t.Fatalf("entries %v, want %v", names, want)
		}
	}

	dst := t.TempDir()
	must(t, Unpack(bytes.NewReader(stream.Bytes()), dst, UnpackOptions{From: "tree", To: "copy"}))
	got, err := os.ReadFile(filepath.Join(dst, "copy", "sub", "big"))
	must(t, err)
	if !bytes.Equal(got, big) {
		t.Errorf("sub/big: %d bytes back, want %d identical ones", len(got), len(big))
	}
	fi, err := os.Stat(filepath.Join(dst, "copy", "a.txt"))
	must(t, err)
	if fi.Mode().Perm() != 0o640 {
		t.Errorf("a.txt mode %v, want 0640", fi.Mode().Perm())
	}
	if !fi.ModTime().Equal(when.Truncate(time.Second)) {
		t.Errorf("a.txt modified %v, want %v", fi.ModTime(), when.Truncate(time.Second))
	}
	if di, err := os.Stat(filepath.Join(dst, "copy", "sub")); err != nil || di.Mode().Perm() != 0o750 {
		t.Errorf("sub: %v %v, want a 0750 directory", di, err)
	}
	if l, err := os.Readlink(filepath.Join(dst, "copy", "sub", "link")); err != nil || l != "../a.txt" {
		t.Errorf("sub/link -> %q (%v), want ../a.txt", l, err)
	}
}

// TestUnpackRefusesEscapes: a name that climbs out of the destination
// is refused and nothing is written outside it.
func TestUnpackRefusesEscapes(t *testing.T) {
	var stream bytes.Buffer
	tw := tar.NewWriter(&stream)
	must(t, tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "../escaped", Mode: 0o644, Size: 1}))
	_, err := tw.Write([]byte("x"))
	must(t, err)
	must(t, tw.Close())
	parent := t.TempDir()
	dst := filepath.Join(parent, "dst")
	must(t, os.Mkdir(dst, 0o755))
	if err := Unpack(&stream, dst, UnpackOptions{}); err == nil {
		t.Fatal("an entry named ../escaped was unpacked")
	}
	if _, err := os.Stat(filepath.Join(parent, "escaped")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("../escaped was written beside the destination (%v)", err)
	}
}

// BenchmarkPack packs a 100 MB tree of 400 files to nowhere: the host
// side of `cp` in, without the engine (allocations show a per-file
// buffer coming back).
func BenchmarkPack(b *testing.B) {
	src := b.TempDir()
	buf := make([]byte, 256<<10)
	for i := range 400 {
		dir := filepath.Join(src, "d"+string(rune('a'+i%20)))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "f"+time.Duration(i).String()), buf, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(400 * int64(len(buf)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := Pack(io.Discard, src, "tree", false); err != nil {
			b.Fatal(err)
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
