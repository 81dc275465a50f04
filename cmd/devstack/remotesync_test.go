package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// waitIn polls a command in the remote container until its output
// satisfies ok, for at most a minute.
func (s *remoteStack) waitIn(container, what string, ok func(out string, err error) bool, cmd ...string) {
	s.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		out, err := s.h.Docker(append([]string{"exec", container}, cmd...)...)
		if ok(out, err) {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("%s: %v gave %q %v after a minute", what, cmd, out, err)
		}
		time.Sleep(50 * time.Millisecond) // polling with a deadline
	}
}

func (s *remoteStack) write(name, content string) {
	s.t.Helper()
	if err := os.WriteFile(filepath.Join(s.dir, name), []byte(content), 0o644); err != nil {
		s.t.Fatal(err)
	}
}

// On a remote engine, binds of directories under the project become
// volumes kept in line by sync: the files of this machine are in the
// container, edits and deletions follow, .dockerignore holds, a
// read-only bind stays read-only, and a bind outside the project stays a
// bind of the engine machine's path, with the warning.
func TestRemoteBindsSynced(t *testing.T) {
	s := newRemoteStack(t, map[string]string{
		"compose.yaml": `services:
  app:
    image: $IMAGE
    command: ["sleep", "3600"]
    init: true
    volumes:
      - ./src:/app
      - type: bind
        source: ./conf
        target: /conf
        read_only: true
      - /etc/hostname:/engine-hostname:ro
`,
		"src/a.txt":         "a1",
		"src/b.txt":         "b1",
		"src/debug.log":     "ignored",
		"src/.dockerignore": "*.log\n",
		"conf/c.txt":        "c1",
	})
	up := s.start("up", "--no-tui")
	defer up.interrupt(t)
	out := &up.out
	app := s.project + "-app-1"
	gone := func(out string, err error) bool { return err != nil && strings.Contains(out, "No such file") }
	s.waitIn(app, "the initial sync", outputIs("a1"), "cat", "/app/a.txt")
	s.waitIn(app, "the initial sync", outputIs("b1"), "cat", "/app/b.txt")
	s.waitIn(app, "the read-only bind's files", outputIs("c1"), "cat", "/conf/c.txt")
	if o, err := s.h.Docker("exec", app, "ls", "/app"); err != nil || strings.Contains(o, "debug.log") {
		t.Errorf("ignored by .dockerignore, yet in the container: %q %v", o, err)
	}
	if o, err := s.h.Docker("exec", app, "touch", "/conf/new"); err == nil || !strings.Contains(o, "Read-only") {
		t.Errorf("the read-only bind is writable in the container: %q %v", o, err)
	}
	mounts, err := s.h.Docker("inspect", "-f", `{{range .Mounts}}{{.Type}}:{{.Destination}}:{{.RW}} {{end}}`, app)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"volume:/app:true", "volume:/conf:false", "bind:/engine-hostname:false"} {
		if !strings.Contains(mounts, want) {
			t.Errorf("mounts %q lack %s", mounts, want)
		}
	}

	s.write("src/a.txt", "a2")
	s.waitIn(app, "an edit", outputIs("a2"), "cat", "/app/a.txt")
	if err := os.Remove(filepath.Join(s.dir, "src/b.txt")); err != nil {
		t.Fatal(err)
	}
	s.waitIn(app, "a deletion", gone, "cat", "/app/b.txt")
	s.write("conf/c.txt", "c2")
	s.waitIn(app, "an edit under the read-only bind", outputIs("c2"), "cat", "/conf/c.txt")
	s.write("src/more.log", "x")
	s.write("src/d.txt", "d1")
	s.waitIn(app, "a new file", outputIs("d1"), "cat", "/app/d.txt")
	if o, _ := s.h.Docker("exec", app, "ls", "/app"); strings.Contains(o, "more.log") {
		t.Errorf("an ignored new file reached the container: %q", o)
	}
	// sync check compares the synced volumes too: in line now; a file
	// changed in the container behind sync's back is drift.
	if o, errOut, err := s.try("sync", "check", "app"); err != nil {
		t.Errorf("sync check on the synced binds: %v\n%s%s", err, o, errOut)
	}
	if _, err := s.h.Docker("exec", app, "sh", "-c", "echo tampered > /app/a.txt"); err != nil {
		t.Fatal(err)
	}
	if o, _, err := s.try("sync", "check", "app"); err == nil || !strings.Contains(o, "a.txt") {
		t.Errorf("sync check after a change in the container: %v\n%s", err, o)
	}
	if !strings.Contains(out.String(), "/etc/hostname is bound from that path on the engine's machine") {
		t.Errorf("no warning for the bind outside the project:\n%s", out.String())
	}
	if strings.Contains(out.String(), "/src is bound from") {
		t.Errorf("a warning for a synced bind:\n%s", out.String())
	}
	// Nothing was written back here.
	if b, _ := os.ReadFile(filepath.Join(s.dir, "src/a.txt")); string(b) != "a2" {
		t.Errorf("src/a.txt here is %q", b)
	}
}

// After up -d the background process keeps the synced bind current, and
// down stops it.
func TestRemoteBindsSyncedAfterDetach(t *testing.T) {
	s := newRemoteStack(t, map[string]string{
		"compose.yaml": `services:
  app:
    image: $IMAGE
    command: ["sleep", "3600"]
    init: true
    volumes: ["./src:/app"]
`,
		"src/a.txt": "a1",
	})
	s.devstack("up", "-d")
	app := s.project + "-app-1"
	s.waitIn(app, "the initial sync", outputIs("a1"), "cat", "/app/a.txt")
	s.write("src/a.txt", "a2")
	s.waitIn(app, "an edit after up -d", outputIs("a2"), "cat", "/app/a.txt")
	s.devstack("down", "-v")
	if vols, _ := s.h.Docker("volume", "ls", "-q"); strings.Contains(vols, s.project) {
		t.Errorf("down -v left the synced volume: %s", vols)
	}
}

// The link to the engine's machine is cut for 5 s under an attached up
// (sync and a forward) and restored: a command meanwhile says within 10 s
// that the engine is unreachable, an edit made while the link was down
// arrives, and the forward answers again.
func TestRemoteLinkCutAndRestored(t *testing.T) {
	port := freeTestPort(t)
	s := newRemoteStack(t, map[string]string{
		"compose.yaml": fmt.Sprintf(`services:
  app:
    image: $IMAGE
`+serveHostname+`
    init: true
    ports: ["%d:80"]
    volumes: ["./src:/app"]
`, port),
		"src/a.txt": "a1",
	})
	up := s.start("up", "--no-tui")
	defer up.interrupt(t)
	app := s.project + "-app-1"
	s.waitIn(app, "the initial sync", outputIs("a1"), "cat", "/app/a.txt")
	local := "127.0.0.1:" + strconv.Itoa(port)
	pollGet(t, local, func(string) bool { return true })

	s.h.LinkDown()
	down := time.Now()
	start := time.Now()
	_, errOut, err := s.try("ps")
	took := time.Since(start)
	if err == nil || !strings.Contains(errOut, "does not answer") && !strings.Contains(errOut, "unable to reach") {
		t.Errorf("ps on a dead link: %v %s", err, errOut)
	}
	if took > 10*time.Second {
		t.Errorf("ps on a dead link took %v to fail", took)
	}
	s.write("src/a.txt", "a2")                        // while the link is down
	time.Sleep(time.Until(down.Add(5 * time.Second))) // the outage lasts 5 s: the scenario, not a wait for a result
	s.h.LinkUp()
	back := time.Now()
	s.waitIn(app, "the edit made while the link was down", outputIs("a2"), "cat", "/app/a.txt")
	synced := time.Since(back)
	pollGet(t, local, func(string) bool { return true })
	forwarded := time.Since(back)
	t.Logf("after the link came back: edit in the container after %v, forward answering after %v; ps on the dead link failed in %v",
		synced.Round(time.Millisecond), forwarded.Round(time.Millisecond), took.Round(time.Millisecond))
	s.write("src/a.txt", "a3")
	s.waitIn(app, "an edit after the link came back", outputIs("a3"), "cat", "/app/a.txt")
}

// lockedBuilder is a strings.Builder a process's two streams may share.
type lockedBuilder struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuilder) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuilder) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// The link drops in the middle of up -d: up fails within seconds (no
// hang) saying so, nothing here is touched, and once the link is back
// the next up converges.
func TestRemoteLinkDropsMidUp(t *testing.T) {
	s := newRemoteStack(t, map[string]string{
		"compose.yaml": `services:
  a:
    image: $IMAGE
    command: ["sleep", "3600"]
    init: true
    volumes: ["./src:/app"]
  b:
    image: $IMAGE
    command: ["sleep", "3600"]
    init: true
    depends_on: [a]
  c:
    image: $IMAGE
    command: ["sleep", "3600"]
    init: true
    depends_on: [b]
`,
		"src/a.txt": "a1",
	})
	up := s.start("up", "-d")
	out := &up.out
	// Cut as soon as the first container is being made.
	up.waitOutput(t, "Creating", "creating")
	s.h.LinkDown()
	cut := time.Now()
	upErr := s.endsAfterCut(up)
	took := time.Since(cut)
	s.h.LinkUp()
	t.Logf("up -d ended %v after the link dropped: %v\n%s", took.Round(time.Millisecond), upErr, out.String())
	if upErr != nil && !strings.Contains(out.String(), "unreachable over SSH") {
		t.Errorf("up -d on a dropped link does not say the machine is unreachable:\n%s", out.String())
	}
	if upErr == nil {
		t.Log("up -d finished before the cut took effect; the next up must still converge")
	} else if took > 15*time.Second {
		t.Errorf("up -d took %v to give up on a dead link", took)
	}
	if b, err := os.ReadFile(filepath.Join(s.dir, "src/a.txt")); err != nil || string(b) != "a1" {
		t.Errorf("src/a.txt here: %q %v", b, err)
	}
	s.devstack("up", "-d")
	for _, svc := range []string{"a", "b", "c"} {
		st, err := s.h.Docker("inspect", "-f", "{{.State.Status}}", s.project+"-"+svc+"-1")
		if err != nil || strings.TrimSpace(st) != "running" {
			t.Errorf("%s after the second up: %q %v", svc, st, err)
		}
	}
	s.waitIn(s.project+"-a-1", "the synced bind after the second up", outputIs("a1"), "cat", "/app/a.txt")
	s.devstack("down", "-v")
}
