package sync_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"devstack/engine"
	"devstack/engine/docker"
	"devstack/engine/enginetest"
	"devstack/engine/event"
	"devstack/engine/load"
	devsync "devstack/sync"
)

// newStackOn is newStack on the engine at host; the project goes with
// that engine (a private one, removed whole when the test ends).
func newStackOn(t *testing.T, host, compose string, files map[string]string) *stack {
	t.Helper()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "compose.yaml"), strings.ReplaceAll(compose, "$IMAGE", enginetest.BusyboxImage))
	for name, content := range files {
		writeFile(t, filepath.Join(dir, name), content)
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	rt, err := docker.New(context.Background(), docker.Options{Host: host})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })
	p, err := load.Load(context.Background(), load.Options{WorkDir: dir, ProjectName: "dssr" + hex.EncodeToString(b)})
	if err != nil {
		t.Fatal(err)
	}
	s := &stack{t: t, dir: dir, p: p, rec: &event.Recorder{}, state: t.TempDir()}
	s.eng = &dockerEngine{rt: rt, e: engine.New(rt, event.Discard), p: p}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := s.eng.e.Up(ctx, p, engine.UpOptions{}); err != nil {
		t.Fatalf("up: %v", err)
	}
	return s
}

// TestSyncResumesAfterTheEngineRestarts restarts the Docker engine (a
// private one) under a running sync wired as `up` wires it: what changed
// on the host while the engine was away reaches the container once it is
// back — a deletion deleted, an appended log whole and once, a new file
// — each sent once, and later edits sync as before.
func TestSyncResumesAfterTheEngineRestarts(t *testing.T) {
	d := enginetest.StartDockerd(t)
	d.LoadImage(enginetest.Busybox(t))
	s := newStackOn(t, d.Host, `
services:
  app:
    image: $IMAGE
    command: ["sleep", "3600"]
    init: true
    restart: unless-stopped
    stop_grace_period: 1s
    x-devstack:
      sync:
        quiet: 20ms
    develop:
      watch:
        - path: ./src
          action: sync
          target: /app
`, map[string]string{"src/keep.txt": "k", "src/gone.txt": "g", "src/app.log": "one"})
	src := filepath.Join(s.dir, "src")
	// Only the engine's word (a container start) or a failure makes sync
	// look for containers again: no periodic look during the engine's
	// shutdown that would drop the replica and what is pending for it.
	sy := s.start(devsync.Options{Refresh: time.Hour})
	// As runSync does: container states tell the syncer of restarts.
	ctx, cancel := context.WithCancel(context.Background())
	monitorDone := make(chan struct{})
	go func() {
		defer close(monitorDone)
		_ = engine.New(s.eng.rt, sy).Monitor(ctx, s.p, engine.MonitorOptions{Services: sy.Services(), States: true})
	}()
	t.Cleanup(func() { cancel(); <-monitorDone })
	c := s.one("app")
	s.waitTree(c.ID, "/app", hostTree(t, src, nil))

	d.Stop()
	mark := s.mark()
	must(t, os.Remove(filepath.Join(src, "gone.txt")))
	writeFile(t, filepath.Join(src, "new.txt"), "n")
	failed := s.waitSync(mark, func(e event.Sync) bool { return e.Error != "" })
	t.Logf("while the engine is away: %s", failed.Error)
	// A log the host appends to, a line at a time: each append is a
	// batch that fails (and the retries back off, so that the engine's
	// report of the restart comes first and the catch-up is a resync).
	for i := 2; i <= 7; i++ {
		at := s.mark()
		f, err := os.OpenFile(filepath.Join(src, "app.log"), os.O_APPEND|os.O_WRONLY, 0)
		must(t, err)
		_, err = fmt.Fprintf(f, "\n%d", i)
		must(t, err)
		must(t, f.Close())
		s.waitSync(at, func(e event.Sync) bool { return e.Error != "" })
	}

	answered := d.Start()
	s.waitTree(c.ID, "/app", hostTree(t, src, nil))
	t.Logf("sync caught up %v after the engine answered again", time.Since(answered).Round(time.Millisecond))
	if got, want := s.sh(c.ID, "cat /app/app.log"), "one\n2\n3\n4\n5\n6\n7"; got != want {
		t.Errorf("the appended log reads %q in the container, want %q", got, want)
	}

	// Nothing applied twice: the catch-up sent the two changed files and
	// the one deletion once, however many ways (a retry, the restart's
	// resync) it was asked for.
	files, deleted := 0, 0
	for _, e := range s.rec.Events()[mark:] {
		if se, ok := e.(event.Sync); ok && se.Error == "" {
			files += se.Files
			deleted += se.Deleted
			t.Logf("sync after the restart: %s %d files, %d deleted %v", se.Action, se.Files, se.Deleted, se.Paths)
		}
	}
	if files != 2 || deleted != 1 {
		t.Errorf("the catch-up sent %d files and %d deletions, want 2 and 1 (each once); events:\n%s", files, deleted, s.syncEvents())
	}

	// Sync goes on as before.
	writeFile(t, filepath.Join(src, "later.txt"), "l")
	s.waitTree(c.ID, "/app", hostTree(t, src, nil))
}
