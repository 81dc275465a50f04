package snapshot

import (
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// busyboxShell runs a script with busybox's sh and applets only (what the
// test image and many small images have), on this machine's files.
func busyboxShell(t *testing.T) func(script string, args ...string) (string, error) {
	t.Helper()
	bb, err := exec.LookPath("busybox")
	if err != nil {
		t.Skip("no busybox on this machine (apt-get install busybox-static)")
	}
	bin := t.TempDir()
	for _, applet := range []string{"sh", "find", "mv", "rm", "rmdir", "mkdir", "chown", "chmod"} {
		if err := os.Symlink(bb, filepath.Join(bin, applet)); err != nil {
			t.Fatal(err)
		}
	}
	return func(script string, args ...string) (string, error) {
		cmd := exec.Command(filepath.Join(bin, "sh"), append([]string{"-c", script, "restore"}, args...)...)
		cmd.Env = []string{"PATH=" + bin}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
}

// tree lists every entry under dir with its content (files), target
// (links) or "dir", and dir's own mode.
func tree(t *testing.T, dir string) string {
	t.Helper()
	var lines []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		switch {
		case rel == ".":
			fi, _ := d.Info()
			lines = append(lines, fmt.Sprintf(". %o", fi.Mode().Perm()))
		case d.Type()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			lines = append(lines, rel+" -> "+target)
		case d.IsDir():
			lines = append(lines, rel+"/")
		default:
			b, _ := os.ReadFile(p)
			lines = append(lines, rel+" = "+string(b))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func write(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(content, "->") {
			if err := os.Symlink(strings.TrimPrefix(content, "->"), p); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// The swap, cut short at every point a kill can leave it, finishes when
// run again: the volume ends with exactly the staged entries (the old
// ones aside, removed by the clean-up), never a mix; a volume whose
// staged data is gone is named, not swapped.
func TestSwapScriptFinishesFromEveryCut(t *testing.T) {
	run := busyboxShell(t)
	const id = "c0ffee"
	live := map[string]string{"a/x": "old x", "b": "old b", ".hidden": "old hidden", "shared": "old shared"}
	staged := map[string]string{"c/y": "new y", "b": "new b", "link": "->c/y", ".env": "new env", "shared": "new shared"}
	newDir, inDir, oldDir := ".devstack-restore-new."+id, ".devstack-restore-in."+id, ".devstack-restore-old."+id
	move := func(t *testing.T, vol, from, to string, names ...string) {
		for _, n := range names {
			if err := os.Rename(filepath.Join(vol, from, n), filepath.Join(vol, to, n)); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Each cut: what the script had done when it was killed.
	cuts := []struct {
		name string
		cut  func(t *testing.T, vol string)
	}{
		{"before it began", func(t *testing.T, vol string) {}},
		{"old made", func(t *testing.T, vol string) { os.Mkdir(filepath.Join(vol, oldDir), 0o755) }},
		{"some live entries aside", func(t *testing.T, vol string) {
			os.Mkdir(filepath.Join(vol, oldDir), 0o755)
			move(t, vol, "", oldDir, "a", ".hidden")
		}},
		{"every live entry aside", func(t *testing.T, vol string) {
			os.Mkdir(filepath.Join(vol, oldDir), 0o755)
			move(t, vol, "", oldDir, "a", "b", ".hidden", "shared")
		}},
		{"staged data renamed -in", func(t *testing.T, vol string) {
			os.Mkdir(filepath.Join(vol, oldDir), 0o755)
			move(t, vol, "", oldDir, "a", "b", ".hidden", "shared")
			os.Rename(filepath.Join(vol, newDir), filepath.Join(vol, inDir))
		}},
		{"some staged entries in place", func(t *testing.T, vol string) {
			os.Mkdir(filepath.Join(vol, oldDir), 0o755)
			move(t, vol, "", oldDir, "a", "b", ".hidden", "shared")
			os.Rename(filepath.Join(vol, newDir), filepath.Join(vol, inDir))
			move(t, vol, inDir, "", "c", "shared")
		}},
		{"every staged entry in place", func(t *testing.T, vol string) {
			os.Mkdir(filepath.Join(vol, oldDir), 0o755)
			move(t, vol, "", oldDir, "a", "b", ".hidden", "shared")
			os.Rename(filepath.Join(vol, newDir), filepath.Join(vol, inDir))
			move(t, vol, inDir, "", "c", "b", "link", ".env", "shared")
		}},
		{"-in removed, the root's mode not set", func(t *testing.T, vol string) {
			os.Mkdir(filepath.Join(vol, oldDir), 0o755)
			move(t, vol, "", oldDir, "a", "b", ".hidden", "shared")
			os.Rename(filepath.Join(vol, newDir), filepath.Join(vol, inDir))
			move(t, vol, inDir, "", "c", "b", "link", ".env", "shared")
			os.Remove(filepath.Join(vol, inDir))
		}},
	}
	wantDir := t.TempDir()
	write(t, wantDir, staged)
	os.Chmod(wantDir, 0o750)
	want := tree(t, wantDir)
	owner := fmt.Sprintf("%d:%d", os.Getuid(), os.Getgid())
	for _, c := range cuts {
		t.Run(c.name, func(t *testing.T) {
			vol := t.TempDir()
			write(t, vol, live)
			write(t, filepath.Join(vol, newDir), staged)
			// A leftover of an earlier restore that was undone.
			write(t, filepath.Join(vol, ".devstack-restore-old.0ld"), map[string]string{"z": "older"})
			c.cut(t, vol)
			if out, err := run(swapScript, id, vol, owner, "750"); err != nil {
				t.Fatalf("swap: %v: %s", err, out)
			}
			// Run twice (killed after the renames, before the journal said
			// so): nothing moves.
			if out, err := run(swapScript, id, vol, owner, "750"); err != nil {
				t.Fatalf("swap again: %v: %s", err, out)
			}
			for _, n := range []string{newDir, inDir} {
				if _, err := os.Lstat(filepath.Join(vol, n)); err == nil {
					t.Errorf("%s left", n)
				}
			}
			old := tree(t, filepath.Join(vol, oldDir))
			for name, content := range live {
				if !strings.Contains(old, name+" = "+content) {
					t.Errorf("the old entry %s is not aside:\n%s", name, old)
				}
			}
			if out, err := run(cleanScript, vol); err != nil {
				t.Fatalf("clean: %v: %s", err, out)
			}
			if got := tree(t, vol); got != want {
				t.Errorf("the volume holds\n%s\nwant the staged entries\n%s", got, want)
			}
		})
	}
	t.Run("staged data gone", func(t *testing.T) {
		vol := t.TempDir()
		write(t, vol, live)
		out, err := run(swapScript, id, vol, owner, "750")
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 3 || !strings.Contains(out, "staged data of "+vol+" is gone") {
			t.Fatalf("swap without staged data: %v: %s", err, out)
		}
		if got := tree(t, vol); !strings.Contains(got, "b = old b") || strings.Contains(got, ".devstack-restore") {
			t.Errorf("the volume was touched:\n%s", got)
		}
	})
}

// A volume's checksum is XXH64; a snapshot of the first format, with
// SHA-256, is still verified with SHA-256.
func TestVolumeChecksumByFormat(t *testing.T) {
	for _, c := range []struct {
		entry    VolumeEntry
		alg, abc string
	}{
		{VolumeEntry{XXH64: "44bc2cf5ad770999"}, "xxh64", "44bc2cf5ad770999"},
		{VolumeEntry{SHA256: "ba7816bf"}, "sha256", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
		{VolumeEntry{}, "xxh64", "44bc2cf5ad770999"}, // no checksum: refused, as nothing matches ""
	} {
		h, want, alg := volumeCounter(c.entry)
		h.Write([]byte("abc"))
		if alg != c.alg || h.sum() != c.abc || want != c.entry.XXH64+c.entry.SHA256 {
			t.Errorf("%+v: %s %s, want %s %s (compared with %q)", c.entry, alg, h.sum(), c.alg, c.abc, want)
		}
	}
}
