package sync_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"devstack/engine/enginetest"
	"devstack/engine/event"
	devsync "devstack/sync"
)

func (s *stack) startedAt(id string) time.Time {
	s.t.Helper()
	c, err := s.eng.rt.InspectContainer(context.Background(), id)
	if err != nil {
		s.t.Fatal(err)
	}
	return c.StartedAt
}

func TestActionsExecRestartAndRebuild(t *testing.T) {
	s := newStack(t, `
services:
  web:
    build: .
    command: ["sleep", "3600"]
    init: true
    develop:
      watch:
        - path: ./src
          action: sync+exec
          target: /app
          exec:
            command: ["sh", "-c", "cat /app/cfg > /tmp/applied; exit $$(cat /app/code 2>/dev/null || echo 0)"]
        - path: ./conf
          action: sync+restart
          target: /etc/web
        - path: ./trigger
          action: restart
        - path: ./Dockerfile
          action: rebuild
`, map[string]string{
		"Dockerfile":  "FROM $IMAGE\n",
		"src/cfg":     "one",
		"conf/a.conf": "a",
		"trigger/x":   "x",
	})
	c := s.one("web")
	s.start(devsync.Options{})

	// sync+exec runs the command after the copy, and reports its failure.
	mark := s.mark()
	writeFile(t, filepath.Join(s.dir, "src", "cfg"), "two")
	ev := s.waitSync(mark, func(e event.Sync) bool { return e.Action == "sync+exec" })
	if ev.Error != "" || ev.Files != 1 {
		t.Fatalf("sync+exec: %+v", ev)
	}
	if got := s.sh(c.ID, "cat /tmp/applied"); got != "two" {
		t.Fatalf("exec saw %q", got)
	}
	mark = s.mark()
	writeFile(t, filepath.Join(s.dir, "src", "code"), "3")
	ev = s.waitSync(mark, func(e event.Sync) bool { return e.Action == "sync+exec" })
	if !strings.Contains(ev.Error, "exited with 3") {
		t.Fatalf("a failing exec is reported: %+v", ev)
	}

	// sync+restart copies, then restarts.
	before := s.startedAt(c.ID)
	mark = s.mark()
	writeFile(t, filepath.Join(s.dir, "conf", "a.conf"), "a2")
	ev = s.waitSync(mark, func(e event.Sync) bool { return e.Action == "sync+restart" })
	if ev.Error != "" || ev.Files != 1 {
		t.Fatalf("sync+restart: %+v", ev)
	}
	if got := s.sh(c.ID, "cat /etc/web/a.conf"); got != "a2" {
		t.Fatalf("conf after restart: %q", got)
	}
	after := s.startedAt(c.ID)
	if !after.After(before) {
		t.Fatalf("not restarted: started %v, then %v", before, after)
	}

	// restart only restarts; the next change still syncs through a new exec.
	mark = s.mark()
	writeFile(t, filepath.Join(s.dir, "trigger", "x"), "y")
	ev = s.waitSync(mark, func(e event.Sync) bool { return e.Action == "restart" })
	if ev.Error != "" || ev.Files != 0 {
		t.Fatalf("restart: %+v", ev)
	}
	if again := s.startedAt(c.ID); !again.After(after) {
		t.Fatal("restart action did not restart")
	}
	if out := s.sh(c.ID, "ls /trigger 2>&1 || true"); !strings.Contains(out, "No such file") {
		t.Fatalf("restart action copied files: %q", out)
	}
	writeFile(t, filepath.Join(s.dir, "src", "code"), "0")
	writeFile(t, filepath.Join(s.dir, "src", "cfg"), "three")
	eventually(t, "sync after restart", func() (bool, string) {
		got := s.sh(c.ID, "cat /tmp/applied 2>/dev/null || true")
		return got == "three", got
	})

	// rebuild builds and recreates; the new container gets an initial sync.
	mark = s.mark()
	writeFile(t, filepath.Join(s.dir, "Dockerfile"), "FROM "+enginetest.BusyboxImage+"\nRUN echo v2 > /version\n")
	ev = s.waitSync(mark, func(e event.Sync) bool { return e.Action == "rebuild" })
	if ev.Error != "" {
		t.Fatalf("rebuild: %+v", ev)
	}
	s.waitSync(mark, func(e event.Sync) bool { return e.Action == "initial" && e.Error == "" })
	nc := s.one("web")
	if nc.ID == c.ID {
		t.Fatal("rebuild kept the old container")
	}
	if got := s.sh(nc.ID, "cat /version /app/cfg /etc/web/a.conf"); got != "v2\nthreea2" {
		t.Fatalf("rebuilt container holds %q", got)
	}
}
