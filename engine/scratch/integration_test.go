package scratch

import (
	"archive/tar"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"devstack/engine"
	"devstack/engine/docker"
	"devstack/engine/enginetest"
	"devstack/engine/event"
	"devstack/engine/load"
	"devstack/engine/model"
)

// fixture is one project of testdata/hidden brought up as a developer's
// dev environment, in a copy of its directory.
type fixture struct {
	t       *testing.T
	name    string // the fixture's directory
	dir     string // the copy
	project string
	env     []string
	rt      *docker.Runtime
	dev     *model.Project

	stopServer func()   // build-cache: the "upstream" the build downloads from
	byHand     []string // services brought up one at a time, in this order
}

func newRuntime(t testing.TB) *docker.Runtime {
	t.Helper()
	enginetest.Busybox(t)
	rt, err := docker.New(context.Background(), docker.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })
	return rt
}

func randomName(prefix string) string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

func newFixture(t *testing.T, rt *docker.Runtime, name string) *fixture {
	t.Helper()
	fx := &fixture{t: t, name: name, dir: t.TempDir(), project: randomName("hid" + strings.ReplaceAll(name, "-", "") + "-"), rt: rt,
		env: []string{"PATH=" + os.Getenv("PATH")}}
	if err := os.CopyFS(fx.dir, os.DirFS(filepath.Join("..", "..", "testdata", "hidden", name))); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		enginetest.RemoveProject(fx.project)
		removeScratchLeftovers(fx.project)
	})
	return fx
}

func (fx *fixture) loadOptions() load.Options {
	return load.Options{Files: []string{filepath.Join(fx.dir, "compose.yaml")}, ProjectName: fx.project, WorkDir: fx.dir, Env: fx.env}
}

// up brings the dev environment up, as `devstack up` in the developer's
// shell would.
func (fx *fixture) up(ctx context.Context) {
	fx.t.Helper()
	dev, err := load.Load(ctx, fx.loadOptions())
	if err != nil {
		fx.t.Fatal(err)
	}
	fx.dev = dev
	if len(fx.byHand) == 0 {
		if err := engine.New(fx.rt, nil).Up(ctx, dev, engine.UpOptions{}); err != nil {
			fx.t.Fatalf("dev up: %v", err)
		}
		return
	}
	// One service at a time, each up before the next, as a developer
	// starting them by hand would.
	for _, svc := range fx.byHand {
		if err := engine.New(fx.rt, nil).Up(ctx, dev, engine.UpOptions{Services: []string{svc}, Wait: true}); err != nil {
			fx.t.Fatalf("dev up %s: %v", svc, err)
		}
		// A person takes a while before the next: more than the window
		// within which starts count as one.
		deadline := time.Now().Add(time.Minute)
		for {
			obs, err := fx.rt.Observe(ctx, dev)
			if err != nil {
				fx.t.Fatal(err)
			}
			if t := startTimes(obs.Containers)[svc]; !t.IsZero() && time.Since(t) > concurrentStarts+500*time.Millisecond {
				break
			}
			if time.Now().After(deadline) {
				fx.t.Fatalf("%s did not start", svc)
			}
			time.Sleep(100 * time.Millisecond) // polling the engine, bounded by the deadline
		}
	}
}

// ready waits for the dev environment to be up.
func (fx *fixture) ready(ctx context.Context) {
	fx.t.Helper()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	order, _ := startOrder(fx.dev, true, nil)
	if f := waitReady(ctx, fx.rt, fx.dev, order); f != nil {
		fx.t.Fatalf("the dev environment is not up: %s %v", f.Summary(), f.Tail)
	}
}

func (fx *fixture) exec(ctx context.Context, service string, cmd ...string) {
	fx.t.Helper()
	obs, err := fx.rt.Observe(ctx, fx.dev)
	if err != nil {
		fx.t.Fatal(err)
	}
	for _, c := range obs.Containers {
		if c.Service == service {
			code, err := fx.rt.Exec(ctx, c.ID, engine.ExecOptions{Cmd: cmd})
			if err != nil || code != 0 {
				fx.t.Fatalf("exec %v in %s: %d %v", cmd, service, code, err)
			}
			return
		}
	}
	fx.t.Fatalf("no container of %s", service)
}

// snapshot records what must not change: each dev container's ID, state
// and start time, and the content of every volume it mounts.
func (fx *fixture) snapshot(ctx context.Context) string {
	fx.t.Helper()
	obs, err := fx.rt.Observe(ctx, fx.dev)
	if err != nil {
		fx.t.Fatal(err)
	}
	var lines []string
	for _, c := range obs.Containers {
		lines = append(lines, fmt.Sprintf("%s %s %s %s %d", c.Name, c.ID, c.State, c.StartedAt.Format(time.RFC3339Nano), c.Restarts))
		svc, _ := fx.dev.Service(c.Service)
		for _, m := range svc.Volumes {
			if m.Type != model.MountVolume {
				continue
			}
			rc, err := fx.rt.CopyFrom(ctx, c.ID, m.Target)
			if err != nil {
				fx.t.Fatal(err)
			}
			lines = append(lines, fmt.Sprintf("  %s %s", m.Target, tarDigest(fx.t, rc)))
			rc.Close()
		}
	}
	for _, key := range sortedKeys(obs.Volumes) {
		lines = append(lines, "volume "+key+" "+obs.Volumes[key])
	}
	// The dev images keep their tags: a scratch build never retags them.
	for _, ref := range sortedKeys(obs.Images) {
		lines = append(lines, "image "+ref+" "+obs.Images[ref])
	}
	return strings.Join(lines, "\n")
}

func tarDigest(t *testing.T, r io.Reader) string {
	h := sha256.New()
	tr := tar.NewReader(r)
	for {
		hd, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(h, "%s %o %d %d %s\n", hd.Name, hd.Mode, hd.Uid, hd.Size, hd.ModTime.UTC())
		_, _ = io.Copy(h, tr)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// leftovers lists what the engine still holds of the project's scratch
// stacks: containers, networks, volumes and images.
func leftovers(project string) []string {
	var out []string
	for _, args := range [][]string{
		{"ps", "-a", "--format", `{{.Label "com.docker.compose.project"}} {{.Names}}`},
		{"network", "ls", "--format", `{{.Label "com.docker.compose.project"}} {{.Name}}`},
		{"volume", "ls", "--format", `{{.Label "com.docker.compose.project"}} {{.Name}}`},
		{"images", "--format", `{{.Repository}} {{.Tag}}`},
	} {
		b, _ := exec.Command("docker", args...).Output()
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			if strings.HasPrefix(line, project+"-scratch-") || strings.HasPrefix(line, "devstack-scratch/"+project+"-") {
				out = append(out, args[0]+": "+line)
			}
		}
	}
	return out
}

func removeScratchLeftovers(project string) {
	for _, l := range leftovers(project) {
		kind, rest, _ := strings.Cut(l, ": ")
		f := strings.Fields(rest)
		switch kind {
		case "ps":
			enginetest.RemoveProject(f[0])
		case "images":
			_ = exec.Command("docker", "rmi", f[0]+":"+f[1]).Run()
		default:
			enginetest.RemoveProject(f[0])
		}
	}
}

// serve starts an HTTP server on the loopback interface that serves
// body at /pkg.txt; it returns the port and a function that stops it.
func serve(t *testing.T, body string) (int, func()) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/pkg.txt" {
			http.NotFound(w, r)
			return
		}
		io.WriteString(w, body)
	})}
	go srv.Serve(ln)
	stop := func() { srv.Close() }
	t.Cleanup(stop)
	return ln.Addr().(*net.TCPAddr).Port, stop
}

func TestHiddenDependencies(t *testing.T) {
	rt := newRuntime(t)
	cases := []struct {
		fixture  string
		status   string
		category string
		service  string
		before   func(t *testing.T, fx *fixture)                      // before the dev environment comes up
		after    func(t *testing.T, ctx context.Context, fx *fixture) // once it has
		evidence []string                                             // the finding's evidence mentions these
	}{
		{fixture: "clean", status: StatusPass},
		{fixture: "build-cache", status: StatusFail, category: BuildCache, service: "app",
			before: func(t *testing.T, fx *fixture) {
				port, stop := serve(t, "libfoo 1.2.3\n")
				if err := os.WriteFile(filepath.Join(fx.dir, ".env"), []byte(fmt.Sprintf("PKG_PORT=%d\n", port)), 0o644); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(stop)
				fx.stopServer = stop
			},
			after: func(t *testing.T, ctx context.Context, fx *fixture) {
				fx.stopServer() // the package vanishes upstream
			},
			evidence: []string{"RUN mkdir -p /opt && wget"}},
		{fixture: "volume-state", status: StatusFail, category: VolumeState, service: "db",
			after: func(t *testing.T, ctx context.Context, fx *fixture) {
				fx.exec(ctx, "db", "sh", "-c", "echo 'create table users;' > /data/schema.sql")
			},
			evidence: []string{"schema.sql", "_data"}},
		{fixture: "bind-mount", status: StatusFail, category: BindMount, service: "app",
			evidence: []string{"./app is mounted over /app", "start.sh"}},
		{fixture: "host-env", status: StatusFail, category: HostEnv, service: "app",
			before: func(t *testing.T, fx *fixture) {
				fx.env = append(fx.env, "API_TOKEN=s3cret")
			},
			evidence: []string{"API_TOKEN"}},
		{fixture: "start-order", status: StatusFail, category: StartOrder, service: "web",
			evidence: []string{"before cache", "cache, web"}},
		{fixture: "started-by-hand", status: StatusFail, category: StartOrder, service: "app",
			before: func(t *testing.T, fx *fixture) {
				fx.byHand = []string{"store", "app"}
			},
			evidence: []string{"app fails when it starts before store", "dev order (store, app)"}},
	}
	for _, c := range cases {
		t.Run(c.fixture, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			fx := newFixture(t, rt, c.fixture)
			if c.before != nil {
				c.before(t, fx)
			}
			fx.up(ctx)
			if c.after != nil {
				c.after(t, ctx, fx)
			}
			fx.ready(ctx)
			before := fx.snapshot(ctx)

			state := t.TempDir()
			rec := &event.Recorder{}
			rep, err := Run(ctx, Options{Runtime: rt, Load: fx.loadOptions(), Timeout: time.Minute, Sink: rec,
				History: OpenHistory(filepath.Join(state, "scratch.db")), ReportDir: state, Trigger: "test",
				HostChecks: HostChecks{Allow: true}})
			if err != nil {
				t.Fatalf("run: %v\n%s", err, rep.Text())
			}
			t.Logf("%s", rep.Text())
			if os.Getenv("SCRATCH_PHASES") != "" {
				for _, ph := range rep.Phases {
					t.Logf("phase %-8s run %d %6.2fs %s", ph.Name, ph.Run, ph.Duration, ph.Detail)
				}
			}
			if rep.Status != c.status {
				t.Fatalf("status %s, want %s", rep.Status, c.status)
			}
			if c.category != "" {
				if len(rep.Findings) != 1 {
					t.Fatalf("findings: %+v", rep.Findings)
				}
				f := rep.Findings[0]
				if f.Category != c.category || f.Service != c.service {
					t.Fatalf("found %s in %s, want %s in %s", f.Category, f.Service, c.category, c.service)
				}
				for _, want := range c.evidence {
					if !strings.Contains(f.Evidence, want) {
						t.Errorf("evidence lacks %q:\n%s", want, f.Evidence)
					}
				}
				if f.Hint == "" {
					t.Error("no hint")
				}
				// The failure's evidence pointed at the right ingredient first.
				if len(rep.Runs) != 2 {
					t.Errorf("%d stack runs, want 2 (the scratch run and the right ingredient)", len(rep.Runs))
				}
			}
			if len(rep.Runs) > maxRuns {
				t.Errorf("%d stack runs", len(rep.Runs))
			}

			if after := fx.snapshot(ctx); after != before {
				t.Errorf("the dev environment changed:\nbefore:\n%s\nafter:\n%s", before, after)
			}
			if left := leftovers(fx.project); len(left) > 0 {
				t.Errorf("the scratch stacks were not removed: %v", left)
			}
			done, ok := rec.Wait(time.Now(), func(e event.Event) bool { s, ok := e.(event.Scratch); return ok && s.Phase == "done" })
			if !ok || done.(event.Scratch).Status != c.status || done.(event.Scratch).Report != rep.Path {
				t.Errorf("done event %+v", done)
			}
			if _, err := os.Stat(rep.Path); err != nil {
				t.Errorf("report file: %v", err)
			}
			if hist, err := OpenHistory(filepath.Join(state, "scratch.db")).List(fx.project); err != nil || len(hist) != 1 || hist[0].Status != c.status {
				t.Errorf("history: %+v %v", hist, err)
			}
		})
	}
}
