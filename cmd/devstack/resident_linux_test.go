package main

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// rssFile is the process's resident file-backed memory, in KiB.
func rssFile(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip("no /proc/self/status:", err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "RssFile:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			if err != nil {
				t.Fatalf("RssFile %q: %v", v, err)
			}
			return n
		}
	}
	t.Fatal("no RssFile in /proc/self/status")
	return 0
}

// TestReleaseInitPages: the binary's pages that initialisation made
// resident are given back, and the code released runs again (this test's
// own, after the call). It calls the work, not the once-only wrapper: the
// in-process CLI tests of this package have used that up already.
func TestReleaseInitPages(t *testing.T) {
	strings.Repeat("warm", 1) // the pages this test runs again below are resident now
	before := rssFile(t)
	dropInitPages()
	after := rssFile(t)
	t.Logf("resident file pages: %d KiB before, %d KiB after", before, after)
	if after > before/2 {
		t.Fatalf("resident file pages went from %d KiB to %d KiB only", before, after)
	}
	if got := strings.Repeat("ab", 2); got != "abab" { // code mapped back
		t.Fatalf("got %q", got)
	}
}
