package enginetest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
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
)

// Dockerd is a Docker engine of the test's own, which the test may stop
// and start again: the machine's engine is shared and must never be
// restarted. It runs in its own network namespace (its bridge and
// iptables rules stay there) with its own configuration, data root, exec
// root, pid file and socket under a temporary directory; the machine's
// /etc/docker/daemon.json is not read (it sets the shared data root).
type Dockerd struct {
	t     testing.TB
	dir   string
	netns string
	// Host is the engine's address, for docker.Options.Host or
	// DOCKER_HOST.
	Host string

	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has been waited for
}

// StartDockerd starts a private engine and stops it, with everything it
// made, when the test ends. It skips the test where the machine cannot
// do it: not root, no ip(8), nsenter(1), unshare(1) or dockerd, or no
// network namespaces.
func StartDockerd(t testing.TB) *Dockerd {
	t.Helper()
	NeedDocker(t) // the images it runs come from the machine's engine
	if os.Geteuid() != 0 {
		t.Skip("a private Docker engine needs root (network namespace, mounts)")
	}
	for _, bin := range []string{"ip", "nsenter", "unshare", "dockerd"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("a private Docker engine needs %s: %v", bin, err)
		}
	}
	// A short path: the engine's sockets live under it, and a unix
	// socket's path may not exceed 107 bytes.
	dir, err := os.MkdirTemp("", "dsd")
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	d := &Dockerd{t: t, dir: dir, netns: "devstack-test-" + hex.EncodeToString(b), Host: "unix://" + filepath.Join(dir, "docker.sock")}
	t.Cleanup(d.cleanup)
	if out, err := exec.Command("ip", "netns", "add", d.netns).CombinedOutput(); err != nil {
		d.netns = ""
		t.Skipf("a private Docker engine needs a network namespace: ip netns add: %v: %s", err, out)
	}
	if out, err := exec.Command("ip", "netns", "exec", d.netns, "ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("unable to bring up loopback in %s: %v: %s", d.netns, err, out)
	}
	cfg, _ := json.Marshal(map[string]any{
		"data-root":        filepath.Join(dir, "data"),
		"exec-root":        filepath.Join(dir, "exec"),
		"pidfile":          filepath.Join(dir, "dockerd.pid"),
		"hosts":            []string{d.Host},
		"storage-driver":   "vfs", // no FUSE mounts to leave behind; the test images are tiny
		"shutdown-timeout": 2,
		"log-driver":       "json-file",
	})
	if err := os.WriteFile(filepath.Join(dir, "daemon.json"), cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	d.Start()
	return d
}

// Start runs the engine and returns the moment it first answered.
func (d *Dockerd) Start() time.Time {
	d.t.Helper()
	logf, err := os.OpenFile(filepath.Join(d.dir, "dockerd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		d.t.Fatal(err)
	}
	// nsenter joins the network namespace and unshare gives the engine
	// a private mount namespace, so that its mounts stay there and go
	// with it; each execs the next, so the process is dockerd itself.
	// (Not `ip netns exec`: it remounts /sys, which hides the cgroup
	// hierarchies the engine needs.)
	cmd := exec.Command("nsenter", "--net=/run/netns/"+d.netns, "unshare", "--mount", "--propagation", "private",
		"dockerd", "--config-file", filepath.Join(d.dir, "daemon.json"))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		d.t.Fatalf("unable to start dockerd: %v", err)
	}
	d.cmd, d.exited = cmd, make(chan struct{})
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(d.exited)
	}()
	return d.waitAnswering(time.Now().Add(60 * time.Second))
}

// waitAnswering polls the engine's /_ping every 10ms until it answers,
// and returns when it first did: in-process, so that the moment is
// known to a few milliseconds.
func (d *Dockerd) waitAnswering(deadline time.Time) time.Time {
	d.t.Helper()
	sock := strings.TrimPrefix(d.Host, "unix://")
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		},
		DisableKeepAlives: true,
	}}
	for {
		resp, err := hc.Get("http://docker/_ping")
		if err == nil {
			ok := resp.StatusCode == http.StatusOK
			resp.Body.Close()
			if ok {
				return time.Now()
			}
			err = fmt.Errorf("/_ping: %s", resp.Status)
		}
		select {
		case <-d.exited:
			d.t.Fatalf("dockerd ended before it answered:\n%s", d.LogTail(30))
		default:
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("dockerd does not answer at %s: %v\n%s", d.Host, err, d.LogTail(30))
		}
		time.Sleep(10 * time.Millisecond) // polling with a deadline
	}
}

// Stop ends the engine as `systemctl stop docker` does (SIGTERM: it
// stops the containers, then itself) and waits until it has exited.
func (d *Dockerd) Stop() {
	d.t.Helper()
	if err := d.stop(60 * time.Second); err != nil {
		d.t.Fatal(err)
	}
}

func (d *Dockerd) stop(wait time.Duration) error {
	if d.cmd == nil {
		return nil
	}
	select {
	case <-d.exited:
		d.cmd = nil
		return nil
	default:
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
		d.cmd = nil
		return nil
	case <-time.After(wait):
		_ = d.cmd.Process.Kill()
		<-d.exited
		d.cmd = nil
		return fmt.Errorf("dockerd did not stop within %s after SIGTERM:\n%s", wait, d.LogTail(30))
	}
}

// Docker runs the docker CLI against the engine.
func (d *Dockerd) Docker(args ...string) (string, error) {
	out, err := exec.Command("docker", append([]string{"-H", d.Host}, args...)...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("docker %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// LoadImage copies an image of the machine's engine into this one
// through both engines' APIs (save, then load): nothing can be pulled.
func (d *Dockerd) LoadImage(ref string) {
	d.t.Helper()
	save := exec.Command("docker", "image", "save", ref)
	load := exec.Command("docker", "-H", d.Host, "image", "load", "-q")
	pipe, err := save.StdoutPipe()
	if err != nil {
		d.t.Fatal(err)
	}
	load.Stdin = pipe
	var saveErr, loadOut bytes.Buffer
	save.Stderr, load.Stdout, load.Stderr = &saveErr, &loadOut, &loadOut
	if err := save.Start(); err != nil {
		d.t.Fatal(err)
	}
	lerr := load.Run()
	serr := save.Wait()
	if serr != nil || lerr != nil {
		d.t.Fatalf("unable to copy %s into the private engine: save: %v %s; load: %v %s", ref, serr, saveErr.String(), lerr, loadOut.String())
	}
}

// LogTail returns the last n lines of the engine's log, for failures.
func (d *Dockerd) LogTail(n int) string {
	b, _ := os.ReadFile(filepath.Join(d.dir, "dockerd.log"))
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// cleanup stops the engine, ends whatever it left running (its
// containerd and shims, found by the private directory in their command
// line), and removes the namespace and the directory.
func (d *Dockerd) cleanup() {
	if err := d.stop(30 * time.Second); err != nil {
		d.t.Log(err)
	}
	for _, pid := range d.leftovers() {
		if p, err := os.FindProcess(pid); err == nil {
			_ = p.Kill() // SIGKILL
		}
	}
	if d.netns != "" {
		if out, err := exec.Command("ip", "netns", "delete", d.netns).CombinedOutput(); err != nil {
			d.t.Logf("ip netns delete %s: %v: %s", d.netns, err, out)
		}
	}
	if err := os.RemoveAll(d.dir); err != nil {
		d.t.Logf("unable to remove %s: %v", d.dir, err)
	}
}

// leftovers are the processes whose command line names the private
// directory: only this engine's own helpers do.
func (d *Dockerd) leftovers() []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(bytes.NewReader(bytes.ReplaceAll(b, []byte{0}, []byte{'\n'})))
		for sc.Scan() {
			if strings.Contains(sc.Text(), d.dir+string(filepath.Separator)) || sc.Text() == d.dir {
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids
}

// InMounts runs a command in the engine's own mount namespace (where its
// volumes are mounted): to give a volume a filesystem of the test's own.
func (d *Dockerd) InMounts(args ...string) (string, error) {
	if d.cmd == nil {
		return "", fmt.Errorf("the engine is not running")
	}
	pid := strconv.Itoa(d.cmd.Process.Pid) // nsenter and unshare exec: this is dockerd
	out, err := exec.Command("nsenter", append([]string{"-t", pid, "-m"}, args...)...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// DataRoot is the engine's data root (volumes/NAME/_data holds a volume).
func (d *Dockerd) DataRoot() string { return filepath.Join(d.dir, "data") }
