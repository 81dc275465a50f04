package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"devstack/engine/enginetest"
)

// TestShellInTmux opens `devstack shell` in a real terminal: the built
// service by default, as its user in its working_dir, the terminal's size
// followed; exit returns. A service whose image has no shell is refused
// plainly, and `ssh` is the same command.
func TestShellInTmux(t *testing.T) {
	enginetest.Busybox(t)
	bin := tmuxBinary(t)
	dir, _ := filepath.Abs("../../testdata/shell")
	project := randomProject("dssh")
	tag := "devstack-test/" + project
	t.Cleanup(func() {
		enginetest.RemoveProject(project)
		_ = exec.Command("docker", "rmi", "-f", tag+"-app", tag+"-bare").Run()
	})
	// bare: busybox under another name, so that there is no sh.
	ctxTar, err := enginetest.ContextTar(map[string][]byte{"Dockerfile": []byte(
		"FROM " + enginetest.BusyboxImage + " AS src\nFROM scratch\nCOPY --from=src /bin/busybox /busybox\nCMD [\"/busybox\", \"sleep\", \"600\"]\n")})
	if err != nil {
		t.Fatal(err)
	}
	build := exec.Command("docker", "build", "-q", "-t", tag+"-bare", "-")
	build.Stdin = bytes.NewReader(ctxTar)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	env := []string{"COMPOSE_PROJECT_NAME=" + project, "SHELL_TEST_IMAGE=" + tag}
	env = withDockerHost(env)
	devstack := func(stdin string, args ...string) (string, error) {
		c := exec.Command(bin, args...)
		c.Dir, c.Env, c.Stdin = dir, append(os.Environ(), env...), strings.NewReader(stdin)
		out, err := c.CombinedOutput()
		return string(out), err
	}
	if out, err := devstack("", "up", "-d"); err != nil {
		t.Fatalf("up -d: %v\n%s", err, out)
	}

	s := openTmux(t, "devstack-test-"+project, dir, env, shellQuote(bin)+" shell; echo SHELL-EXITED $?; sleep 600")

	s.waitFor("/tmp $") // busybox sh's prompt, in app's working_dir
	s.keys("echo in-$(cat /built)-as-$(id -u)-at-$(pwd)", "Enter")
	s.waitFor("in-built-as-65534-at-/tmp")
	s.keys("stty size", "Enter")
	s.waitFor("36 120")
	s.tmux("resize-window", "-t", "ui", "-x", "100", "-y", "30")
	// The new size reaches the shell through SIGWINCH, devstack and the
	// engine's exec resize, racing the keys typed next: ask again until the
	// shell sees it, for at most 30s.
	for deadline := time.Now().Add(30 * time.Second); ; {
		s.keys("clear; stty size", "Enter")
		if strings.Contains(s.waitUntilOr(time.Second, "30 100"), "30 100") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the shell never saw the new size 30x100:\n%s", s.capture())
		}
	}
	s.keys("exit", "Enter")
	s.waitFor("SHELL-EXITED 0")

	out, err := devstack("", "shell", "bare")
	if err == nil || !strings.Contains(out, `service "bare" has no shell`) || !strings.Contains(out, "devstack exec bare PROGRAM") || strings.Count(strings.TrimSpace(out), "\n") > 0 {
		t.Fatalf("shell in an image without one: %v\n%s", err, out)
	}
	// ssh is shell; without a terminal it reads commands from stdin.
	out, err = devstack("pwd; id -un\n", "ssh", "app")
	if err != nil || out != "/tmp\nnobody\n" {
		t.Fatalf("ssh app: %v\n%q", err, out)
	}
	if out, err := devstack("", "shell", "nosuch"); err == nil || !strings.Contains(out, "nosuch") {
		t.Fatalf("shell nosuch: %v\n%s", err, out)
	}
}
