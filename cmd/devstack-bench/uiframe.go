package main

import (
	"bytes"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// firstFrame starts `devstack ui` on the running project in a terminal
// (script(1)'s pseudo-terminal, 120×40) and returns the seconds until its
// output first shows want (the header's "20/20 running": the first frame
// that shows the stack, not the empty one before the engine answered).
func firstFrame(t tool, dir, file, project, want string) (float64, error) {
	name, args := t.args(file, project, "ui", "--on-quit", "leave")
	quoted := []string{shellQuote(name)}
	for _, a := range args {
		quoted = append(quoted, shellQuote(a))
	}
	cmd := exec.Command("script", "-qfec", "stty cols 120 rows 40; exec "+strings.Join(quoted, " "), "/dev/null")
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdin, err := cmd.StdinPipe() // kept open: at end of input script would end the session
	if err != nil {
		return 0, err
	}
	defer stdin.Close()
	out, err := cmd.StdoutPipe()
	if err != nil {
		return 0, err
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("script: %w (util-linux's script(1) gives the dashboard its terminal)", err)
	}
	defer func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
	}()
	found := make(chan float64, 1)
	go func() {
		var seen bytes.Buffer
		buf := make([]byte, 32<<10)
		for {
			n, err := out.Read(buf)
			seen.Write(buf[:n])
			if bytes.Contains(seen.Bytes(), []byte(want)) {
				found <- time.Since(start).Seconds()
				return
			}
			if err != nil {
				close(found)
				return
			}
		}
	}()
	select {
	case s, ok := <-found:
		if !ok {
			return 0, fmt.Errorf("devstack ui ended without showing %q", want)
		}
		return s, nil
	case <-time.After(30 * time.Second):
		return 0, fmt.Errorf("devstack ui did not show %q within 30 s", want)
	}
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
