package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"devstack/engine/enginetest"
)

// waitUntil polls the screen until ok holds, for at most 30s, and
// returns that screen.
func (s *tmuxScreen) waitUntil(what string, ok func(screen string) bool) string {
	s.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		screen := s.capture()
		if ok(screen) {
			return screen
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("%s: not on the screen after 30s:\n%s", what, screen)
		}
		time.Sleep(20 * time.Millisecond) // polling with a deadline
	}
}

var appLine = regexp.MustCompile(`app run ([0-9a-f]{8}) line`)

// runsOnScreen are the ids of the app's runs whose lines are shown.
func runsOnScreen(screen string) map[string]bool {
	runs := map[string]bool{}
	for _, m := range appLine.FindAllStringSubmatch(screen, -1) {
		runs[m[1]] = true
	}
	return runs
}

var memFigure = regexp.MustCompile(`\d+(\.\d)?[KMG]iB`)

// TestDashboardSurvivesFaults runs `devstack up` (dashboard and sync) in
// a real terminal on a private Docker engine and works faults on it: a
// container killed and then removed by hand (shown at once, its lines
// kept, up brings it back), then the engine itself restarted (shown
// gone and back; logs, stats and sync resume, and what changed on the
// host meanwhile reaches the container).
func TestDashboardSurvivesFaults(t *testing.T) {
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("tmux is not installed")
	}
	d := enginetest.StartDockerd(t)
	d.LoadImage(enginetest.Busybox(t))
	bin, err := exec.LookPath("devstack") // the test binary, installed by testscript.Main
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	compose, err := os.ReadFile("../../testdata/engine-restart/compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{"compose.yaml": string(compose), "src/keep.txt": "k", "src/gone.txt": "g"} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	project := randomProject("dsfault") // on the private engine, which goes whole
	env := []string{"COMPOSE_PROJECT_NAME=" + project, "DEVSTACK_TEST_IMAGE=" + enginetest.BusyboxImage, "DOCKER_HOST=" + d.Host,
		"XDG_CACHE_HOME=" + t.TempDir(), "XDG_STATE_HOME=" + t.TempDir()}
	devstack := func(args ...string) {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Dir, cmd.Env = dir, append(os.Environ(), env...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("devstack %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	inApp := func(script string) string {
		out, _ := d.Docker("exec", project+"-app-1", "sh", "-c", script)
		return out
	}

	s := openTmux(t, "devstack-test-"+project, dir, env, shellQuote(bin)+" up; echo DASHBOARD-EXITED $?; sleep 600")

	s.waitFor("app-1", "victim-1", "victim says hello", "app run ")
	s.waitUntil("the initial sync", func(string) bool { return inApp("cat /app/keep.txt /app/gone.txt") == "kg" })

	// Show the victim's lines alone, so that they stay in view.
	s.waitUntil("victim selected", func(string) bool {
		if strings.Contains(s.capture(), "▸ victim-1") {
			return true
		}
		s.keys("j")
		return false
	})
	s.keys("Enter")
	s.waitFor("logs: victim", "victim says hello")

	// docker kill: shown exited at once, its lines kept.
	killed := time.Now()
	if _, err := d.Docker("kill", project+"-victim-1"); err != nil {
		t.Fatal(err)
	}
	screen := s.waitUntil("the killed victim exited", func(sc string) bool { return strings.Contains(line(sc, "victim-1 "), "exited (137)") })
	t.Logf("docker kill: shown on the screen %v after the command returned", time.Since(killed).Round(time.Millisecond))
	if !strings.Contains(screen, "victim says hello") || !strings.Contains(screen, "victim-1 exited with code 137") {
		t.Fatalf("the victim's lines or its exit are not shown after the kill:\n%s", screen)
	}
	devstack("up", "-d", "victim")
	s.waitUntil("the victim running again", func(sc string) bool { return strings.Contains(line(sc, "victim-1 "), "running") })

	// docker rm -f: shown removed at once, its lines kept.
	removed := time.Now()
	if _, err := d.Docker("rm", "-f", project+"-victim-1"); err != nil {
		t.Fatal(err)
	}
	screen = s.waitUntil("the removed victim", func(sc string) bool { return strings.Contains(line(sc, " victim "), "removed") })
	t.Logf("docker rm -f: shown on the screen %v after the command returned", time.Since(removed).Round(time.Millisecond))
	if strings.Count(screen, "victim says hello") < 2 {
		t.Fatalf("the lines of the removed victim's runs are not all kept:\n%s", screen)
	}
	devstack("up", "-d", "victim")
	s.waitUntil("the victim recreated", func(sc string) bool { return strings.Contains(line(sc, "victim-1 "), "running") })
	s.keys("Enter") // all the logs again
	s.waitFor("logs: all")

	// The engine restarted under the dashboard and sync.
	screen = s.waitUntil("app's memory shown", func(sc string) bool { return memFigure.MatchString(line(sc, "app-1 ")) })
	before := runsOnScreen(screen)
	stopping := time.Now()
	d.Stop()
	stopped := time.Now()
	s.waitFor("UNREACHABLE", "unreachable since")
	t.Logf("engine stopped in %v; shown unreachable %v after it exited", stopped.Sub(stopping).Round(time.Millisecond), time.Since(stopped).Round(time.Millisecond))
	// Meanwhile, on the host: a deletion, an append, a new file.
	if err := os.Remove(filepath.Join(dir, "src", "gone.txt")); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "src", "keep.txt"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.WriteString("eep")
	f.Close()
	if err := os.WriteFile(filepath.Join(dir, "src", "new.txt"), []byte("n"), 0o644); err != nil {
		t.Fatal(err)
	}

	answered := d.Start()
	s.waitUntil("the engine back", func(sc string) bool {
		return !strings.Contains(sc, "UNREACHABLE") && !strings.Contains(sc, "unreachable since") && strings.Contains(sc, "connected")
	})
	t.Logf("dashboard shows the engine back %v after it answered", time.Since(answered).Round(time.Millisecond))
	s.waitUntil("a line of the app's new run", func(sc string) bool {
		for run := range runsOnScreen(sc) {
			if !before[run] {
				return true
			}
		}
		return false
	})
	t.Logf("logs resumed on the screen %v after the engine answered", time.Since(answered).Round(time.Millisecond))
	s.waitUntil("app's memory shown again", func(sc string) bool {
		l := line(sc, "app-1 ")
		return strings.Contains(l, "running") && memFigure.MatchString(l)
	})
	t.Logf("stats resumed on the screen %v after the engine answered", time.Since(answered).Round(time.Millisecond))
	s.waitUntil("the changes made while the engine was away synced", func(string) bool {
		return inApp("ls /app; cat /app/keep.txt") == "keep.txt\nnew.txt\nkeep"
	})
	t.Logf("sync caught up %v after the engine answered", time.Since(answered).Round(time.Millisecond))

	// Leave the stack running.
	s.keys("q")
	s.waitFor("Quit: l leave the stack running")
	s.keys("l")
	s.waitFor("DASHBOARD-EXITED 0")
}
