package state

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestDirIsTheUsersStateDirectoryOrAnError(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", "/xdg/state")
	t.Setenv("HOME", "/home/u")
	if d, err := Dir(); err != nil || d != "/xdg/state/devstack" {
		t.Fatalf("with XDG_STATE_HOME: %q %v", d, err)
	}
	t.Setenv("XDG_STATE_HOME", "relative/state") // the spec says: ignore it
	if d, err := Dir(); err != nil || d != "/home/u/.local/state/devstack" {
		t.Fatalf("with HOME: %q %v", d, err)
	}
	t.Setenv("XDG_STATE_HOME", "")
	for _, home := range []string{"", "relative"} {
		t.Setenv("HOME", home)
		d, err := Dir()
		if err == nil {
			t.Fatalf("HOME=%q: %q, want an error (never a shared directory such as %s)", home, d, os.TempDir())
		}
		if !strings.Contains(err.Error(), "XDG_STATE_HOME") {
			t.Fatalf("the error does not say what to set: %v", err)
		}
	}
}

func TestMkdirAllIsPrivate(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "a", "b")
	if err := MkdirAll(dir); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{filepath.Join(base, "a"), dir} {
		if fi, err := os.Stat(d); err != nil || fi.Mode().Perm() != 0o700 {
			t.Fatalf("%s: %v %v, want 0700", d, fi.Mode(), err)
		}
	}
	// A directory an earlier version made 0755 is narrowed.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := MkdirAll(dir); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o700 {
		t.Fatalf("%s is %v after MkdirAll, want 0700", dir, fi.Mode())
	}
}

func TestWriteReplacesWholeAndPrivately(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "rec")
	if err := WriteFile(path, []byte("one")); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(path, []byte("two")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "two" {
		t.Fatalf("content %q", b)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", fi.Mode())
	}
	// A failed write leaves the old content and no temporary file.
	err := Write(path, func(w io.Writer) error {
		io.WriteString(w, "half of thr")
		return errors.New("disk on fire")
	})
	if err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("err %v", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "two" {
		t.Fatalf("a failed write changed the file: %q", b)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("files left: %v", entries)
	}
}

// A symlink planted where a state file goes is neither followed nor
// written through: the file the link points to keeps its content.
func TestSymlinksAreNotFollowed(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no O_NOFOLLOW")
	}
	dir := t.TempDir()
	victim := filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(victim, []byte("precious"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "rec")
	if err := os.Symlink(victim, link); err != nil {
		t.Fatal(err)
	}
	if f, err := OpenFile(link, os.O_WRONLY|os.O_APPEND, 0o600); err == nil {
		f.Close()
		t.Fatal("OpenFile opened a symlink")
	}
	if _, err := ReadFile(link); err == nil {
		t.Fatal("ReadFile read through a symlink")
	}
	if f, err := Create(link); err == nil {
		f.Close()
		t.Fatal("Create opened a symlink")
	}
	// Write replaces the link itself.
	if err := WriteFile(link, []byte("record")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(victim); string(b) != "precious" {
		t.Fatalf("the link's target was written: %q", b)
	}
	if fi, err := os.Lstat(link); err != nil || !fi.Mode().IsRegular() {
		t.Fatalf("%s is not a regular file after Write: %v", link, err)
	}
}

func TestLeftover(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.rec")
	err := Write(path, func(w io.Writer) error {
		entries, _ := os.ReadDir(dir)
		if len(entries) != 1 || !Leftover(entries[0].Name()) {
			t.Errorf("the file being written is not recognised as a leftover: %v", entries)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if Leftover("x.rec") {
		t.Fatal("a state file taken for a leftover")
	}
}

// WriteCache replaces a file whole and privately too, only without
// waiting for the disk.
func TestWriteCache(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "cache")
	for _, content := range []string{"first", "second, longer"} {
		if err := WriteCache(path, func(w io.Writer) error { _, err := io.WriteString(w, content); return err }); err != nil {
			t.Fatal(err)
		}
		data, err := ReadFile(path)
		if err != nil || string(data) != content {
			t.Fatalf("read %q, %v; want %q", data, err, content)
		}
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, %v", fi.Mode(), err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("%d files in the directory, want 1", len(entries))
	}
}

func TestLocalAppDataDirOnWindows(t *testing.T) {
	for in, want := range map[string]string{
		`C:\Users\me\AppData\Local`:  `C:\Users\me\AppData\Local\devstack`,
		`C:\Users\me\AppData\Local\`: `C:\Users\me\AppData\Local\devstack`,
		`d:/profiles/me/local`:       `d:/profiles/me/local\devstack`,
		`\\srv\home\me\Local`:        `\\srv\home\me\Local\devstack`,
	} {
		if got, err := localAppDataDir(in); err != nil || got != want {
			t.Errorf("LOCALAPPDATA=%q: %q %v, want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", `AppData\Local`, `C:`, `C:relative`, "/home/me"} {
		got, err := localAppDataDir(bad)
		if err == nil {
			t.Errorf("LOCALAPPDATA=%q: %q, want an error (never a shared or relative directory)", bad, got)
		} else if !strings.Contains(err.Error(), "LOCALAPPDATA") {
			t.Errorf("the error does not name the variable: %v", err)
		}
	}
}
