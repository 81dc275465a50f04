package main

import (
	"crypto/rand"
	"encoding/hex"
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

func newRemoteStack(t *testing.T, files map[string]string) *remoteStack {
	t.Helper()
	h := enginetest.StartSSHHost(t)
	h.LoadImage(enginetest.Busybox(t))
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	s := &remoteStack{t: t, h: h, dir: t.TempDir(), project: "dsremote" + hex.EncodeToString(b)}
	for name, content := range files {
		path := filepath.Join(s.dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(strings.ReplaceAll(content, "$IMAGE", enginetest.BusyboxImage)), 0o644); err != nil {
			t.Fatal(err)
		}
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
    command: ["sh", "-c", "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 80 -h /www"]
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
	first := pollGet(t, local, func(string) bool { return true })
	if got := pollGet(t, net.JoinHostPort(s.h.Addr, strconv.Itoa(port)), func(string) bool { return true }); got != first {
		t.Fatalf("through the forward %q, at the engine %q", first, got)
	}
	if out := strings.TrimSpace(s.devstack("port", "web", "80")); out != local {
		t.Errorf("port web 80 = %q, want %s", out, local)
	}
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
    command: ["sh", "-c", "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 80 -h /www"]
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
	bin, err := exec.LookPath("devstack")
	if err != nil {
		t.Fatal(err)
	}
	watch := exec.Command(bin, "watch", "--no-up")
	watch.Dir, watch.Env = s.dir, s.env
	var out strings.Builder
	watch.Stdout, watch.Stderr = &out, &out
	if err := watch.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- watch.Wait() }()
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
