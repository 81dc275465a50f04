package main

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
)

// bench is what every scenario gets: the tools to run and the cleanup list.
type bench struct {
	devstack string   // path of the devstack binary
	compose  []string // the compose command: ["docker", "compose"] or ["docker-compose"]; nil: none
	which    string   // which compose, for the table
	v1       bool     // the compose is v1: no `up --wait`
	n        int      // runs per measurement
	root     string   // repository root

	snapshotMiB int // the snapshot scenario's data size

	mu       sync.Mutex
	cleanups []func()
}

// interrupted is set once Ctrl-C has begun the cleanup: timed then refuses
// to start anything new.
var interrupted atomic.Bool

// tool is a compose-like command line: devstack, or a compose.
type tool struct {
	name string   // "devstack" or "compose", for messages
	tag  string   // short tag for project names: "ds", "dc"
	argv []string // the command before the global flags
	// noWait: `up --wait` is unknown (Compose v1 prints its usage and exits
	// 0), so the scenario waits for health itself.
	noWait bool
}

func (b *bench) tools() []tool {
	ts := []tool{{name: "devstack", tag: "ds", argv: []string{b.devstack}}}
	if b.compose != nil {
		ts = append(ts, tool{name: "compose", tag: "dc", argv: b.compose, noWait: b.v1})
	}
	return ts
}

// args builds `TOOL -f FILE -p PROJECT ARGS...` as name and arguments.
func (t tool) args(file, project string, args ...string) (string, []string) {
	all := append(append([]string{}, t.argv[1:]...), "-f", file, "-p", project)
	return t.argv[0], append(all, args...)
}

// atCleanup registers f to run when the current scenario ends, fails, or the
// run is interrupted; the latest registered runs first.
func (b *bench) atCleanup(f func()) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.cleanups = append(b.cleanups, f)
}

// cleanup runs and forgets the registered cleanups.
func (b *bench) cleanup() {
	b.mu.Lock()
	fs := b.cleanups
	b.cleanups = nil
	b.mu.Unlock()
	for i := len(fs) - 1; i >= 0; i-- {
		fs[i]()
	}
}

// takeDownLater registers `down -v` of project for the cleanup. It is quiet:
// a project already down is no error.
func (b *bench) takeDownLater(t tool, dir, file, project string) {
	b.atCleanup(func() {
		name, args := t.args(file, project, "down", "-v")
		cmd := exec.Command(name, args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "devstack-bench: cleanup of %s with %s failed: %v\n%s\n", project, t.name, err, tail(out))
		}
	})
}

// cleanupOnSignal takes every registered project down on Ctrl-C or SIGTERM
// (the terminal has already interrupted the running child), then exits.
func (b *bench) cleanupOnSignal() (stop func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case <-ch:
		case <-done:
			return
		}
		interrupted.Store(true)
		fmt.Fprintln(os.Stderr, "devstack-bench: interrupted; taking the projects down")
		b.cleanup()
		os.Exit(130)
	}()
	return func() {
		signal.Stop(ch)
		close(done)
	}
}

// findCompose resolves -compose: "auto" prefers Compose v2 (the docker CLI
// plugin, see build-compose-v2.sh), then Debian's v1; "none" compares with
// nothing; anything else is the command to run.
func findCompose(choice string) (argv []string, which string, v1 bool) {
	switch strings.TrimSpace(choice) {
	case "none", "":
		return nil, "no compose", false
	case "auto":
		if argv, which, v1 := composeVersion([]string{"docker", "compose"}); argv != nil {
			return argv, which, v1
		}
		if argv, which, v1 := composeVersion([]string{"docker-compose"}); argv != nil {
			return argv, which + " (Compose v2 is missing: make compose-v2)", v1
		}
		return nil, "no compose (neither the docker compose plugin nor docker-compose answers)", false
	}
	argv, which, v1 = composeVersion(strings.Fields(choice))
	if argv == nil {
		fatal(fmt.Errorf("-compose %q: `%s version` does not answer", choice, choice))
	}
	return argv, which, v1
}

// composeVersion returns argv and "ARGV VERSION" when `ARGV version --short`
// answers, and whether that is Compose v1.
func composeVersion(argv []string) ([]string, string, bool) {
	out, err := exec.Command(argv[0], append(argv[1:], "version", "--short")...).Output()
	if err != nil {
		return nil, "", false
	}
	v := strings.TrimSpace(string(out))
	if v == "dev" && len(argv) == 2 { // a plugin built without its version: the module says
		v = pluginModuleVersion()
	}
	v1 := strings.HasPrefix(v, "1.")
	if v1 {
		v += " (v1)"
	}
	return argv, strings.Join(argv, " ") + " " + v, v1
}

// pluginModuleVersion reads the compose module version from the plugin
// binary's build information (go version -m).
func pluginModuleVersion() string {
	home, _ := os.UserHomeDir()
	out, err := exec.Command("go", "version", "-m", filepath.Join(home, ".docker", "cli-plugins", "docker-compose")).Output()
	if err != nil {
		return "v2 (dev build)"
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && (f[0] == "mod" || f[0] == "dep") && f[1] == "github.com/docker/compose/v2" {
			return f[2]
		}
	}
	return "v2 (dev build)"
}

// removeProjectLater registers the removal of whatever the engine still holds
// of project (containers, networks, volumes, by Compose's project label) for
// the cleanup: the fallback for scenarios whose compose file is gone by then.
func (b *bench) removeProjectLater(project string) {
	b.atCleanup(func() { removeProject(project) })
}

// removeProject removes what the engine holds of project (its containers
// with their anonymous volumes, networks, volumes).
func removeProject(project string) {
	filter := "label=com.docker.compose.project=" + project
	for _, kind := range [][]string{{"container", "rm", "-f", "-v"}, {"network", "rm"}, {"volume", "rm", "-f"}} {
		list := []string{kind[0], "ls", "-q", "--filter", filter}
		if kind[0] == "container" {
			list = append(list, "-a")
		}
		out, err := exec.Command("docker", list...).Output()
		if err != nil || len(strings.Fields(string(out))) == 0 {
			continue
		}
		_ = exec.Command("docker", append(kind, strings.Fields(string(out))...)...).Run()
	}
}
