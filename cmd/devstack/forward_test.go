package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"devstack/engine/enginetest"
	"devstack/engine/forward"
)

// remoteStack is a project in a temporary directory, run by the devstack
// binary against an SSH test host.
type remoteStack struct {
	t       *testing.T
	h       *enginetest.SSHHost
	dir     string
	project string
	env     []string
}

// backdate sets path's mtime ago into the past, as a source edited a
// while before the command runs: a file modified within the last 2 s makes
// every fill's record unique (sync.SourcesDigest), so a test asserting that
// nothing is sent again needs sources older than that.
func backdate(t *testing.T, path string, ago time.Duration) {
	t.Helper()
	at := time.Now().Add(-ago)
	if err := os.Chtimes(path, at, at); err != nil {
		t.Fatal(err)
	}
}

func newRemoteStack(t *testing.T, files map[string]string) *remoteStack {
	t.Helper()
	h := enginetest.StartSSHHost(t)
	h.LoadImage(enginetest.Busybox(t))
	s := &remoteStack{t: t, h: h, dir: t.TempDir(), project: randomProject("dsremote")}
	for name, content := range files {
		path := filepath.Join(s.dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(strings.ReplaceAll(content, "$IMAGE", enginetest.BusyboxImage)), 0o644); err != nil {
			t.Fatal(err)
		}
		backdate(t, path, time.Hour)
	}
	state := t.TempDir()
	t.Setenv("XDG_STATE_HOME", state) // where the test reads the forwarder's record
	s.env = append(withoutEnv(os.Environ(), "DOCKER_HOST", "COMPOSE_PROJECT_NAME", "XDG_STATE_HOME", "DOCKER_CONTEXT"),
		"DOCKER_HOST="+h.URL, "COMPOSE_PROJECT_NAME="+s.project, "XDG_STATE_HOME="+state, "NO_COLOR=1")
	t.Cleanup(func() {
		// A forwarder a failed test left behind.
		if r, ok, _ := forward.ReadRecord(h.URL, s.project); ok {
			if p, err := os.FindProcess(r.PID); err == nil {
				_ = p.Kill()
			}
		}
	})
	return s
}

// devstack runs the binary in the project's directory and returns its
// standard output; it fails the test on a non-zero exit.
func (s *remoteStack) devstack(args ...string) string {
	s.t.Helper()
	out, errOut, err := s.try(args...)
	if err != nil {
		s.t.Fatalf("devstack %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

func (s *remoteStack) try(args ...string) (string, string, error) {
	bin, err := exec.LookPath("devstack") // the test binary, installed by testscript.Main
	if err != nil {
		s.t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir, cmd.Env = s.dir, s.env
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.String(), errOut.String(), err
}

// background is a devstack command left running while the test goes on.
type background struct {
	name   string
	cmd    *exec.Cmd
	out    lockedBuilder // its standard output and error
	exited chan error    // its end, once
}

// start runs the binary in the project's directory without waiting for
// it to end.
func (s *remoteStack) start(args ...string) *background {
	s.t.Helper()
	bin, err := exec.LookPath("devstack")
	if err != nil {
		s.t.Fatal(err)
	}
	b := &background{name: strings.Join(args, " "), exited: make(chan error, 1)}
	b.cmd = exec.Command(bin, args...)
	b.cmd.Dir, b.cmd.Env = s.dir, s.env
	b.cmd.Stdout, b.cmd.Stderr = &b.out, &b.out
	if err := b.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	go func() { b.exited <- b.cmd.Wait() }()
	return b
}

// interrupt is Ctrl-C: it waits up to a minute for the command to end
// (then kills it) and, when the test failed, logs what it said.
func (b *background) interrupt(t *testing.T) {
	_ = b.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-b.exited:
	case <-time.After(60 * time.Second):
		_ = b.cmd.Process.Kill()
		<-b.exited
	}
	if t.Failed() {
		t.Logf("%s said:\n%s", b.name, b.out.String())
	}
}

// waitOutput polls the command's output, for at most a minute, until it
// holds want; what names that moment in the failure.
func (b *background) waitOutput(t *testing.T, want, what string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(b.out.String(), want) {
		if time.Now().After(deadline) {
			_ = b.cmd.Process.Kill()
			t.Fatalf("%s never got to %s:\n%s", b.name, what, b.out.String())
		}
		time.Sleep(5 * time.Millisecond) // polling the output, bounded
	}
}

// endsAfterCut waits for a command to end once the link dropped: past 30
// s it is killed, the link comes back and the test fails.
func (s *remoteStack) endsAfterCut(b *background) error {
	s.t.Helper()
	select {
	case err := <-b.exited:
		return err
	case <-time.After(30 * time.Second):
		_ = b.cmd.Process.Kill()
		s.h.LinkUp()
		s.t.Fatalf("%s still runs 30 s after the link dropped:\n%s", b.name, b.out.String())
		return nil
	}
}

// outputIs is a waitIn condition: the command succeeded and printed want.
func outputIs(want string) func(string, error) bool {
	return func(out string, err error) bool { return err == nil && strings.TrimSpace(out) == want }
}

// running reports whether container c is running on the engine.
func (s *remoteStack) running(c string) bool {
	st, _ := s.h.Docker("inspect", "-f", "{{.State.Status}}", c)
	return strings.TrimSpace(st) == "running"
}

// serveHostname is a compose service's command line that serves the
// container's hostname over HTTP on port 80: a recreated container
// answers differently.
const serveHostname = `    command: ["sh", "-c", "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 80 -h /www"]`

func httpGet(addr string) (string, error) {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + addr + "/")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return strings.TrimSpace(string(b)), err
}

// forwardedPort checks that web's port 80, published at port on the
// engine's machine, answers at local here as it does there, and that
// `port web 80` names local; it returns the page (the container's
// hostname).
func (s *remoteStack) forwardedPort(local string, port int) string {
	s.t.Helper()
	first := pollGet(s.t, local, func(string) bool { return true })
	if got := pollGet(s.t, net.JoinHostPort(s.h.Addr, strconv.Itoa(port)), func(string) bool { return true }); got != first {
		s.t.Fatalf("through the forward %q, at the engine %q", first, got)
	}
	if out := strings.TrimSpace(s.devstack("port", "web", "80")); out != local {
		s.t.Errorf("port web 80 = %q, want %s", out, local)
	}
	return first
}

func pollGet(t *testing.T, addr string, ok func(string) bool) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, err := httpGet(addr)
		if err == nil && ok(got) {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("http://%s/: %q %v after 30s", addr, got, err)
		}
		time.Sleep(50 * time.Millisecond) // polling with a deadline
	}
}

func freeTestPort(t *testing.T) int {
	t.Helper()
	for p := 20000 + int(time.Now().UnixNano()%9000); ; p++ {
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err == nil {
			l.Close()
			return p
		}
	}
}

// up -d on a remote engine leaves a background forwarder: the published
// port answers on 127.0.0.1 here (and only at the host's address on the
// engine's side), ps and port say where, UDP is reported as not
// forwarded, a recreate keeps the local address, and down takes it away.
func TestRemotePortsOnLocalhost(t *testing.T) {
	port := freeTestPort(t)
	s := newRemoteStack(t, map[string]string{"compose.yaml": fmt.Sprintf(`services:
  web:
    image: $IMAGE
`+serveHostname+`
    ports: ["%d:80", "5353:53/udp"]
    init: true
`, port)})
	local := "127.0.0.1:" + strconv.Itoa(port)
	_, errOut, err := s.try("up", "-d")
	if err != nil {
		t.Fatalf("up -d: %v\n%s", err, errOut)
	}
	if !strings.Contains(errOut, "forward web-1 80/tcp: "+local) || !strings.Contains(errOut, "53/udp: not forwarded") {
		t.Errorf("up -d does not say where the ports landed:\n%s", errOut)
	}
	first := s.forwardedPort(local, port)
	if out := strings.TrimSpace(s.devstack("port", "--protocol", "udp", "web", "53")); out != "0.0.0.0:5353" {
		t.Errorf("port --protocol udp web 53 = %q, want the engine's 0.0.0.0:5353", out)
	}
	if _, errOut, err := s.try("port", "web", "99"); err == nil || !strings.Contains(errOut, "does not publish 99/tcp") {
		t.Errorf("port web 99: %v %s", err, errOut)
	}
	var ps []psEntry
	if err := json.Unmarshal([]byte(s.devstack("ps", "--format", "json")), &ps); err != nil {
		t.Fatal(err)
	}
	engPort := fmt.Sprintf("0.0.0.0:%d->80/tcp", port)
	if len(ps) != 1 || ps[0].Local[engPort] != local || len(ps[0].Local) != 1 {
		t.Fatalf("ps --format json: %+v", ps)
	}
	table := s.devstack("ps")
	if !strings.Contains(table, local+"->80/tcp") || !strings.Contains(table, "0.0.0.0:5353->53/udp (not forwarded)") {
		t.Errorf("ps:\n%s", table)
	}

	s.devstack("up", "-d", "--force-recreate")
	pollGet(t, local, func(got string) bool { return got != first })

	r, ok, err := forward.ReadRecord(s.h.URL, s.project)
	if err != nil || !ok || !r.Background {
		t.Fatalf("the forwarder's record: %+v %v %v", r, ok, err)
	}
	s.devstack("down")
	if _, ok, _ := forward.ReadRecord(s.h.URL, s.project); ok {
		t.Error("a forwarder still runs after down")
	}
	if c, err := net.DialTimeout("tcp", local, time.Second); err == nil {
		c.Close()
		t.Errorf("%s still listens after down", local)
	}
	if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", r.PID)); err == nil && !strings.Contains(string(st), ") Z ") {
		t.Errorf("the forwarder (pid %d) still runs after down: %s", r.PID, st)
	}
}

// An attached command takes the forwards over from the background
// forwarder (same local port) and hands them back when it ends with the
// stack still running.
func TestRemoteForwardTakeover(t *testing.T) {
	port := freeTestPort(t)
	s := newRemoteStack(t, map[string]string{"compose.yaml": fmt.Sprintf(`services:
  web:
    image: $IMAGE
`+serveHostname+`
    ports: ["%d:80"]
    init: true
    volumes: ["./src:/app"]
`, port), "src/a.txt": "a"})
	local := "127.0.0.1:" + strconv.Itoa(port)
	s.devstack("up", "-d")
	pollGet(t, local, func(string) bool { return true })
	bg, ok, _ := forward.ReadRecord(s.h.URL, s.project)
	if !ok || !bg.Background {
		t.Fatalf("no background forwarder after up -d: %+v", bg)
	}
	w := s.start("watch", "--no-up")
	watch, done, out := w.cmd, w.exited, &w.out
	var r forward.Record
	deadline := time.Now().Add(30 * time.Second)
	for {
		if r, ok, _ = forward.ReadRecord(s.h.URL, s.project); ok && r.PID == watch.Process.Pid {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("watch ended: %v\n%s", err, out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("watch did not take the forwards over: %+v\n%s", r, out.String())
		}
		time.Sleep(20 * time.Millisecond) // polling with a deadline
	}
	if r.Background || len(r.Forwards) != 1 || r.Forwards[0].Local != local {
		t.Errorf("taken over: %+v", r)
	}
	if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", bg.PID)); err == nil && !strings.Contains(string(st), ") Z ") {
		t.Errorf("the background forwarder (pid %d) still runs under watch", bg.PID)
	}
	pollGet(t, local, func(string) bool { return true })
	_ = watch.Process.Signal(os.Interrupt)
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = watch.Process.Kill()
		t.Fatalf("watch did not end on Ctrl-C:\n%s", out.String())
	}
	back, ok, _ := forward.ReadRecord(s.h.URL, s.project)
	if !ok || !back.Background || back.PID == bg.PID || back.PID == watch.Process.Pid {
		t.Fatalf("no background forwarder after watch ended: %+v\n%s", back, out.String())
	}
	pollGet(t, local, func(string) bool { return true })
	s.devstack("down")
}
