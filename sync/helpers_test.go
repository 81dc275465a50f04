package sync_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"devstack/engine"
	"devstack/engine/docker"
	"devstack/engine/enginetest"
	"devstack/engine/event"
	"devstack/engine/load"
	"devstack/engine/model"
	devsync "devstack/sync"
)

// dockerEngine adapts the engine to sync.Engine, as the CLI does.
type dockerEngine struct {
	rt *docker.Runtime
	e  *engine.Engine
	p  *model.Project
}

func (d *dockerEngine) Containers(ctx context.Context, service string) ([]devsync.Container, error) {
	cs, err := d.e.Containers(ctx, d.p, []string{service}, false)
	if err != nil {
		return nil, err
	}
	svc, _ := d.p.Service(service)
	var out []devsync.Container
	for _, c := range cs {
		if c.Service == service && !c.OneOff && c.State == model.StateRunning {
			out = append(out, devsync.Container{ID: c.ID, Name: c.Name, User: svc.User, Started: c.StartedAt})
		}
	}
	return out, nil
}

func (d *dockerEngine) CopyTo(ctx context.Context, id, dir string, r io.Reader) error {
	return d.rt.CopyTo(ctx, id, dir, r)
}

func (d *dockerEngine) CopyFrom(ctx context.Context, id, path string) (io.ReadCloser, error) {
	return d.rt.CopyFrom(ctx, id, path)
}

func (d *dockerEngine) Exec(ctx context.Context, id string, x devsync.ExecSpec) (int, error) {
	return d.rt.Exec(ctx, id, engine.ExecOptions{Cmd: x.Cmd, User: x.User, WorkDir: x.WorkDir, Env: x.Env, Stdin: x.Stdin, Stdout: x.Stdout, Stderr: x.Stderr})
}

func (d *dockerEngine) Rebuild(ctx context.Context, service string) error {
	return d.e.Up(ctx, d.p, engine.UpOptions{Services: []string{service}, Build: true})
}

func (d *dockerEngine) Restart(ctx context.Context, service string) error {
	return d.e.Restart(ctx, d.p, []string{service}, nil)
}

// stack is a compose project on the real engine with a syncer on it.
type stack struct {
	t     testing.TB
	dir   string
	p     *model.Project
	eng   *dockerEngine
	rec   *event.Recorder
	state string
	stop  func()
	syncr *devsync.Syncer
}

// newStack writes compose ($IMAGE is the test image) and files into a temp
// dir, loads it under a unique name and brings it up.
func newStack(t testing.TB, compose string, files map[string]string) *stack {
	t.Helper()
	img := enginetest.Busybox(t)
	dir := t.TempDir()
	compose = strings.ReplaceAll(compose, "$IMAGE", img)
	writeFile(t, filepath.Join(dir, "compose.yaml"), compose)
	for name, content := range files {
		writeFile(t, filepath.Join(dir, name), strings.ReplaceAll(content, "$IMAGE", img))
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	name := "dssy" + hex.EncodeToString(b)
	t.Cleanup(func() { enginetest.RemoveProject(name) })
	rt, err := docker.New(context.Background(), docker.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })
	p, err := load.Load(context.Background(), load.Options{WorkDir: dir, ProjectName: name})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, svc := range p.Services {
			if svc.Build != nil {
				_ = exec.Command("docker", "rmi", "-f", svc.Image).Run()
			}
		}
	})
	s := &stack{t: t, dir: dir, p: p, rec: &event.Recorder{}, state: t.TempDir()}
	s.eng = &dockerEngine{rt: rt, e: engine.New(rt, event.Discard), p: p}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := s.eng.e.Up(ctx, p, engine.UpOptions{}); err != nil {
		t.Fatalf("up: %v", err)
	}
	return s
}

// start runs a syncer until the test ends (or stop is called) and waits
// until it is ready.
func (s *stack) start(o devsync.Options) *devsync.Syncer {
	s.t.Helper()
	o.Project, o.Engine, o.Sink = s.p, s.eng, s.rec
	if o.StateDir == "" {
		o.StateDir = s.state
	}
	sy, err := devsync.New(o)
	if err != nil {
		s.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sy.Run(ctx) }()
	s.stop = func() {
		cancel()
		if err := <-done; err != nil {
			s.t.Errorf("sync: %v", err)
		}
		s.stop = func() {}
	}
	s.t.Cleanup(func() { s.stop() })
	select {
	case <-sy.Ready():
	case err := <-done:
		s.t.Fatalf("sync ended before it was ready: %v", err)
	case <-time.After(60 * time.Second):
		s.t.Fatal("sync not ready after 60s")
	}
	s.syncr = sy
	return sy
}

// containers returns the running containers of a service, by name.
func (s *stack) containers(service string) []devsync.Container {
	s.t.Helper()
	cs, err := s.eng.Containers(context.Background(), service)
	if err != nil {
		s.t.Fatal(err)
	}
	sort.Slice(cs, func(i, j int) bool { return cs[i].Name < cs[j].Name })
	return cs
}

func (s *stack) one(service string) devsync.Container {
	s.t.Helper()
	cs := s.containers(service)
	if len(cs) == 0 {
		s.t.Fatalf("no running container for %s", service)
	}
	return cs[0]
}

// sh runs a shell script in a container and returns its output.
func (s *stack) sh(id, script string) string {
	s.t.Helper()
	var out bytes.Buffer
	code, err := s.eng.Exec(context.Background(), id, devsync.ExecSpec{Cmd: []string{"sh", "-c", script}, Stdout: &out, Stderr: &out})
	if err != nil {
		s.t.Fatalf("exec %q: %v", script, err)
	}
	if code != 0 {
		s.t.Fatalf("exec %q: exit %d: %s", script, code, out.String())
	}
	return out.String()
}

// treeScript lists dir as "path kind content" lines: F for files (with
// their content), D for directories, L for links (with their target).
const treeScript = `cd %q 2>/dev/null || exit 0; find . -mindepth 1 | sort | while read -r f; do
if [ -L "$f" ]; then echo "${f#./} L $(readlink "$f")"; elif [ -d "$f" ]; then echo "${f#./} D"; else echo "${f#./} F $(cat "$f")"; fi; done`

// tree returns the content of dir in a container, one line per path.
func (s *stack) tree(id, dir string) string {
	s.t.Helper()
	return s.sh(id, fmt.Sprintf(treeScript, dir))
}

// hostTree lists a host directory in the same format.
func hostTree(t testing.TB, dir string, skip func(rel string) bool) string {
	t.Helper()
	var lines []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || p == dir {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		if skip != nil && skip(rel) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		switch {
		case d.Type()&os.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			lines = append(lines, rel+" L "+l)
		case d.IsDir():
			lines = append(lines, rel+" D")
		default:
			b, _ := os.ReadFile(p)
			lines = append(lines, rel+" F "+strings.TrimRight(string(b), "\n"))
		}
		return nil
	})
	sort.Strings(lines)
	if len(lines) == 0 {
		return ""
	}
	return strings.Join(lines, "\n") + "\n"
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var last string
	for {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached within 15s; last state:\n%s", what, last)
		}
		time.Sleep(20 * time.Millisecond) // polling, bounded by the deadline
	}
}

// waitTree waits until a container's dir lists exactly want.
func (s *stack) waitTree(id, dir, want string) {
	s.t.Helper()
	eventually(s.t, "container "+dir, func() (bool, string) {
		got := s.tree(id, dir)
		return got == want, "got:\n" + got + "want:\n" + want
	})
}

// waitSync waits for a Sync event after index from matching match.
func (s *stack) waitSync(from int, match func(event.Sync) bool) event.Sync {
	s.t.Helper()
	seen := 0
	e, ok := s.rec.Wait(time.Now().Add(30*time.Second), func(e event.Event) bool {
		seen++
		se, ok := e.(event.Sync)
		return ok && seen > from && match(se)
	})
	if !ok {
		s.t.Fatalf("no matching sync event; got %s", s.syncEvents())
	}
	return e.(event.Sync)
}

// mark returns the number of events so far, for waitSync.
func (s *stack) mark() int { return len(s.rec.Events()) }

func (s *stack) syncEvents() string {
	var b strings.Builder
	for _, e := range s.rec.Events() {
		if j, err := event.Marshal(e); err == nil {
			b.Write(j)
			b.WriteString("\n")
		}
	}
	return b.String()
}

func (s *stack) warnings() string {
	var out []string
	for _, e := range s.rec.Events() {
		if w, ok := e.(event.Warning); ok {
			out = append(out, w.Message)
		}
	}
	return strings.Join(out, "\n")
}

func writeFile(t testing.TB, p, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// atomicSave saves as editors do: write a temp file, rename it over.
func atomicSave(t testing.TB, p, content string) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(p), "."+filepath.Base(p)+".tmp~")
	writeFile(t, tmp, content)
	if err := os.Rename(tmp, p); err != nil {
		t.Fatal(err)
	}
}

func upForceRecreate() engine.UpOptions { return engine.UpOptions{ForceRecreate: true} }
