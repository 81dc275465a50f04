package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"devstack/engine"
	"devstack/engine/docker"
	devsync "devstack/sync"
	"devstack/sync/syncbench"
)

// syncCompose is a one-service project whose ./src is synced to /src.
const syncCompose = `services:
  app:
    image: devstack-test/busybox:1
    init: true
    command: ["sleep", "3600"]
    develop:
      watch:
        - path: ./src
          action: sync
          target: /src
`

// benchSync times the same sync scenarios (sync/syncbench) against
// `devstack watch` and `docker compose watch`: an edit, a burst of 1,000
// new files and their deletion, each until visible in the container.
func benchSync(b *bench) ([]result, error) {
	ctx := context.Background()
	rt, err := docker.New(ctx, docker.Options{})
	if err != nil {
		return nil, err
	}
	defer rt.Close()
	b.removeProjectLater("benchsyncd") // also on failure or Ctrl-C
	b.removeProjectLater("benchsyncc")
	dev, err := syncRun(ctx, rt, "benchsyncd", []string{b.devstack}, nil, b.n)
	if err != nil {
		return nil, fmt.Errorf("devstack watch: %w", err)
	}
	var comp []syncbench.Result
	if len(b.compose) == 2 { // watch is a Compose v2 command
		comp, err = syncRun(ctx, rt, "benchsyncc", b.compose, []string{"up", "-d"}, b.n)
		if err != nil {
			return nil, fmt.Errorf("docker compose watch: %w", err)
		}
	}
	var rows []result
	for i, r := range dev {
		row := result{Scenario: "sync " + r.Scenario + " p50", Unit: "ms", Devstack: ms(r.P50),
			Target: fmt.Sprintf("≤ %.0f ms", ms(r.Budget)), Pass: r.Budget == 0 || r.P50 <= r.Budget,
			DevstackRuns: msAll(r.Samples)}
		if len(r.Writes) > 0 {
			row.Note = "devstack, " + r.Note
		}
		if i < len(comp) {
			row.Compose, row.ComposeRuns = ms(comp[i].P50), msAll(comp[i].Samples)
		}
		rows = append(rows, row)
		if r.Budget95 > 0 {
			row95 := result{Scenario: "sync " + r.Scenario + " p95", Unit: "ms", Devstack: ms(r.P95),
				Target: fmt.Sprintf("≤ %.0f ms", ms(r.Budget95)), Pass: r.P95 <= r.Budget95}
			if i < len(comp) {
				row95.Compose = ms(comp[i].P95)
			}
			rows = append(rows, row95)
		}
	}
	return rows, nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func msAll(ds []time.Duration) []float64 {
	out := make([]float64, len(ds))
	for i, d := range ds {
		out[i] = ms(d)
	}
	return out
}

// syncRun brings the project up with tool (prefix: the command to run,
// e.g. [bin/devstack] or [docker compose]), starts `watch`, waits until a
// first file arrives, and runs the scenarios.
func syncRun(ctx context.Context, rt *docker.Runtime, project string, tool, preUp []string, rounds int) ([]syncbench.Result, error) {
	dir, err := os.MkdirTemp("", "devstack-bench-sync")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	src := filepath.Join(dir, "src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(syncCompose), 0o644); err != nil {
		return nil, err
	}
	command := func(args ...string) *exec.Cmd {
		all := append(append(append([]string{}, tool[1:]...), "-p", project), args...)
		cmd := exec.Command(tool[0], all...)
		cmd.Dir = dir
		return cmd
	}
	defer func() { _ = command("down", "-v").Run() }()
	if preUp != nil {
		if out, err := command(preUp...).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("%v: %s", err, tail(out))
		}
	}
	watch := command("watch")
	var logs strings.Builder
	watch.Stdout, watch.Stderr = &logs, &logs
	if err := watch.Start(); err != nil {
		return nil, err
	}
	defer func() {
		_ = watch.Process.Signal(syscall.SIGINT)
		done := make(chan struct{})
		go func() { _ = watch.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = watch.Process.Kill()
		}
	}()

	// Ready once a file written now shows up in the container.
	id, err := waitSynced(ctx, rt, project, src)
	if err != nil {
		return nil, fmt.Errorf("%w\n%s", err, logs.String())
	}
	env := syncbench.Env{HostDir: src, ContainerID: id, ContainerDir: "/src",
		Exec: func(ctx context.Context, id string, x devsync.ExecSpec) (int, error) {
			return rt.Exec(ctx, id, engine.ExecOptions{Cmd: x.Cmd, User: x.User, WorkDir: x.WorkDir, Env: x.Env,
				Stdin: x.Stdin, Stdout: x.Stdout, Stderr: x.Stderr})
		}}
	return syncbench.RunAll(ctx, env, rounds)
}

func waitSynced(ctx context.Context, rt *docker.Runtime, project, src string) (string, error) {
	deadline := time.Now().Add(90 * time.Second)
	id := ""
	for time.Now().Before(deadline) {
		out, _ := exec.Command("docker", "ps", "-q", "--filter", "label=com.docker.compose.project="+project).Output()
		if id = strings.TrimSpace(string(out)); id != "" {
			break
		}
		time.Sleep(100 * time.Millisecond) // polling with a deadline
	}
	if id == "" {
		return "", fmt.Errorf("no container for %s within 90 s", project)
	}
	// Write again only every 3 s: compose's quiet period restarts with
	// every change, so writing faster would keep it from ever syncing.
	var written time.Time
	for time.Now().Before(deadline) {
		if time.Since(written) > 3*time.Second {
			written = time.Now()
			_ = os.WriteFile(filepath.Join(src, "ready.txt"), []byte(written.String()), 0o644)
		}
		code, err := rt.Exec(ctx, id, engine.ExecOptions{Cmd: []string{"test", "-f", "/src/ready.txt"}})
		if err == nil && code == 0 {
			return id, nil
		}
		time.Sleep(100 * time.Millisecond) // polling with a deadline
	}
	return "", fmt.Errorf("watch of %s never synced a file within 90 s", project)
}
