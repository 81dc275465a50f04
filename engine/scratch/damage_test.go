//go:build unix

package scratch

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// damagedHistoryChild is the child half of TestADamagedHistoryIsMovedAside:
// one List or Add on the history at path, its outcome printed. A crash
// (bbolt faulting on the file) ends the child, not the test.
func damagedHistoryChild(path, op string) {
	h := OpenHistory(path)
	switch op {
	case "list":
		got, err := h.List("")
		fmt.Printf("reports %d\n", len(got))
		if err != nil {
			fmt.Printf("error: %v\n", err)
		}
	case "add":
		err := h.Add(&Report{ID: "after", Project: "shop", Status: StatusPass})
		fmt.Println("added")
		if err != nil {
			fmt.Printf("error: %v\n", err)
		}
	case "fault":
		// A fault no check foresaw, inside a read of the store: a read
		// past the end of a mapped file that shrank (SIGBUS).
		err := h.use(true, func(*bolt.DB) error {
			fmt.Printf("fault %d\n", faultOnMappedFile())
			return nil
		})
		fmt.Printf("error: %v\n", err)
	case "many":
		// path is a directory of damaged histories: each is listed and
		// added to, in this one process.
		files, _ := filepath.Glob(filepath.Join(path, "*.db"))
		for _, f := range files {
			h := OpenHistory(f)
			_, lerr := h.List("")
			aerr := h.Add(&Report{ID: "after", Project: "shop", Status: StatusPass})
			fmt.Printf("%s list: %v; add: %v\n", filepath.Base(f), lerr, aerr)
		}
	}
	os.Exit(0)
}

// healthyHistory writes a history big enough to have branch pages, leaf
// pages and a freelist, and returns its bytes.
func healthyHistory(t *testing.T) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "scratch.db")
	h := OpenHistory(path)
	for i := 0; i < 60; i++ {
		r := &Report{ID: strconv.Itoa(i), Project: "shop", Status: StatusFail, Started: time.Unix(int64(i), 0).UTC(),
			Error: strings.Repeat("e", 1500)}
		if err := h.Add(r); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// bbolt's page layout, for damaging one page on purpose: a page starts
// with id (8 bytes), flags (2), count (2), overflow (4); elements follow.
const (
	branchPage   = 0x01
	leafPage     = 0x02
	freelistPage = 0x10
)

func pageSizeOf(data []byte) int {
	return int(binary.NativeEndian.Uint32(data[16+8:])) // meta: magic, version, page size
}

// findPage returns the offset of the first page with the given flags.
func findPage(t *testing.T, data []byte, flags uint16) int {
	t.Helper()
	ps := pageSizeOf(data)
	for off := 2 * ps; off+ps <= len(data); off += ps {
		if binary.NativeEndian.Uint16(data[off+8:]) == flags && binary.NativeEndian.Uint16(data[off+10:]) > 0 {
			return off
		}
	}
	t.Fatalf("no page with flags %#x in the history", flags)
	return 0
}

func TestADamagedHistoryIsMovedAside(t *testing.T) {
	healthy := healthyHistory(t)
	ps := pageSizeOf(healthy)
	damages := []struct {
		name   string
		damage func(t *testing.T, b []byte) []byte
	}{
		{"shorter than its meta pages", func(t *testing.T, b []byte) []byte { return b[:100] }},
		{"truncated to half", func(t *testing.T, b []byte) []byte { return b[:len(b)/2/ps*ps] }},
		{"truncated to its meta pages", func(t *testing.T, b []byte) []byte { return b[:2*ps] }},
		{"random bytes", func(t *testing.T, b []byte) []byte {
			r := make([]byte, len(b))
			_, _ = rand.Read(r)
			return r
		}},
		{"both meta pages corrupted", func(t *testing.T, b []byte) []byte {
			copy(b[16:], "garbage!")
			copy(b[ps+16:], "garbage!")
			return b
		}},
		{"a leaf element pointing far away", func(t *testing.T, b []byte) []byte {
			off := findPage(t, b, leafPage)
			binary.NativeEndian.PutUint32(b[off+16+4:], 0x7ffffff0) // element 0: flags, pos
			return b
		}},
		{"a branch element naming a page far beyond the file", func(t *testing.T, b []byte) []byte {
			off := findPage(t, b, branchPage)
			binary.NativeEndian.PutUint64(b[off+16+8:], 1<<40) // element 0: pos, ksize, pgid
			return b
		}},
		{"a freelist claiming a huge count", func(t *testing.T, b []byte) []byte {
			off := findPage(t, b, freelistPage)
			binary.NativeEndian.PutUint16(b[off+10:], 0xffff)
			binary.NativeEndian.PutUint64(b[off+16:], 1<<40)
			return b
		}},
		{"a page that is not what its parent says", func(t *testing.T, b []byte) []byte {
			off := findPage(t, b, leafPage)
			binary.NativeEndian.PutUint64(b[off:], 12345) // its id
			return b
		}},
	}
	for _, d := range damages {
		for _, op := range []string{"list", "add"} {
			t.Run(d.name+"/"+op, func(t *testing.T) {
				path := filepath.Join(t.TempDir(), "scratch.db")
				damaged := d.damage(t, bytes.Clone(healthy))
				if err := os.WriteFile(path, damaged, 0o600); err != nil {
					t.Fatal(err)
				}
				out, err := historyChild(path, op)
				if err != nil {
					t.Fatalf("%s on the damaged history crashed: %v\n%s", op, err, tail(out))
				}
				want := fmt.Sprintf("history damaged at %s: moved aside to %s.broken; starting a new one", path, path)
				if !strings.Contains(string(out), want) {
					t.Fatalf("%s did not say %q:\n%s", op, want, out)
				}
				kept, err := os.ReadFile(path + ".broken")
				if err != nil || !bytes.Equal(kept, damaged) {
					t.Fatalf("the damaged file was not kept whole as %s.broken: %v", path, err)
				}
				got, err := OpenHistory(path).List("")
				wantN := map[string]int{"list": 0, "add": 1}[op]
				if err != nil || len(got) != wantN {
					t.Fatalf("the new history holds %d reports (%v), want %d", len(got), err, wantN)
				}
			})
		}
	}
}

// faultOnMappedFile maps a file, truncates it under the mapping and reads
// the page that is gone.
func faultOnMappedFile() byte {
	f, err := os.CreateTemp("", "fault-*")
	if err != nil {
		panic(err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	if err := f.Truncate(4 * 4096); err != nil {
		panic(err)
	}
	m, err := syscall.Mmap(int(f.Fd()), 0, 4*4096, syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		panic(err)
	}
	defer syscall.Munmap(m)
	if err := f.Truncate(0); err != nil {
		panic(err)
	}
	return m[3*4096]
}

// Should bbolt fault on a file in a way checkBolt did not foresee, the
// fault is damage, reported as such, not the end of the process.
func TestAFaultReadingTheHistoryIsDamageNotACrash(t *testing.T) {
	path := filepath.Join(t.TempDir(), "scratch.db")
	if err := os.WriteFile(path, healthyHistory(t), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := historyChild(path, "fault")
	if err != nil {
		t.Fatalf("the fault killed the process: %v\n%s", err, tail(out))
	}
	if strings.Contains(string(out), "fault 0") {
		t.Fatalf("the read did not fault: the test proves nothing\n%s", out)
	}
	want := fmt.Sprintf("history damaged at %s: moved aside to %s.broken; starting a new one", path, path)
	if !strings.Contains(string(out), want) {
		t.Fatalf("the fault was not reported as damage:\n%s", out)
	}
}

// Damage anywhere: a few bytes changed at random in a data page, many
// times over. Whatever bbolt or the check make of each file, no List or
// Add crashes; a file they cannot use is moved aside.
func TestRandomDamageNeverCrashes(t *testing.T) {
	healthy := healthyHistory(t)
	ps := pageSizeOf(healthy)
	dir := t.TempDir()
	const variants = 300
	for i := 0; i < variants; i++ {
		b := bytes.Clone(healthy)
		var r [16]byte
		_, _ = rand.Read(r[:])
		page := 2 + int(binary.NativeEndian.Uint32(r[:]))%(len(b)/ps-2)
		for j := 0; j < 4; j++ {
			off := page*ps + int(binary.NativeEndian.Uint16(r[4+2*j:]))%ps
			b[off] = r[12+j%4]
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%03d.db", i)), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	out, err := historyChild(dir, "many")
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if err != nil || len(lines) != variants {
		last := ""
		if len(lines) > 0 {
			last = lines[len(lines)-1]
		}
		t.Fatalf("crashed after %d of %d damaged files (last: %s): %v\n%s", len(lines), variants, last, err, tail(out))
	}
	moved, _ := filepath.Glob(filepath.Join(dir, "*.broken"))
	t.Logf("%d of %d randomly damaged histories were moved aside, none crashed", len(moved), variants)
}

// A file of 0 bytes (made, never written) is an empty history.
func TestAnEmptyHistoryFileIsAnEmptyHistory(t *testing.T) {
	for _, op := range []string{"list", "add"} {
		path := filepath.Join(t.TempDir(), "scratch.db")
		if err := os.WriteFile(path, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := historyChild(path, op)
		if err != nil || strings.Contains(string(out), "error") {
			t.Fatalf("%s on an empty file: %v\n%s", op, err, tail(out))
		}
		if _, err := os.Stat(path + ".broken"); err == nil {
			t.Fatalf("%s moved an empty history aside", op)
		}
	}
}

// historyChild runs damagedHistoryChild in a new process of this test
// binary and returns what it printed.
func historyChild(path, op string) ([]byte, error) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "DEVSTACK_HISTORY_DAMAGED="+path, "DEVSTACK_HISTORY_OP="+op)
	return cmd.CombinedOutput()
}

func tail(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 12 {
		lines = lines[:12]
	}
	return strings.Join(lines, "\n")
}
