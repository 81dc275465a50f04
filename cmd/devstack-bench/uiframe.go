package main

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// firstFrame starts `devstack ui` on the running project in a terminal
// (a tmux pane of 120×40, whose screen is read back as text: the renderer
// redraws only the cells that change, so its byte stream alone does not say
// what is shown) and returns the seconds until the screen first shows want
// (the header's "20/20 running": the first frame that shows the stack, not
// the empty one before the engine answered). The screen is read every few
// milliseconds, each read a tmux process: the figure is that much coarse.
func firstFrame(t tool, dir, file, project, want string) (float64, error) {
	socket := fmt.Sprintf("devstack-bench-%d", os.Getpid())
	tmux := func(args ...string) (string, error) {
		out, err := exec.Command("tmux", append([]string{"-L", socket}, args...)...).CombinedOutput()
		return string(out), err
	}
	// The pane exists before the clock starts: the measure is devstack's.
	if out, err := tmux("new-session", "-d", "-s", "ui", "-x", "120", "-y", "40", "cat"); err != nil {
		return 0, fmt.Errorf("tmux (the dashboard needs a terminal): %v: %s", err, out)
	}
	defer tmux("kill-server")
	name, args := t.args(file, project, "ui", "--on-quit", "leave")
	quoted := []string{"cd", shellQuote(dir), "&&", "exec", shellQuote(name)}
	for _, a := range args {
		quoted = append(quoted, shellQuote(a))
	}
	start := time.Now()
	if out, err := tmux("respawn-pane", "-k", "-t", "ui", strings.Join(quoted, " ")); err != nil {
		return 0, fmt.Errorf("tmux respawn-pane: %v: %s", err, out)
	}
	deadline := start.Add(30 * time.Second)
	for time.Now().Before(deadline) {
		screen, err := tmux("capture-pane", "-p", "-t", "ui")
		if err != nil {
			return 0, fmt.Errorf("devstack ui ended before showing %q: %s", want, screen)
		}
		if strings.Contains(screen, want) {
			return time.Since(start).Seconds(), nil
		}
		time.Sleep(2 * time.Millisecond) // polling the screen, with a deadline
	}
	return 0, fmt.Errorf("devstack ui did not show %q within 30 s", want)
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
