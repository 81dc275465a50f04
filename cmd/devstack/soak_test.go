package main

import (
	"bufio"
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
)

// soakSample is what the soak reads of devstack's process at one moment.
type soakSample struct {
	at         time.Duration
	rssKiB     int
	goroutines int
	fds        int
}

// TestSoak is the soak benchmark (make soak), skipped unless
// DEVSTACK_SOAK names a duration: the dashboard of a synced stack runs in
// a real terminal while the test edits a synced file every second and
// restarts the service from the dashboard every minute. devstack's RSS,
// goroutines and open files must stay flat, and no edit may be lost.
func TestSoak(t *testing.T) {
	d, err := time.ParseDuration(os.Getenv("DEVSTACK_SOAK"))
	if err != nil || d <= 0 {
		t.Skip("DEVSTACK_SOAK=<duration> runs the soak (make soak)")
	}
	image := enginetest.Busybox(t)
	bin := tmuxBinary(t)
	dir := t.TempDir()
	copyTree(t, "../../testdata/soak", dir)
	project := randomProject("dssoak")
	t.Cleanup(func() { enginetest.RemoveProject(project) })
	debugAddr := freeLoopbackAddr(t)
	state := t.TempDir()

	env := []string{"COMPOSE_PROJECT_NAME=" + project, "DEVSTACK_TEST_IMAGE=" + image,
		"XDG_STATE_HOME=" + state, "XDG_CACHE_HOME=" + state}
	env = withDockerHost(env)
	s := &tmuxScreen{t: t, socket: "devstack-soak-" + project}
	cmd := "cd " + shellQuote(dir) + " && exec env"
	for _, e := range append(env, debugAddrEnv+"="+debugAddr) {
		cmd += " " + shellQuote(e)
	}
	cmd += " " + shellQuote(bin) + " up"
	s.tmux("new-session", "-d", "-s", "ui", "-x", "160", "-y", "40", cmd)
	t.Cleanup(func() { _ = exec.Command("tmux", "-L", s.socket, "kill-server").Run() })
	pid, err := strconv.Atoi(strings.TrimSpace(s.tmux("display-message", "-p", "-t", "ui", "#{pane_pid}")))
	if err != nil {
		t.Fatalf("the dashboard's pid: %v", err)
	}
	s.waitFor("app-1", "chatter-1", "app ready")

	edit := filepath.Join(dir, "src", "edit.txt")
	start := time.Now()
	var samples []soakSample
	sample := func() {
		smp := soakSample{at: time.Since(start).Round(time.Second)}
		smp.rssKiB, smp.fds = procRSSKiB(t, pid), procFDs(t, pid)
		smp.goroutines = goroutines(t, debugAddr)
		samples = append(samples, smp)
		t.Logf("%8s  rss %6.1f MB  goroutines %4d  fds %3d", smp.at, float64(smp.rssKiB)/1024, smp.goroutines, smp.fds)
	}
	// The first sample is taken once the first restart has settled, so
	// what a restart allocates once (a new sync exec, its buffers) is in
	// the baseline and only growth shows.
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	n := 0
	for time.Since(start) < d {
		<-tick.C
		n++
		if err := os.WriteFile(edit, []byte(fmt.Sprintf("edit %d\n", n)), 0o644); err != nil {
			t.Fatal(err)
		}
		if n%60 == 0 {
			s.keys("r") // restart the selected service (app-1, listed first)
			if n == 60 || n%300 == 0 {
				s.waitFor("restarted in")
			}
		}
		if n == 90 || n%300 == 0 {
			sample()
		}
	}
	sample()
	last := fmt.Sprintf("edit %d", n)

	// No lost edit: the container holds the last one, and sync check
	// finds no drift between the host and the container.
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, _ := exec.Command("docker", "exec", project+"-app-1", "cat", "/app/edit.txt").Output()
		if strings.TrimSpace(string(out)) == last {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the container holds %q, want %q", out, last)
		}
		time.Sleep(100 * time.Millisecond) // polling with a deadline
	}
	check := exec.Command(bin, "sync", "check")
	check.Dir, check.Env = dir, append(os.Environ(), env...)
	if out, err := check.CombinedOutput(); err != nil {
		t.Fatalf("sync check after the soak: %v\n%s", err, out)
	}

	first, end := samples[0], samples[len(samples)-1]
	t.Logf("soak %s: %d edits, %d restarts; rss %.1f -> %.1f MB, goroutines %d -> %d, fds %d -> %d",
		d, n, n/60, float64(first.rssKiB)/1024, float64(end.rssKiB)/1024, first.goroutines, end.goroutines, first.fds, end.fds)
	// Flat: a leak of one goroutine or file per restart or per hundred
	// edits would exceed these margins over 30 minutes.
	if end.goroutines > first.goroutines+15 {
		t.Errorf("goroutines grew from %d to %d", first.goroutines, end.goroutines)
	}
	if end.fds > first.fds+10 {
		t.Errorf("open files grew from %d to %d", first.fds, end.fds)
	}
	if end.rssKiB > first.rssKiB*3/2+16*1024 {
		t.Errorf("RSS grew from %d KiB to %d KiB", first.rssKiB, end.rssKiB)
	}
}

// procRSSKiB reads a process's resident set size from /proc.
func procRSSKiB(t *testing.T, pid int) int {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("devstack is gone: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")))
			return kb
		}
	}
	t.Fatalf("no VmRSS for pid %d", pid)
	return 0
}

// procFDs counts a process's open file descriptors.
func procFDs(t *testing.T, pid int) int {
	t.Helper()
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatalf("devstack is gone: %v", err)
	}
	return len(fds)
}

// goroutines reads the count from devstack's pprof endpoint.
func goroutines(t *testing.T, addr string) int {
	t.Helper()
	res, err := http.Get("http://" + addr + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		t.Fatalf("devstack's debug endpoint: %v", err)
	}
	defer res.Body.Close()
	head, _ := bufio.NewReader(io.LimitReader(res.Body, 4096)).ReadString('\n')
	// "goroutine profile: total 42"
	_, total, _ := strings.Cut(head, "total ")
	n, err := strconv.Atoi(strings.TrimSpace(total))
	if err != nil {
		t.Fatalf("unexpected goroutine profile header %q", head)
	}
	return n
}

// freeLoopbackAddr returns a loopback address nothing listens on now.
func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// copyTree copies the fixture at src into dst.
func copyTree(t testing.TB, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}
