package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"devstack/engine/enginetest"
)

// tmuxScreen drives the real binary in a tmux session with its own
// server, as a user at a terminal would.
type tmuxScreen struct {
	t      *testing.T
	socket string
}

func (s *tmuxScreen) tmux(args ...string) string {
	s.t.Helper()
	out, err := exec.Command("tmux", append([]string{"-L", s.socket}, args...)...).CombinedOutput()
	if err != nil {
		s.t.Fatalf("tmux %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// tmuxBinary skips the test where tmux is missing and returns the
// devstack binary (the test binary, installed by testscript.Main).
func tmuxBinary(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("tmux is not installed")
	}
	bin, err := exec.LookPath("devstack")
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// withDockerHost adds this process's DOCKER_HOST, if any, to env.
func withDockerHost(env []string) []string {
	if h := os.Getenv("DOCKER_HOST"); h != "" {
		env = append(env, "DOCKER_HOST="+h)
	}
	return env
}

// openTmux runs line, a shell command, in dir with env set, in a 120x36
// terminal of a tmux server of its own (socket), gone with the test.
func openTmux(t *testing.T, socket, dir string, env []string, line string) *tmuxScreen {
	t.Helper()
	s := &tmuxScreen{t: t, socket: socket}
	cmd := "cd " + shellQuote(dir) + " && env"
	for _, e := range env {
		cmd += " " + shellQuote(e)
	}
	s.tmux("new-session", "-d", "-s", "ui", "-x", "120", "-y", "36", cmd+" "+line)
	t.Cleanup(func() { _ = exec.Command("tmux", "-L", s.socket, "kill-server").Run() })
	return s
}

func (s *tmuxScreen) keys(keys ...string) {
	s.t.Helper()
	s.tmux(append([]string{"send-keys", "-t", "ui"}, keys...)...)
}

func (s *tmuxScreen) capture() string { return s.tmux("capture-pane", "-p", "-t", "ui") }

// waitFor polls the screen until every want is on it, for at most 30s.
func (s *tmuxScreen) waitFor(want ...string) string {
	s.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		screen := s.capture()
		missing := ""
		for _, w := range want {
			if !strings.Contains(screen, w) {
				missing = w
				break
			}
		}
		if missing == "" {
			return screen
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("%q is not on the screen after 30s:\n%s", missing, screen)
		}
		time.Sleep(50 * time.Millisecond) // polling with a deadline
	}
}

// waitUntilOr polls the screen until want is on it or d has passed, and
// returns the last screen: for a caller that retries what it typed.
func (s *tmuxScreen) waitUntilOr(d time.Duration, want string) string {
	s.t.Helper()
	deadline := time.Now().Add(d)
	for {
		screen := s.capture()
		if strings.Contains(screen, want) || time.Now().After(deadline) {
			return screen
		}
		time.Sleep(50 * time.Millisecond) // polling with a deadline
	}
}

// line returns the screen line holding text.
func line(screen, text string) string {
	for _, l := range strings.Split(screen, "\n") {
		if strings.Contains(l, text) {
			return l
		}
	}
	return ""
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// TestDashboardInTmux runs `devstack ui` on a real two-service stack in a
// real terminal and works it with keys: select, restart, filter, search,
// a shell, quit leaving the stack running.
func TestDashboardInTmux(t *testing.T) {
	image := enginetest.Busybox(t)
	bin := tmuxBinary(t)
	dir, _ := filepath.Abs("../../testdata/tui/stack")
	project := randomProject("dsui")
	t.Cleanup(func() { enginetest.RemoveProject(project) })

	env := []string{"COMPOSE_PROJECT_NAME=" + project, "DEVSTACK_TEST_IMAGE=" + image}
	env = withDockerHost(env)
	up := exec.Command(bin, "up", "-d")
	up.Dir, up.Env = dir, append(os.Environ(), env...)
	if out, err := up.CombinedOutput(); err != nil {
		t.Fatalf("up -d: %v\n%s", err, out)
	}

	s := openTmux(t, "devstack-test-"+project, dir, env, shellQuote(bin)+" ui; echo DASHBOARD-EXITED $?; sleep 600")

	// Both services listed, running, their logs interleaved.
	screen := s.waitFor("api-1", "web-1", "logs: all", "api ready", "web tick 1")
	if !strings.Contains(line(screen, "api-1    "), "running") || !strings.HasPrefix(strings.TrimSpace(line(screen, "api-1    ")), "▸") {
		t.Fatalf("api-1 should be listed first, running and selected:\n%s", screen)
	}

	// Select web-1 and restart it: the outcome and the markers show.
	s.keys("j")
	s.waitFor("▸ web-1")
	s.keys("r")
	s.waitFor("web: restarted in", "── web-1 restarted ──")

	// Enter shows web's logs only; enter again, all of them.
	s.keys("Enter")
	screen = s.waitFor("logs: web")
	if strings.Contains(screen, "api heartbeat") {
		t.Fatalf("api's lines are shown with web's logs only:\n%s", screen)
	}
	s.keys("Enter")
	s.waitFor("logs: all", "api heartbeat")

	// Search for a line from long ago: the view moves to it and pauses.
	s.keys("/", "needle-42", "Enter")
	s.waitFor("search: needle-42", "paused at", "api needle-42 found")

	// A shell in web-1, then back.
	s.keys("s")
	s.waitFor("shell in " + project + "-web-1")
	s.keys("echo shell-$((6*7))", "Enter")
	s.waitFor("shell-42")
	s.keys("exit", "Enter")
	s.waitFor("back from the shell in web-1")
	s.keys("k") // the first key after the shell must reach the dashboard
	s.waitFor("▸ api-1")

	// q asks; l leaves the stack running.
	s.keys("q")
	s.waitFor("Quit: l leave the stack running")
	s.keys("l")
	s.waitFor("DASHBOARD-EXITED 0")
	out, err := exec.Command("docker", "inspect", "-f", "{{.State.Status}}", project+"-web-1").Output()
	if err != nil || strings.TrimSpace(string(out)) != "running" {
		t.Fatalf("web-1 is %q after leaving the dashboard, want running (%v)", out, err)
	}
}
