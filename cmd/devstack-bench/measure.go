package main

import (
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"
	"time"
)

// timed runs a command to its end and returns its wall time (seconds) and
// peak RSS (MB): the rusage wait4 reports, which covers the process and the
// children it waited for (so `docker compose` counts its plugin).
func timed(dir string, env []string, name string, args ...string) (float64, float64, error) {
	wall, rss, _, err := timedOutput(dir, env, name, args...)
	return wall, rss, err
}

// timedOutput is timed that also returns what the command printed.
func timedOutput(dir string, env []string, name string, args ...string) (float64, float64, []byte, error) {
	if interrupted.Load() {
		return 0, 0, nil, fmt.Errorf("interrupted")
	}
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	wall := time.Since(start).Seconds()
	if err != nil {
		return wall, 0, out, fmt.Errorf("%s %s: %v\n%s", name, strings.Join(args, " "), err, tail(out))
	}
	return wall, peakRSS(cmd.ProcessState), out, nil
}

// tail keeps the last lines of a command's output for error messages.
func tail(out []byte) string {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) > 15 {
		lines = lines[len(lines)-15:]
	}
	return strings.Join(lines, "\n")
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
