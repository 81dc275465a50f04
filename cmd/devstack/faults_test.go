package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"devstack/engine/enginetest"
)

// The fault tests interrupt the real devstack binary (the test binary run
// as "devstack", see TestMain) at each phase of up and down, against the
// real engine, with the stack in testdata/faults. The signal goes when
// devstack announces the phase; gates in the stack hold the long phases
// (build, health, stop) open until the test lets go, so the signal lands
// in them for certain. Creating a network or a container cannot be held:
// the signal lands as the engine is asked, before or after it answers,
// and either must be survived. Nothing here sleeps to synchronise.
//
// kill -9: the next up converges to the whole stack, the data written
// before keeps, and the next down -v leaves nothing of the project.
// Ctrl-C: attached up stops what it started and exits 130; a second one
// kills instead of waiting; up -d and down exit 130, never 0.
// Always: a container and a volume of the user's, outside the project,
// stay as they were.

// faultDeadline bounds each devstack run; the engine here is shared and
// slow under load, so it is generous.
const faultDeadline = 3 * time.Minute

// faultMarker is what the test writes into the named volume before the fault.
const faultMarker = "written before the fault"

func TestFaults(t *testing.T) {
	enginetest.Busybox(t)
	user := newFaultUser(t)
	for _, c := range faultKills() {
		t.Run("kill/"+c.name, func(t *testing.T) {
			t.Parallel()
			s := newFaultStack(t)
			if c.seed != nil {
				c.seed(s)
			}
			var env []string
			if c.hold {
				env = append(env, "FAULT_HOLD="+s.hold)
			}
			p := s.start(env, append([]string{"--progress", "json"}, c.args...))
			p.waitFor(c.at)
			if c.hold {
				s.waitBuildProcess(true)
			}
			if c.before != nil {
				c.before(s)
			}
			p.signal(syscall.SIGKILL)
			if code := p.wait(); code != 128+int(syscall.SIGKILL) {
				t.Fatalf("devstack was not killed (exit %d)", code)
			}
			if c.hold {
				s.waitBuildProcess(false) // the engine ends the build it was running
			}
			// Let go of every gate: the next runs must not wait on them.
			s.gate("hold-health", false)
			s.gate("hold-stop", false)
			if c.after != nil {
				c.after(s)
			}

			start := time.Now()
			s.devstack("up", "-d", "--wait")
			converged := time.Since(start)
			s.checkFull()
			if got := s.readMarker(); got != faultMarker {
				t.Errorf("the named volume holds %q after the next up, want %q", got, faultMarker)
			}
			s.devstack("down", "-v")
			left := s.checkNothingLeft(1)
			user.check(t)
			t.Logf("kill -9 at %s: next up converged in %.1fs, data kept; after down -v: %s", c.name, converged.Seconds(), left)
		})
	}
	for _, c := range faultInterrupts() {
		t.Run("ctrl-c/"+c.name, func(t *testing.T) {
			t.Parallel()
			s := newFaultStack(t)
			if c.seed != nil {
				c.seed(s)
			}
			s.gate(c.gate, true)
			var env []string
			if c.hold {
				env = append(env, "FAULT_HOLD="+s.hold)
			}
			// Without a terminal: plain progress on stderr (and, attached,
			// logs on stdout), as a user piping the output sees them.
			p := s.start(env, c.args)
			p.waitFor(c.at)
			if c.hold {
				s.waitBuildProcess(true)
			}
			p.signal(syscall.SIGINT)
			interrupted := time.Now()
			if c.again != nil {
				p.waitFor(c.again)
				p.signal(syscall.SIGINT) // force
			}
			forced := time.Now()
			code := p.wait()
			exited := time.Since(interrupted)
			if code != 130 {
				t.Fatalf("devstack %s, interrupted, exited %d, want 130; output:\n%s", strings.Join(c.args, " "), code, p.output())
			}
			if c.again != nil && time.Since(forced) > time.Minute {
				t.Errorf("a second Ctrl-C took %s to end devstack: it should not wait out the grace period (2m)", time.Since(forced))
			}
			if c.hold {
				s.waitBuildProcess(false) // the engine ends the build it was running
			}
			// A step cut short by Ctrl-C is said to be interrupted, not
			// shown as the client library's error with the socket's URL.
			if out := p.output(); strings.Contains(out, "context canceled") {
				t.Errorf("devstack's output speaks of a cancelled context instead of an interruption:\n%s", out)
			}
			if c.stops {
				if !strings.Contains(p.output(), "Gracefully stopping") {
					t.Errorf("attached up did not say it was stopping the stack; output:\n%s", p.output())
				}
				if running := s.running(); len(running) > 0 {
					t.Errorf("still running after Ctrl-C: %v", running)
				}
			}
			user.check(t)
			s.gate(c.gate, false)
			s.devstack("down", "-v")
			left := s.checkNothingLeft(-1)
			t.Logf("Ctrl-C at %s: exit 130 %.1fs after Ctrl-C; after down -v: %s", c.name, exited.Seconds(), left)
		})
	}
}

// faultKill is a kill -9 of devstack at one phase of up or down.
type faultKill struct {
	name string
	// seed brings up part (or all) of the stack first, with data in its
	// volume; the kill then hits a later up, or a down.
	seed func(s *faultStack)
	args []string              // devstack's command line
	hold bool                  // hold the build's RUN step (FAULT_HOLD)
	at   func(faultEvent) bool // the event the phase begins with
	// before runs between the event and the kill; after, once the gates
	// are let go.
	before, after func(s *faultStack)
}

func faultKills() []faultKill {
	return []faultKill{
		{
			name: "up-building",
			seed: (*faultStack).seedDB,
			args: []string{"up", "-d", "--build"},
			hold: true,
			at:   func(e faultEvent) bool { return e.Type == "build" && strings.HasPrefix(e.Line, "holding at the gate") },
		},
		{
			name: "up-creating-networks",
			seed: (*faultStack).seedDB,
			args: []string{"up", "-d"},
			at:   faultProgress("network", "creating"),
		},
		{
			name: "up-creating-containers",
			seed: (*faultStack).seedDB,
			args: []string{"up", "-d"},
			at:   faultProgress("container", "creating"),
		},
		{
			name: "up-waiting-for-health",
			seed: func(s *faultStack) { s.gate("hold-health", true) },
			args: []string{"up", "-d"},
			at:   faultProgress("container", "waiting"),
			// db runs, held short of healthy: the data goes in now.
			before: (*faultStack).writeMarker,
		},
		{
			name: "down-stopping",
			seed: func(s *faultStack) {
				s.seedAll()
				s.gate("hold-stop", true)
			},
			args: []string{"down"},
			at:   faultProgress("container", "stopping"),
			// Kill once the engine has passed the stop on to web (the
			// event comes just before devstack asks for it).
			before: func(s *faultStack) {
				faultPoll(s.t, "web asked to stop", func() bool { return s.gateExists("stopping") })
			},
			// The engine finishes the stop devstack asked for: web exits
			// once it may, and the next up must start it again.
			after: func(s *faultStack) { s.waitState("web", "exited") },
		},
		{
			// At db's removal every stop has ended (db stops last), so
			// what the engine still does after the kill is removing, which
			// the next up must wait out. (At web's removal app's stop may
			// be under way, and the engine would stop app after the next up
			// had seen it running: nothing can tell that up.)
			name: "down-removing",
			seed: (*faultStack).seedAll,
			args: []string{"down"},
			at:   faultContainer("db", "removing"),
		},
	}
}

// faultInterrupt is a Ctrl-C of devstack at one phase.
type faultInterrupt struct {
	name  string
	seed  func(s *faultStack)
	args  []string              // devstack's command line
	hold  bool                  // hold the build's RUN step (FAULT_HOLD)
	gate  string                // a gate held during the run
	at    func(faultEvent) bool // the event (plain progress line) the phase begins with
	again func(faultEvent) bool // a second Ctrl-C at this event: force
	stops bool                  // attached up: it stops what it started, nothing runs after
}

func faultInterrupts() []faultInterrupt {
	attached := []string{"up"}
	return []faultInterrupt{
		{name: "up-building", args: attached, stops: true, hold: true, at: func(e faultEvent) bool { return e.Type == "build" && strings.Contains(e.Step, " RUN ") }},
		{name: "up-creating-networks", args: attached, stops: true, at: faultProgress("network", "creating")},
		{name: "up-creating-containers", args: attached, stops: true, at: faultProgress("container", "creating")},
		{name: "up-starting-containers", args: attached, stops: true, at: faultProgress("container", "starting")},
		{name: "up-waiting-for-health", args: attached, stops: true, gate: "hold-health", at: faultProgress("container", "waiting")},
		// Twice: the first stops gracefully (web holds on), the second kills.
		{name: "up-stopping-forced", args: attached, stops: true, gate: "hold-stop",
			at: faultContainer("web", "started"), again: faultContainer("web", "stopping")},
		// Detached up and down leave what they made or did not remove yet
		// (as Compose's): the next run finishes it. They must not say
		// they succeeded.
		{name: "up-detached-waiting-for-health", args: []string{"up", "-d"}, gate: "hold-health", at: faultProgress("container", "waiting")},
		{name: "down-stopping", seed: (*faultStack).seedAll, args: []string{"down"}, gate: "hold-stop", at: faultProgress("container", "stopping")},
	}
}

// faultUser is a container and a volume of the user's, outside every
// project, named as the projects name their own: devstack must go by
// labels, never by names, and never touch them.
type faultUser struct{ name string }

func newFaultUser(t *testing.T) *faultUser {
	u := &faultUser{name: "dsf" + faultNonce() + "_data"}
	t.Cleanup(func() {
		_ = exec.Command("docker", "rm", "-f", u.name).Run()
		_ = exec.Command("docker", "volume", "rm", u.name).Run()
	})
	for _, args := range [][]string{
		{"volume", "create", u.name},
		{"run", "-d", "--init", "--name", u.name, "-v", u.name + ":/data", enginetest.BusyboxImage, "sh", "-c", "echo mine > /data/owned && exec sleep 3600"},
	} {
		if out, err := exec.Command("docker", args...).CombinedOutput(); err != nil {
			t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	faultPoll(t, "the user's container writes its file", func() bool { return u.owned() == "mine" })
	return u
}

func (u *faultUser) owned() string {
	out, _ := exec.Command("docker", "exec", u.name, "cat", "/data/owned").Output()
	return strings.TrimSpace(string(out))
}

// check fails t unless the user's container runs and its volume holds
// what it wrote.
func (u *faultUser) check(t *testing.T) {
	t.Helper()
	out, _ := exec.Command("docker", "inspect", "-f", "{{.State.Status}}", u.name).Output()
	if st := strings.TrimSpace(string(out)); st != "running" {
		t.Errorf("the user's container %s is %q, want running", u.name, st)
	}
	if got := u.owned(); got != "mine" {
		t.Errorf("the user's volume %s holds %q, want %q", u.name, got, "mine")
	}
}

// faultStack is one copy of testdata/faults under a project name of its own.
type faultStack struct {
	t       *testing.T
	dir     string
	project string
	hold    string // names the build step held with FAULT_HOLD
}

func newFaultStack(t *testing.T) *faultStack {
	t.Helper()
	s := &faultStack{t: t, dir: t.TempDir(), project: "dsf" + faultNonce(), hold: faultNonce()}
	faultCopy(t, "../../testdata/faults", s.dir)
	t.Cleanup(func() { enginetest.RemoveProject(s.project) })
	return s
}

// seedDB brings up db alone (its network and volume too) and writes data
// into the volume: the stack of a user who ran the project before.
func (s *faultStack) seedDB() {
	s.devstack("up", "-d", "--wait", "db")
	s.writeMarker()
}

// seedAll brings up the whole stack and writes data into the volume.
func (s *faultStack) seedAll() {
	s.devstack("up", "-d", "--wait")
	s.writeMarker()
}

func (s *faultStack) writeMarker() {
	s.docker("exec", s.project+"-db-1", "sh", "-c", "echo '"+faultMarker+"' > /data/marker && sync")
}

func (s *faultStack) readMarker() string {
	return strings.TrimSpace(s.docker("exec", s.project+"-db-1", "cat", "/data/marker"))
}

// gate creates or removes a file in the bind-mounted gate directory.
func (s *faultStack) gate(name string, held bool) {
	if name == "" {
		return
	}
	path := filepath.Join(s.dir, "gate", name)
	var err error
	if held {
		err = os.WriteFile(path, nil, 0o644)
	} else if err = os.Remove(path); errors.Is(err, fs.ErrNotExist) {
		err = nil
	}
	if err != nil {
		s.t.Fatal(err)
	}
}

func (s *faultStack) gateExists(name string) bool {
	_, err := os.Stat(filepath.Join(s.dir, "gate", name))
	return err == nil
}

func (s *faultStack) env(extra []string) []string {
	return append(os.Environ(), append([]string{"COMPOSE_PROJECT_NAME=" + s.project, "NO_COLOR=1"}, extra...)...)
}

// devstack runs a devstack command to the end and fails the test if it fails.
func (s *faultStack) devstack(args ...string) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), faultDeadline)
	defer cancel()
	cmd := exec.CommandContext(ctx, "devstack", args...)
	cmd.Dir = s.dir
	cmd.Env = s.env(nil)
	if out, err := cmd.CombinedOutput(); err != nil {
		s.t.Fatalf("devstack %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func (s *faultStack) docker(args ...string) string {
	s.t.Helper()
	out, err := exec.Command("docker", args...).CombinedOutput()
	if err != nil {
		s.t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// list names the project's resources of one kind: "ps" (containers, with
// -a unless filtered), "network", "volume" or "images".
func (s *faultStack) list(kind string, filters ...string) []string {
	s.t.Helper()
	label := "label=com.docker.compose.project=" + s.project
	var args []string
	switch kind {
	case "ps":
		args = []string{"ps", "-a", "--format", "{{.Names}}"}
	case "images":
		args = []string{"images", "--format", "{{.Repository}}:{{.Tag}}"}
	default:
		args = []string{kind, "ls", "--format", "{{.Name}}"}
	}
	args = append(args, "--filter", label)
	for _, f := range filters {
		args = append(args, f)
	}
	names := strings.Fields(s.docker(args...))
	slices.Sort(names)
	return names
}

// checkFull checks that the whole stack is there, once: three running
// containers (db healthy), its two networks, its volume, its one image.
func (s *faultStack) checkFull() {
	s.t.Helper()
	p := s.project
	want := map[string][]string{
		"ps":      {p + "-app-1", p + "-db-1", p + "-web-1"},
		"network": {p + "_back", p + "_front"},
		"volume":  {p + "_data"},
		"images":  {p + "-app:latest"},
	}
	for kind, names := range want {
		if got := s.list(kind); !slices.Equal(got, names) {
			s.t.Errorf("after the next up, %s lists %v, want %v", kind, got, names)
		}
	}
	if got := s.list("ps", "--filter", "status=running"); len(got) != 3 {
		s.t.Errorf("after the next up, running: %v, want all three", got)
	}
	// up --wait goes on devstack's own probe, which may pass before the
	// engine's next one (every second) says healthy.
	faultPoll(s.t, "db healthy after the next up", func() bool {
		return strings.TrimSpace(s.docker("inspect", "-f", "{{.State.Health.Status}}", p+"-db-1")) == "healthy"
	})
}

// checkNothingLeft checks that no container, network or volume of the
// project is left, and that its images are at most the one built (down
// keeps images, as Compose's does without --rmi), with no half-made one.
// images is the exact number of built images expected, -1 for "0 or 1".
func (s *faultStack) checkNothingLeft(images int) string {
	s.t.Helper()
	for _, kind := range []string{"ps", "network", "volume"} {
		if got := s.list(kind); len(got) > 0 {
			s.t.Errorf("after down -v, %s still lists %v", kind, got)
		}
	}
	imgs := s.list("images")
	if dangling := s.list("images", "--filter", "dangling=true"); len(dangling) > 0 {
		s.t.Errorf("after down -v, dangling images of the project: %v", dangling)
	}
	if images >= 0 && len(imgs) != images || len(imgs) > 1 {
		s.t.Errorf("after down -v, images %v, want %d (the built one)", imgs, images)
	}
	return fmt.Sprintf("containers 0, networks 0, volumes 0, images %d (down keeps built images)", len(imgs))
}

// waitState waits until the service's container is in state.
func (s *faultStack) waitState(service, state string) {
	s.t.Helper()
	name := s.project + "-" + service + "-1"
	faultPoll(s.t, name+" "+state, func() bool {
		return strings.TrimSpace(s.docker("inspect", "-f", "{{.State.Status}}", name)) == state
	})
}

// running lists the project's running containers once the engine has
// settled: it inspects each container first, which waits for a start
// still in progress (the engine holds the container while it starts it).
func (s *faultStack) running() []string {
	s.t.Helper()
	for _, name := range s.list("ps") {
		_ = exec.Command("docker", "inspect", name).Run()
	}
	return s.list("ps", "--filter", "status=running")
}

// waitBuildProcess waits until the held build step's process runs (or,
// with running false, is gone). The engine's builder runs it as a process
// of this machine: a build devstack left behind would show here.
func (s *faultStack) waitBuildProcess(running bool) {
	s.t.Helper()
	if h := os.Getenv("DOCKER_HOST"); h != "" && !strings.HasPrefix(h, "unix://") {
		s.t.Logf("the engine (%s) is not on this machine: its build processes cannot be seen from here", h)
		return
	}
	want := "cat\x00/tmp/gate-" + s.hold + "\x00"
	what := "the held build step's process ends"
	if running {
		what = "the held build step's process starts (is the engine on this machine?)"
	}
	faultPoll(s.t, what, func() bool {
		found := false
		procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
		for _, p := range procs {
			if b, err := os.ReadFile(p); err == nil && string(b) == want {
				found = true
				break
			}
		}
		return found == running
	})
}

// faultPoll checks cond every 100 ms until it holds, for at most a minute.
func faultPoll(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within a minute", what)
		}
		time.Sleep(100 * time.Millisecond) // polling with a deadline
	}
}

// faultEvent is what the tests look for in devstack's output: a progress
// event, or a line of build output.
type faultEvent struct {
	Type    string `json:"type"`
	Kind    string `json:"kind"`
	Name    string `json:"name"`
	Action  string `json:"action"`
	Step    string `json:"step"`
	Line    string `json:"line"`
	Service string `json:"service"`
}

// faultContainer matches a progress event of the service's container.
func faultContainer(service, action string) func(faultEvent) bool {
	return func(e faultEvent) bool {
		return e.Type == "progress" && e.Kind == "container" && strings.HasSuffix(e.Name, "-"+service+"-1") && e.Action == action
	}
}

func faultProgress(kind, action string) func(faultEvent) bool {
	return func(e faultEvent) bool {
		return e.Type == "progress" && (kind == "" || e.Kind == kind) && e.Action == action
	}
}

// parsePlainProgress reads a line of the plain renderer's stderr:
// "Container NAME  Creating" or "build SERVICE Step 3/5 : RUN ...".
func parsePlainProgress(line []byte, v any) error {
	e := v.(*faultEvent)
	text := string(line)
	if rest, ok := strings.CutPrefix(text, "build "); ok {
		svc, step, _ := strings.Cut(rest, " ")
		*e = faultEvent{Type: "build", Service: svc, Step: step}
		return nil
	}
	kindName, action, ok := strings.Cut(text, "  ")
	kind, name, ok2 := strings.Cut(kindName, " ")
	if !ok || !ok2 {
		return errors.New("not a progress line")
	}
	action, _, _ = strings.Cut(action, "  ")
	*e = faultEvent{Type: "progress", Kind: strings.ToLower(kind), Name: name, Action: strings.ToLower(action)}
	return nil
}

// faultRun is a devstack process whose output the test reads as it comes.
type faultRun struct {
	t     *testing.T
	cmd   *exec.Cmd
	lines chan faultEvent
	done  chan struct{} // output read to its end

	mu  sync.Mutex
	out strings.Builder
}

// start runs devstack with args and reads its events as they come: JSON
// lines on stdout with --progress json, else plain progress on stderr.
func (s *faultStack) start(env, args []string) *faultRun {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), faultDeadline)
	s.t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, "devstack", args...)
	cmd.Dir = s.dir
	cmd.Env = s.env(env)
	r := &faultRun{t: s.t, cmd: cmd, lines: make(chan faultEvent, 1024), done: make(chan struct{})}
	pipe, other, parse := cmd.StdoutPipe, &cmd.Stderr, json.Unmarshal
	if !slices.Contains(args, "json") {
		pipe, other, parse = cmd.StderrPipe, &cmd.Stdout, parsePlainProgress
	}
	*other = &faultWriter{r}
	events, err := pipe()
	if err != nil {
		s.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	go func() {
		defer close(r.done)
		defer close(r.lines)
		sc := bufio.NewScanner(events)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			r.mu.Lock()
			r.out.Write(sc.Bytes())
			r.out.WriteByte('\n')
			r.mu.Unlock()
			var e faultEvent
			if parse(sc.Bytes(), &e) != nil {
				continue
			}
			r.lines <- e // wait drains what the test does not read
		}
	}()
	return r
}

type faultWriter struct{ r *faultRun }

func (w *faultWriter) Write(b []byte) (int, error) {
	w.r.mu.Lock()
	defer w.r.mu.Unlock()
	return w.r.out.Write(b)
}

func (r *faultRun) output() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.out.String()
}

// waitFor returns the first event that matches, failing the test if
// devstack ends first.
func (r *faultRun) waitFor(match func(faultEvent) bool) faultEvent {
	r.t.Helper()
	for e := range r.lines {
		if match(e) {
			return e
		}
	}
	code := r.wait()
	r.t.Fatalf("devstack ended (exit %d) before the phase began; output:\n%s", code, r.output())
	return faultEvent{}
}

func (r *faultRun) signal(sig syscall.Signal) {
	r.t.Helper()
	if err := r.cmd.Process.Signal(sig); err != nil {
		r.t.Fatalf("unable to signal devstack: %v", err)
	}
}

// wait waits for devstack to end and returns its exit status as a shell
// reports it: 128+N when signal N ended it (137 for kill -9, 130 for a
// Ctrl-C devstack did not handle itself).
func (r *faultRun) wait() int {
	go func() {
		for range r.lines { // keep reading so devstack never blocks on output
		}
	}()
	<-r.done
	err := r.cmd.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ee.ExitCode()
	}
	if err != nil {
		r.t.Fatalf("devstack: %v", err)
	}
	return 0
}

// faultCopy copies the fixture directory src into dst.
func faultCopy(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
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

func faultNonce() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
