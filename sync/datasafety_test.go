package sync_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"devstack/engine/model"
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

// A develop.watch path that is a symlink (to a directory or a file) is
// watched where it points: edits there reach the container. One that
// leads nowhere is refused with the service and path, never accepted
// and then left idle.
func TestSymlinkedWatchPathIsWatched(t *testing.T) {
	s := newStack(t, `
services:
  app:
    image: $IMAGE
    command: ["sleep", "3600"]
    init: true
    develop:
      watch:
        - path: ./link
          action: sync
          target: /app
        - path: ./cfg-link
          action: sync
          target: /cfg/settings.txt
`, map[string]string{"real/a.txt": "a", "real/sub/b.txt": "b", "settings.txt": "s1", "outside.txt": "out"})
	must(t, os.Symlink("real", filepath.Join(s.dir, "link")))
	must(t, os.Symlink("settings.txt", filepath.Join(s.dir, "cfg-link")))
	must(t, os.Symlink("../outside.txt", filepath.Join(s.dir, "real", "escape")))
	c := s.one("app")
	s.start(devsync.Options{})
	s.waitTree(c.ID, "/app", "a.txt F a\nescape L ../outside.txt\nsub D\nsub/b.txt F b\n")
	s.waitTree(c.ID, "/cfg", "settings.txt F s1\n")

	writeFile(t, filepath.Join(s.dir, "real", "a.txt"), "a2")
	writeFile(t, filepath.Join(s.dir, "real", "sub", "new", "c.txt"), "c")
	must(t, os.Remove(filepath.Join(s.dir, "real", "sub", "b.txt")))
	atomicSave(t, filepath.Join(s.dir, "settings.txt"), "s2")
	s.waitTree(c.ID, "/app", "a.txt F a2\nescape L ../outside.txt\nsub D\nsub/new D\nsub/new/c.txt F c\n")
	s.waitTree(c.ID, "/cfg", "settings.txt F s2\n")
	if d := s.check("app"); !d.Clean() {
		t.Fatalf("not clean:\n%s", d)
	}
	s.stop()

	must(t, os.Symlink("nowhere", filepath.Join(s.dir, "dangling")))
	p := *s.p
	p.Services = append([]model.Service(nil), s.p.Services...)
	p.Services[0].Watch = append(p.Services[0].Watch[:0:0], p.Services[0].Watch[0])
	p.Services[0].Watch[0].Path = filepath.Join(s.dir, "dangling")
	_, err := devsync.New(devsync.Options{Project: &p, Engine: s.eng})
	if err == nil || !strings.Contains(err.Error(), "service app: develop.watch[0]") || !strings.Contains(err.Error(), "dangling") {
		t.Fatalf("a watch path leading nowhere: %v", err)
	}
}
