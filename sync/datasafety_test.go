package sync_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	devsync "devstack/sync"
)

// check runs sync check on a service of the stack.
func (s *stack) check(service string) devsync.Drift {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	d, err := devsync.Check(ctx, s.p, s.eng, service, devsync.CheckOptions{StateDir: s.state})
	if err != nil {
		s.t.Fatalf("sync check: %v", err)
	}
	return d
}

// A same-size edit within the second its previous version was synced in
// (devstack not running meanwhile) is seen by sync check and sent by the
// next initial sync: size and mtime second alone cannot tell it.
func TestSameSecondEditIsSeenAndSent(t *testing.T) {
	s := newStack(t, basic, map[string]string{"src/a.txt": "aaaa", "src/old.txt": "old"})
	src := filepath.Join(s.dir, "src")
	c := s.one("app")
	// The mtime is a few seconds ahead, so the sync below writes the
	// container's copy within that second whatever the load.
	sec := time.Now().Add(5 * time.Second).Truncate(time.Second)
	must(t, os.Chtimes(filepath.Join(src, "a.txt"), sec, sec.Add(250*time.Millisecond)))
	s.start(devsync.Options{})
	s.waitTree(c.ID, "/app", "a.txt F aaaa\nold.txt F old\n")
	if d := s.check("app"); !d.Clean() {
		t.Fatalf("not clean after the sync:\n%s", d)
	}
	s.stop()

	writeFile(t, filepath.Join(src, "a.txt"), "bbbb")
	must(t, os.Chtimes(filepath.Join(src, "a.txt"), sec, sec.Add(750*time.Millisecond)))
	d := s.check("app")
	if d.Clean() || len(d.Targets) != 1 || strings.Join(d.Targets[0].Differ, ",") != "/app/a.txt" {
		t.Fatalf("sync check missed the same-second edit:\n%s", d)
	}
	s.start(devsync.Options{})
	s.waitTree(c.ID, "/app", "a.txt F bbbb\nold.txt F old\n")
	if d := s.check("app"); !d.Clean() {
		t.Fatalf("not clean after the second sync:\n%s", d)
	}
}
