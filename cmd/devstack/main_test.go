package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"devstack/engine/enginetest"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"devstack": func() { os.Exit(Main()) },
	})
}

// TestScripts runs the CLI scenarios in testdata/script/*.txtar against the
// real binary and, for scripts marked [docker], the real engine. Each script
// gets its own project name in $PROJECT and is cleaned up afterwards.
func TestScripts(t *testing.T) {
	root, _ := filepath.Abs("../../testdata/script")
	testscript.Run(t, testscript.Params{
		Dir:                 root,
		RequireExplicitExec: true,
		Setup: func(env *testscript.Env) error {
			project := randomProject("dst")
			env.Setenv("PROJECT", project)
			env.Setenv("COMPOSE_PROJECT_NAME", project)
			env.Setenv("IMAGE", enginetest.BusyboxImage)
			if v := os.Getenv("DOCKER_HOST"); v != "" {
				env.Setenv("DOCKER_HOST", v)
			}
			env.Setenv("NO_COLOR", "1")
			// The docker CLI finds its plugins (compose v2) under the
			// user's config, which testscript's empty HOME hides.
			if home, err := os.UserHomeDir(); err == nil && os.Getenv("DOCKER_CONFIG") == "" {
				env.Setenv("DOCKER_CONFIG", filepath.Join(home, ".docker"))
			}
			// A script's second project is named ${PROJECT}b.
			env.Defer(func() { enginetest.RemoveProject(project); enginetest.RemoveProject(project + "b") })
			return nil
		},
		Condition: func(cond string) (bool, error) {
			switch cond {
			case "docker":
				if os.Getenv("DEVSTACK_NO_DOCKER") != "" {
					return false, nil
				}
				if err := enginetest.EnsureBusybox(context.Background()); err != nil {
					return false, err
				}
				return true, nil
			case "composev2":
				return exec.Command("docker", "compose", "version").Run() == nil, nil // outside the script: the real HOME
			}
			return false, nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			// waitstate CONTAINER STATE: poll the engine until the container
			// is in STATE, for at most a minute.
			"waitstate": func(ts *testscript.TestScript, neg bool, args []string) {
				deadline := time.Now().Add(time.Minute)
				var state string
				for time.Now().Before(deadline) {
					out, _ := exec.Command("docker", "inspect", "-f", "{{.State.Status}}", args[0]).Output()
					if state = strings.TrimSpace(string(out)); state == args[1] {
						return
					}
					time.Sleep(50 * time.Millisecond) // polling with a deadline
				}
				ts.Fatalf("%s is %q, not %q, after a minute", args[0], state, args[1])
			},
			// waitgone CONTAINER: poll the engine until the container no
			// longer exists, for at most a minute.
			"waitgone": func(ts *testscript.TestScript, neg bool, args []string) {
				deadline := time.Now().Add(time.Minute)
				for time.Now().Before(deadline) {
					if exec.Command("docker", "inspect", args[0]).Run() != nil {
						return
					}
					time.Sleep(50 * time.Millisecond) // polling with a deadline
				}
				ts.Fatalf("%s still exists after a minute", args[0])
			},
			// registry: start Debian's docker-registry on a free loopback
			// port (the engine speaks plain HTTP to loopback registries)
			// for the rest of the script; $REGISTRY is its host:port.
			"registry": func(ts *testscript.TestScript, neg bool, args []string) {
				bin, err := exec.LookPath("docker-registry")
				if err != nil {
					ts.Fatalf("docker-registry is not installed (apt-get install docker-registry); guard with [!exec:docker-registry] skip")
				}
				l, err := net.Listen("tcp", "127.0.0.1:0")
				ts.Check(err)
				addr := l.Addr().String()
				l.Close()
				dir := ts.MkAbs("registry")
				cfg := filepath.Join(dir, "config.yml")
				ts.Check(os.MkdirAll(dir, 0o700))
				ts.Check(os.WriteFile(cfg, []byte(fmt.Sprintf("version: 0.1\nlog: {level: error, accesslog: {disabled: true}}\nstorage: {filesystem: {rootdirectory: %s}}\nhttp: {addr: %s}\n", filepath.Join(dir, "data"), addr)), 0o600))
				cmd := exec.Command(bin, "serve", cfg)
				ts.Check(cmd.Start())
				ts.Defer(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
				deadline := time.Now().Add(30 * time.Second)
				for {
					if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
						c.Close()
						break
					}
					if time.Now().After(deadline) {
						ts.Fatalf("the registry does not listen on %s", addr)
					}
					time.Sleep(50 * time.Millisecond) // polling for the listener, bounded by the deadline
				}
				ts.Setenv("REGISTRY", addr)
			},
			// waitexec CONTAINER REGEXP CMD...: run CMD in the container until
			// its output matches REGEXP, for at most a minute.
			"waitexec": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) < 3 {
					ts.Fatalf("usage: waitexec CONTAINER REGEXP CMD...")
				}
				re := regexp.MustCompile(args[1])
				deadline := time.Now().Add(time.Minute)
				var out []byte
				for time.Now().Before(deadline) {
					out, _ = exec.Command("docker", append([]string{"exec", args[0]}, args[2:]...)...).CombinedOutput()
					if re.Match(out) {
						return
					}
					time.Sleep(50 * time.Millisecond) // polling with a deadline
				}
				ts.Fatalf("%s: %v never printed %q within a minute; last:\n%s", args[0], args[2:], args[1], out)
			},
			// jsonfield FILE KEY: FILE holds `ps --format json`; fail unless
			// some entry has KEY (checks the output stays stable).
			"jsonhas": func(ts *testscript.TestScript, neg bool, args []string) {
				data := ts.ReadFile(args[0])
				for _, k := range args[1:] {
					ok := strings.Contains(data, `"`+k+`":`)
					if ok == neg {
						ts.Fatalf("%s: key %q present=%v", args[0], k, ok)
					}
				}
			},
		},
	})
}

// randomProject is a project name no other test run shares: prefix and
// eight random hex digits.
func randomProject(prefix string) string {
	return prefix + faultNonce()
}
