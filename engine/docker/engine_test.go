package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"devstack/engine"
	"devstack/engine/enginetest"
	"devstack/engine/event"
	"devstack/engine/model"
)

// newTestRuntime connects to the local engine and builds the test image.
func newTestRuntime(t *testing.T) (*Runtime, string) {
	t.Helper()
	img := enginetest.Busybox(t)
	r, err := New(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r, img
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// newProject returns an empty project with a unique name, removed from
// the engine when the test ends.
func newProject(t *testing.T) *model.Project {
	t.Helper()
	name := "dsdk" + randomHex(4)
	t.Cleanup(func() { enginetest.RemoveProject(name) })
	dir := t.TempDir()
	return &model.Project{
		Name: name, WorkingDir: dir, ConfigFiles: []string{filepath.Join(dir, "compose.yaml")},
		Environment: map[string]string{}, Networks: map[string]model.Network{}, Volumes: map[string]model.Volume{},
		Secrets: map[string]model.FileObject{}, Configs: map[string]model.FileObject{},
	}
}

func testCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// idle keeps a container running and lets it stop at once on TERM.
var idle = []string{"sh", "-c", "echo started; echo warning >&2; trap 'exit 0' TERM; while true; do sleep 1; done"}

func execOut(t *testing.T, r *Runtime, id string, cmd ...string) (string, string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code, err := r.Exec(testCtx(t, 20*time.Second), id, engine.ExecOptions{Cmd: cmd, Stdout: &out, Stderr: &errOut})
	if err != nil {
		t.Fatalf("exec %v: %v", cmd, err)
	}
	return out.String(), errOut.String(), code
}

// TestServiceRoundTrip creates a network, a volume and a container using
// most of what a service can ask for, and checks the engine got it all.
func TestServiceRoundTrip(t *testing.T) {
	t.Parallel()
	r, img := newTestRuntime(t)
	ctx := testCtx(t, 90*time.Second)
	p := newProject(t)
	b := make([]byte, 2)
	_, _ = rand.Read(b)
	subnet := fmt.Sprintf("10.%d.%d.0/24", 200+int(b[0])%50, b[1])
	p.Networks["front"] = model.Network{Name: p.Name + "_front", Subnets: []string{subnet}, Labels: map[string]string{"tier": "front"}}
	p.Networks["back"] = model.Network{Name: p.Name + "_back", Internal: true}
	p.Volumes["data"] = model.Volume{Name: p.Name + "_data", Labels: map[string]string{"kind": "data"}}

	hostDir := filepath.Join(t.TempDir(), "made-by-engine") // create_host_path
	secretFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(secretFile, []byte("s3cret"), 0o600); err != nil {
		t.Fatal(err)
	}
	p.Secrets["token"] = model.FileObject{Name: "token", File: secretFile}
	p.Configs["app"] = model.FileObject{Name: "app", Content: "listen=80\n"}
	p.Configs["fromenv"] = model.FileObject{Name: "fromenv", Environment: "APP_CONF"}
	p.Environment["APP_CONF"] = "from the environment"

	mode := uint32(0o440)
	svc := model.Service{
		Name: "api", Image: img, Command: idle, Replicas: 1,
		Environment: map[string]*string{"GREETING": ptr("hello")},
		Labels:      map[string]string{"team": "core"},
		Ports: []model.Port{
			{Target: 80, Protocol: "tcp"},
			{Target: 53, Protocol: "udp", HostIP: "127.0.0.1"},
		},
		Volumes: []model.Mount{
			{Type: model.MountVolume, Source: "data", Target: "/data"},
			{Type: model.MountBind, Source: hostDir, Target: "/host", CreateHostPath: true},
			{Type: model.MountTmpfs, Target: "/scratch", TmpfsSize: 1 << 20},
			{Type: model.MountVolume, Target: "/anon"},
		},
		Networks: map[string]model.ServiceNetwork{"front": {Aliases: []string{"edge"}, Priority: 5}, "back": {}},
		Secrets:  []model.FileRef{{Source: "token", Target: "/run/secrets/token"}},
		Configs: []model.FileRef{
			{Source: "app", Target: "/etc/app/app.conf", Mode: &mode, UID: "65534", GID: "65534"},
			{Source: "fromenv", Target: "/tmp/env.conf"},
		},
		Restart: "unless-stopped",
	}
	svc.ConfigHash = model.Hash(svc)
	p.Services = []model.Service{svc}

	for _, key := range []string{"front", "back"} {
		if err := r.CreateNetwork(ctx, p, key); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.CreateNetwork(ctx, p, "front"); err != nil { // a second up
		t.Fatalf("existing network: %v", err)
	}
	if err := r.CreateVolume(ctx, p, "data"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	id, err := r.CreateContainer(ctx, p, &p.Services[0], 1, engine.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	created := time.Since(start)
	if err := r.StartContainer(ctx, id); err != nil {
		t.Fatal(err)
	}
	t.Logf("create (with 1 extra network and 3 injected files) %v, start %v", created.Round(time.Millisecond), (time.Since(start) - created).Round(time.Millisecond))

	// Networks: one create per key, labelled, with the subnet asked for.
	nets, err := r.api.NetworkList(ctx, client.NetworkListOptions{Filters: projectFilter(p.Name)})
	if err != nil {
		t.Fatal(err)
	}
	if len(nets.Items) != 2 {
		t.Fatalf("networks = %d, want 2 (no duplicate)", len(nets.Items))
	}
	front, err := r.api.NetworkInspect(ctx, p.Name+"_front", client.NetworkInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if l := front.Network.Labels; l[model.LabelNetwork] != "front" || l["tier"] != "front" || l[model.LabelManagedBy] != "devstack" {
		t.Errorf("network labels = %v", l)
	}
	if cfg := front.Network.IPAM.Config; len(cfg) != 1 || cfg[0].Subnet.String() != subnet {
		t.Errorf("ipam = %+v, want %s", cfg, subnet)
	}
	back, _ := r.api.NetworkInspect(ctx, p.Name+"_back", client.NetworkInspectOptions{})
	if !back.Network.Internal {
		t.Error("back is not internal")
	}

	insp, err := r.api.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c := insp.Container
	if c.Name != "/"+p.Name+"-api-1" {
		t.Errorf("name = %s", c.Name)
	}
	for k, want := range map[string]string{"team": "core", model.LabelService: "api", model.LabelNumber: "1", model.LabelConfigHash: svc.ConfigHash, model.LabelOneOff: "False"} {
		if got := c.Config.Labels[k]; got != want {
			t.Errorf("label %s = %q, want %q", k, got, want)
		}
	}
	if !slices.Contains(c.Config.Env, "GREETING=hello") || c.HostConfig.RestartPolicy.Name != "unless-stopped" {
		t.Errorf("env %v restart %v", c.Config.Env, c.HostConfig.RestartPolicy)
	}
	fe := c.NetworkSettings.Networks[p.Name+"_front"]
	be := c.NetworkSettings.Networks[p.Name+"_back"]
	if fe == nil || be == nil {
		t.Fatalf("networks joined: %v", c.NetworkSettings.Networks)
	}
	for _, a := range []string{"api", "edge", p.Name + "-api-1"} {
		if !slices.Contains(fe.Aliases, a) {
			t.Errorf("front aliases %v lack %s", fe.Aliases, a)
		}
	}

	// Ports: published on random host ports, tcp and udp.
	got, err := r.InspectContainer(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != model.StateRunning || got.Service != "api" || got.Number != 1 || got.StartedAt.IsZero() || got.Created.IsZero() {
		t.Errorf("inspect = %+v", got)
	}
	var tcp, udp bool
	for _, pp := range got.Ports {
		tcp = tcp || (pp.Target == 80 && pp.Protocol == "tcp" && pp.HostPort != 0)
		udp = udp || (pp.Target == 53 && pp.Protocol == "udp" && pp.HostPort != 0 && pp.HostIP == "127.0.0.1")
	}
	if !tcp || !udp {
		t.Errorf("ports = %+v", got.Ports)
	}

	// Secrets and configs: in place, with their modes and owners, and
	// /tmp still world-writable.
	out, _, _ := execOut(t, r, id, "stat", "-c", "%n %a %u %g", "/run/secrets/token", "/etc/app/app.conf", "/tmp/env.conf", "/tmp")
	want := "/run/secrets/token 444 0 0\n/etc/app/app.conf 440 65534 65534\n/tmp/env.conf 444 0 0\n/tmp 1777 0 0\n"
	if out != want {
		t.Errorf("stat:\n%s\nwant:\n%s", out, want)
	}
	if out, _, _ := execOut(t, r, id, "cat", "/run/secrets/token", "/etc/app/app.conf", "/tmp/env.conf"); out != "s3cretlisten=80\nfrom the environment" {
		t.Errorf("contents = %q", out)
	}

	// Mounts: the bind's directory was made; tmpfs and volumes are there.
	if st, err := os.Stat(hostDir); err != nil || !st.IsDir() {
		t.Errorf("create_host_path: %v", err)
	}
	if out, _, code := execOut(t, r, id, "sh", "-c", "touch /data/x /anon/y && grep -c ' /scratch tmpfs .*size=1024k' /proc/mounts"); code != 0 || out != "1\n" {
		t.Errorf("mounts: %q %d", out, code)
	}

	// Exec: exit codes, the two streams, stdin closed at its end.
	if out, errOut, code := execOut(t, r, id, "sh", "-c", "echo out; echo err >&2; exit 7"); out != "out\n" || errOut != "err\n" || code != 7 {
		t.Errorf("exec = %q %q %d", out, errOut, code)
	}
	var catOut bytes.Buffer
	code, err := r.Exec(ctx, id, engine.ExecOptions{Cmd: []string{"cat"}, Stdin: strings.NewReader("piped in"), Stdout: &catOut})
	if err != nil || code != 0 || catOut.String() != "piped in" {
		t.Errorf("exec with stdin = %q %d %v", catOut.String(), code, err)
	}
	// The resize reaches the terminal some time after the exec starts:
	// poll for it in the container (up to 30 s) rather than sleeping.
	const ttyPoll = `i=0; until [ "$(stty size 2>/dev/null)" = "45 123" ] || [ $i -ge 300 ]; do sleep 0.1; i=$((i+1)); done; stty size`
	var ttyOut bytes.Buffer
	sizes := make(chan engine.TermSize, 1)
	sizes <- engine.TermSize{Width: 123, Height: 45}
	code, err = r.Exec(ctx, id, engine.ExecOptions{Cmd: []string{"sh", "-c", ttyPoll}, Tty: true, Stdout: &ttyOut, Resize: sizes})
	if err != nil || code != 0 || strings.TrimSpace(ttyOut.String()) != "45 123" {
		t.Errorf("tty exec = %q %d %v", ttyOut.String(), code, err)
	}

	// Logs: demultiplexed, with the engine's timestamps.
	deadline := time.Now().Add(10 * time.Second)
	var lines []logLine
	for time.Now().Before(deadline) {
		lines = nil
		if err := r.Logs(ctx, id, engine.LogOptions{Tail: "all"}, collect(&lines)); err != nil {
			t.Fatal(err)
		}
		if len(lines) >= 2 {
			break
		}
		time.Sleep(20 * time.Millisecond) // polling the logs until both lines are written
	}
	streams := map[string]string{}
	for _, l := range lines {
		streams[l.line] = l.stream
		if l.t.IsZero() || time.Since(l.t) > time.Minute {
			t.Errorf("log line %+v: no timestamp", l)
		}
	}
	if len(lines) != 2 || streams["started"] != "stdout" || streams["warning"] != "stderr" {
		t.Errorf("logs = %v", lines)
	}

	// Stats: one sample, then the stream ends with the context.
	sctx, cancel := context.WithCancel(ctx)
	samples := 0
	err = r.Stats(sctx, id, func(cpu float64, mem, limit uint64) {
		samples++
		if mem == 0 || limit == 0 || cpu < 0 {
			t.Errorf("sample cpu %v mem %d limit %d", cpu, mem, limit)
		}
		cancel()
	})
	if err != nil || samples != 1 {
		t.Errorf("stats: %d samples, %v", samples, err)
	}

	// Copy: a tar in, the same file out, mode and owner kept.
	var in bytes.Buffer
	tw := tar.NewWriter(&in)
	_ = tw.WriteHeader(&tar.Header{Name: "sub/f.txt", Mode: 0o600, Size: 5, Uid: 1234, Gid: 4321, Typeflag: tar.TypeReg, ModTime: time.Now()})
	_, _ = tw.Write([]byte("howdy"))
	_ = tw.Close()
	if err := r.CopyTo(ctx, id, "/tmp", &in); err != nil {
		t.Fatal(err)
	}
	rc, err := r.CopyFrom(ctx, id, "/tmp/sub/f.txt")
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(rc)
	h, err := tr.Next()
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(tr)
	rc.Close()
	if h.Name != "f.txt" || h.Mode&0o777 != 0o600 || h.Uid != 1234 || h.Gid != 4321 || string(body) != "howdy" {
		t.Errorf("copied back %s mode %o uid %d gid %d %q", h.Name, h.Mode, h.Uid, h.Gid, body)
	}
	if _, err := r.CopyFrom(ctx, id, "/no/such/file"); err == nil {
		t.Error("copy of a missing path must fail")
	}

	// network_mode service:api joins replica 1 of api.
	side := model.Service{Name: "side", Image: img, Command: idle, NetworkMode: "service:api"}
	sideID, err := r.CreateContainer(ctx, p, &side, 1, engine.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	si, _ := r.api.ContainerInspect(ctx, sideID, client.ContainerInspectOptions{})
	if string(si.Container.HostConfig.NetworkMode) != "container:"+id {
		t.Errorf("side network mode = %s", si.Container.HostConfig.NetworkMode)
	}

	// Observe sees the two containers, the networks, the volume and the image.
	obs, err := r.Observe(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if len(obs.Containers) != 2 || obs.Containers[0].Name != p.Name+"-api-1" || obs.Containers[1].State != model.StateCreated {
		t.Errorf("observed containers = %+v", obs.Containers)
	}
	if obs.Networks["front"] != p.Name+"_front" || obs.Networks["back"] != p.Name+"_back" || obs.Volumes["data"] != p.Name+"_data" || len(obs.Volumes) != 1 {
		t.Errorf("observed networks %v volumes %v", obs.Networks, obs.Volumes)
	}
	if obs.Images[img] == "" || obs.Images[img] != got.ImageID {
		t.Errorf("observed images = %v, container image %s", obs.Images, got.ImageID)
	}

	// Lifecycle: stop, restart, kill, remove (twice).
	grace := 5 * time.Second
	if err := r.StopContainer(ctx, id, &grace); err != nil {
		t.Fatal(err)
	}
	if c, _ := r.InspectContainer(ctx, id); c.State != model.StateExited || c.ExitCode != 0 {
		t.Errorf("after stop: %s %d", c.State, c.ExitCode)
	}
	if err := r.RestartContainer(ctx, id, &grace); err != nil {
		t.Fatal(err)
	}
	if err := r.KillContainer(ctx, id, "SIGKILL"); err != nil {
		t.Fatal(err)
	}
	for _, cid := range []string{sideID, id, id} {
		if err := r.RemoveContainer(ctx, cid, true); err != nil {
			t.Fatalf("remove: %v", err)
		}
	}
	if err := r.StopContainer(ctx, id, nil); err != nil {
		t.Errorf("stopping a removed container: %v", err)
	}
	for _, key := range []string{"front", "back"} {
		if err := r.RemoveNetwork(ctx, p.Networks[key].Name); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		if err := r.RemoveVolume(ctx, p.Name+"_data"); err != nil {
			t.Fatal(err)
		}
		if err := r.RemoveNetwork(ctx, p.Name+"_front"); err != nil {
			t.Fatal(err)
		}
	}
}

func TestExternalResourcesMustExist(t *testing.T) {
	t.Parallel()
	r, _ := newTestRuntime(t)
	ctx := testCtx(t, 30*time.Second)
	p := newProject(t)
	p.Networks["shared"] = model.Network{Name: "dsdk-missing-" + randomHex(3), External: true}
	p.Volumes["cache"] = model.Volume{Name: "dsdk-missing-" + randomHex(3), External: true}
	err := r.CreateNetwork(ctx, p, "shared")
	if err == nil || !strings.Contains(err.Error(), p.Networks["shared"].Name) || !strings.Contains(err.Error(), "docker network create") {
		t.Errorf("external network: %v", err)
	}
	err = r.CreateVolume(ctx, p, "cache")
	if err == nil || !strings.Contains(err.Error(), p.Volumes["cache"].Name) || !strings.Contains(err.Error(), "docker volume create") {
		t.Errorf("external volume: %v", err)
	}
}

// A project network another container still uses is not taken from it:
// the error names that container and says how to let go of the network.
func TestRemoveNetworkNamesWhatHoldsIt(t *testing.T) {
	t.Parallel()
	r, img := newTestRuntime(t)
	ctx := testCtx(t, 60*time.Second)
	p := newProject(t)
	p.Networks["default"] = model.Network{Name: p.Name + "_default"}
	if err := r.CreateNetwork(ctx, p, "default"); err != nil {
		t.Fatal(err)
	}
	mine := "dsdk-users-" + randomHex(3)
	t.Cleanup(func() {
		_ = exec.Command("docker", "rm", "-f", mine).Run()
		_ = exec.Command("docker", "network", "rm", p.Name+"_default").Run()
	})
	if out, err := exec.Command("docker", "run", "-d", "--name", mine, "--network", p.Name+"_default", img, "sleep", "600").CombinedOutput(); err != nil {
		t.Fatalf("docker run: %v: %s", err, out)
	}
	err := r.RemoveNetwork(ctx, p.Name+"_default")
	if err == nil || !strings.Contains(err.Error(), mine) || !strings.Contains(err.Error(), "docker network disconnect "+p.Name+"_default") {
		t.Fatalf("removing a network a user's container is attached to: %v", err)
	}
	if out, _ := exec.Command("docker", "inspect", "-f", "{{.State.Running}}", mine).Output(); strings.TrimSpace(string(out)) != "true" {
		t.Errorf("the user's container is not running after the failed removal: %q", out)
	}
}

// A missing secret file fails the create and leaves no container behind.
func TestCreateFailureLeavesNothing(t *testing.T) {
	t.Parallel()
	r, img := newTestRuntime(t)
	ctx := testCtx(t, 30*time.Second)
	p := newProject(t)
	p.Secrets["gone"] = model.FileObject{Name: "gone", File: filepath.Join(t.TempDir(), "gone")}
	svc := model.Service{Name: "api", Image: img, Secrets: []model.FileRef{{Source: "gone", Target: "/run/secrets/gone"}}}
	_, err := r.CreateContainer(ctx, p, &svc, 1, engine.CreateOptions{})
	if err == nil || !strings.Contains(err.Error(), `secret "gone"`) {
		t.Fatalf("err = %v", err)
	}
	obs, err := r.Observe(ctx, p)
	if err != nil || len(obs.Containers) != 0 {
		t.Errorf("left behind: %v %v", obs.Containers, err)
	}
}

// TestEvents follows a container from create to healthy to its death.
func TestEvents(t *testing.T) {
	t.Parallel()
	r, img := newTestRuntime(t)
	ctx := testCtx(t, 60*time.Second)
	p := newProject(t)
	evctx, stop := context.WithCancel(ctx)
	evs, errs := r.Events(evctx, p.Name)
	svc := model.Service{Name: "web", Image: img, Command: idle,
		// A generous probe timeout: on a loaded machine the exec alone can
		// take seconds, and a timed-out probe counts as a failure.
		Healthcheck: &model.Healthcheck{Test: []string{"CMD-SHELL", "test -e /bin/sh"}, Interval: 100 * time.Millisecond, Timeout: 30 * time.Second, Retries: 3}}
	id, err := r.CreateContainer(ctx, p, &svc, 3, engine.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.StartContainer(ctx, id); err != nil {
		t.Fatal(err)
	}
	next := func(match func(engine.ContainerEvent) bool) engine.ContainerEvent {
		t.Helper()
		for {
			select {
			case ev := <-evs:
				if match(ev) {
					return ev
				}
			case err := <-errs:
				t.Fatalf("event stream: %v", err)
			case <-ctx.Done():
				t.Fatal("no such event before the deadline")
			}
		}
	}
	ev := next(func(ev engine.ContainerEvent) bool { return ev.Action == "health_status" })
	if ev.Health != "healthy" || ev.ID != id || ev.Service != "web" || ev.Number != 3 || ev.Name != p.Name+"-web-3" {
		t.Errorf("health event = %+v", ev)
	}
	if c, _ := r.InspectContainer(ctx, id); c.Health != model.HealthHealthy {
		t.Errorf("inspected health = %q", c.Health)
	}
	if err := r.KillContainer(ctx, id, "SIGKILL"); err != nil {
		t.Fatal(err)
	}
	if ev := next(func(ev engine.ContainerEvent) bool { return ev.Action == "die" }); ev.ExitCode != 137 {
		t.Errorf("die event = %+v", ev)
	}
	stop()
	for range evs {
	}
	if err, ok := <-errs; ok {
		t.Errorf("ending the context must not report an error: %v", err)
	}
}

func TestBuild(t *testing.T) {
	t.Parallel()
	r, img := newTestRuntime(t)
	ctx := testCtx(t, 90*time.Second)
	p := newProject(t)
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		".dockerignore": "ignored.txt\n",
		"ignored.txt":   "must not be sent",
		"kept.txt":      "kept",
		"Dockerfile": "FROM " + img + " AS base\nARG GREETING\nCOPY . /ctx\n" +
			"RUN test -e /ctx/kept.txt && test ! -e /ctx/ignored.txt && test ! -e /ctx/.devstack.Dockerfile && echo \"greeting=$GREETING\" # " + p.Name + "\n" +
			"FROM base AS unused\nRUN exit 1\n",
	})
	tag := "devstack-test/" + p.Name + ":1"
	t.Cleanup(func() {
		_, _ = r.api.ImageRemove(context.Background(), tag, client.ImageRemoveOptions{Force: true, PruneChildren: true})
	})
	svc := model.Service{Name: "app", Image: tag, Build: &model.Build{
		Context: dir, Args: map[string]*string{"GREETING": ptr("hi")}, Target: "base", Labels: map[string]string{"built-by": "test"},
	}}
	rec := &event.Recorder{}
	id, err := r.Build(ctx, p, &svc, engine.BuildOptions{}, rec)
	if err != nil {
		t.Fatal(err)
	}
	inspected, err := r.api.ImageInspect(ctx, tag)
	if err != nil || inspected.ID != id {
		t.Fatalf("built %s, tag is %s (%v)", id, inspected.ID, err)
	}
	if inspected.Config.Labels["built-by"] != "test" || inspected.Config.Labels[model.LabelService] != "app" {
		t.Errorf("image labels = %v", inspected.Config.Labels)
	}
	var sawGreeting, sawStep bool
	for _, e := range rec.Events() {
		bs := e.(event.BuildStep)
		sawGreeting = sawGreeting || bs.Line == "greeting=hi"
		sawStep = sawStep || (strings.HasPrefix(bs.Step, "[base 3/3] RUN test -e") && bs.DockerfileLine == 4 && bs.Service == "app" && bs.Image == tag)
	}
	if !sawGreeting || !sawStep {
		t.Errorf("build events lack the greeting (%v) or the step (%v): %v", sawGreeting, sawStep, rec.Events())
	}

	// An inline Dockerfile, with a failing step: the error names it.
	svc.Build = &model.Build{Context: dir, Inline: "FROM " + img + "\nRUN echo about to fail " + p.Name + "\nRUN echo doomed; exit 3\n"}
	_, err = r.Build(ctx, p, &svc, engine.BuildOptions{}, event.Discard)
	var be *BuildError
	if !errors.As(err, &be) || be.Line != 3 || be.Command != "RUN echo doomed; exit 3" || !strings.Contains(err.Error(), "dockerfile_inline:3 (RUN echo doomed; exit 3)") ||
		!strings.Contains(err.Error(), "exit code: 3") || !strings.Contains(err.Error(), "doomed") {
		t.Errorf("build error = %v", err)
	}

	// A base image that is neither here nor pullable: said as pull says it.
	svc.Build = &model.Build{Context: dir, Inline: "FROM devstack-nonexistent/base:1\nRUN true\n"}
	_, err = r.Build(ctx, p, &svc, engine.BuildOptions{}, event.Discard)
	if err == nil || !strings.Contains(err.Error(), "its base image devstack-nonexistent/base:1 is not here and could not be pulled: ") {
		t.Errorf("missing base image: %v", err)
	}

	svc.Build = &model.Build{Context: filepath.Join(dir, "nope")}
	if _, err := r.Build(ctx, p, &svc, engine.BuildOptions{}, event.Discard); err == nil ||
		!strings.Contains(err.Error(), `"app"`) || !strings.Contains(err.Error(), filepath.Join(dir, "nope")) {
		t.Errorf("missing context: %v", err)
	}
}

// TestAttachStartAndLogs runs one-off containers the way `run` does,
// with and without a TTY, and reads back long and unfinished lines.
func TestAttachStartAndLogs(t *testing.T) {
	t.Parallel()
	r, img := newTestRuntime(t)
	ctx := testCtx(t, 60*time.Second)
	p := newProject(t)
	script := `head -c 40000 /dev/zero | tr '\0' a; echo; echo to-stderr >&2; printf unfinished; exit 5`
	long := strings.Repeat("a", 40000)
	for _, tty := range []bool{false, true} {
		svc := model.Service{Name: "job", Image: img}
		cmd := script
		if !tty {
			cmd = "cat; " + script // a terminal's input never ends: only without one
		}
		id, err := r.CreateContainer(ctx, p, &svc, 1, engine.CreateOptions{OneOff: true, Command: []string{"sh", "-c", cmd}, Tty: &tty, Stdin: !tty})
		if err != nil {
			t.Fatal(err)
		}
		var out, errOut bytes.Buffer
		o := engine.ExecOptions{Stdout: &out, Stderr: &errOut}
		if !tty {
			o.Stdin = strings.NewReader("from stdin\n")
		}
		code, err := r.AttachStart(ctx, id, o)
		if err != nil || code != 5 {
			t.Fatalf("tty %v: exit %d, %v", tty, code, err)
		}
		if !strings.Contains(out.String(), long) || !strings.HasSuffix(out.String(), "unfinished") {
			t.Errorf("tty %v: attached output is %d bytes", tty, out.Len())
		}
		var lines []logLine
		if err := r.Logs(ctx, id, engine.LogOptions{Follow: true}, collect(&lines)); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, l := range lines {
			if l.t.IsZero() {
				t.Errorf("tty %v: no timestamp on %q", tty, l.line)
			}
			if tty || l.stream == "stdout" {
				got = append(got, l.line)
			}
		}
		want := []string{"from stdin", long, "unfinished"}
		if tty {
			want = []string{long, "to-stderr", "unfinished"}
		}
		if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
			t.Errorf("tty %v: %d lines, lengths %v", tty, len(got), lens(got))
		}
	}
}

func lens(ss []string) []int {
	var out []int
	for _, s := range ss {
		out = append(out, len(s))
	}
	return out
}

// API 1.41 makes a second network of the same name when asked twice at
// once; parallel `up`s must still end with one. Each goroutine has its
// own Runtime, as separate processes would.
func TestConcurrentNetworkCreatesMakeOne(t *testing.T) {
	t.Parallel()
	r, _ := newTestRuntime(t)
	ctx := testCtx(t, 30*time.Second)
	p := newProject(t)
	p.Networks["default"] = model.Network{Name: p.Name + "_default"}
	errs := make(chan error, 4)
	for range 4 {
		other, err := New(ctx, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close()
		go func() { errs <- other.CreateNetwork(ctx, p, "default") }()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	nets, err := r.api.NetworkList(ctx, client.NetworkListOptions{Filters: projectFilter(p.Name)})
	if err != nil {
		t.Fatal(err)
	}
	if len(nets.Items) != 1 {
		t.Errorf("%d networks named %s", len(nets.Items), p.Name+"_default")
	}
}

// The legacy builder's intermediate containers inherit the project label
// from the image being built (build labels are LABEL steps): they are no
// part of the stack, neither in the event stream nor in Observe.
func TestBuildContainersAreNoPartOfTheStack(t *testing.T) {
	t.Parallel()
	r, img := newTestRuntime(t)
	r.builderOnce.Do(func() { r.legacyWhy = "this test is about the legacy builder's containers" })
	ctx := testCtx(t, 90*time.Second)
	p := newProject(t)
	evctx, stop := context.WithCancel(ctx)
	defer stop()
	evs, errs := r.Events(evctx, p.Name)
	tag := "devstack-test/" + p.Name + ":1"
	t.Cleanup(func() {
		_, _ = r.api.ImageRemove(context.Background(), tag, client.ImageRemoveOptions{Force: true, PruneChildren: true})
	})
	svc := model.Service{Name: "app", Image: tag, Command: idle, Build: &model.Build{Inline: "FROM " + img + "\nRUN true\n", Context: t.TempDir()}}
	rec := &event.Recorder{}
	if _, err := r.Build(ctx, p, &svc, engine.BuildOptions{}, rec); err != nil {
		t.Fatal(err)
	}
	intermediate := false
	for _, e := range rec.Events() {
		if b, ok := e.(event.BuildStep); ok {
			intermediate = intermediate || strings.Contains(b.Line, "Running in")
		}
	}
	if !intermediate {
		t.Fatal("the build ran no intermediate container: the test proves nothing")
	}
	id, err := r.CreateContainer(ctx, p, &svc, 1, engine.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.StartContainer(ctx, id); err != nil {
		t.Fatal(err)
	}
	// Events come in order: every build container's came before this start.
	for {
		select {
		case ev := <-evs:
			if ev.ID != id {
				t.Fatalf("an event of a container that is not the stack's: %+v", ev)
			}
			if ev.Action != "start" {
				continue
			}
			obs, err := r.Observe(ctx, p)
			if err != nil || len(obs.Containers) != 1 || obs.Containers[0].ID != id {
				t.Fatalf("observed %+v %v", obs.Containers, err)
			}
			return
		case err := <-errs:
			t.Fatalf("event stream: %v", err)
		case <-ctx.Done():
			t.Fatal("no start event before the deadline")
		}
	}
}
