package engine_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
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

// stack is one compose project brought up on the real engine for a test.
type stack struct {
	t   *testing.T
	dir string
	p   *model.Project
	rt  *docker.Runtime
	e   *engine.Engine
	rec *event.Recorder
}

// newStack writes compose (with $IMAGE replaced by the local test image)
// and the extra files into a temp dir and loads it under a unique name.
func newStack(t *testing.T, compose string, files map[string]string) *stack {
	t.Helper()
	img := enginetest.Busybox(t)
	dir := t.TempDir()
	compose = strings.ReplaceAll(compose, "$IMAGE", img)
	if err := os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(compose), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	name := "dsit" + hex.EncodeToString(b)
	t.Cleanup(func() { enginetest.RemoveProject(name) })
	rt, err := docker.New(context.Background(), docker.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })
	s := &stack{t: t, dir: dir, rt: rt, rec: &event.Recorder{}}
	s.e = engine.New(rt, s.rec)
	s.load(name, nil)
	return s
}

func (s *stack) load(name string, profiles []string) {
	s.t.Helper()
	p, err := load.Load(context.Background(), load.Options{WorkDir: s.dir, ProjectName: name, Profiles: profiles})
	if err != nil {
		s.t.Fatal(err)
	}
	s.p = p
}

func (s *stack) up(o engine.UpOptions) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := s.e.Up(ctx, s.p, o); err != nil {
		s.t.Fatalf("up: %v", err)
	}
}

func (s *stack) down(o engine.DownOptions) {
	s.t.Helper()
	if err := s.e.Down(context.Background(), s.p, o); err != nil {
		s.t.Fatalf("down: %v", err)
	}
}

func (s *stack) containers(all bool) map[string]model.Container {
	s.t.Helper()
	cs, err := s.e.Containers(context.Background(), s.p, nil, all)
	if err != nil {
		s.t.Fatal(err)
	}
	out := map[string]model.Container{}
	for _, c := range cs {
		out[strings.TrimPrefix(c.Name, s.p.Name+"-")] = c
	}
	return out
}

// exec runs cmd in the first container of service and returns its output.
func (s *stack) exec(service string, cmd ...string) (string, int) {
	s.t.Helper()
	c, ok := s.containers(false)[service+"-1"]
	if !ok {
		s.t.Fatalf("no running container for %s", service)
	}
	var out bytes.Buffer
	code, err := s.rt.Exec(context.Background(), c.ID, engine.ExecOptions{Cmd: cmd, Stdout: &out, Stderr: &out})
	if err != nil {
		s.t.Fatalf("exec %v: %v", cmd, err)
	}
	return out.String(), code
}

const idle = `["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]`

func TestNetworksIsolateServices(t *testing.T) {
	s := newStack(t, `
services:
  front:
    image: $IMAGE
    command: `+idle+`
    networks: [public]
  back:
    image: $IMAGE
    command: `+idle+`
    networks: [private]
  bridge:
    image: $IMAGE
    command: `+idle+`
    networks:
      public: {}
      private:
        aliases: [db-alias]
networks:
  public: {}
  private:
    internal: true
`, nil)
	s.up(engine.UpOptions{Wait: true})
	if out, code := s.exec("bridge", "nslookup", "back"); code != 0 {
		t.Fatalf("bridge cannot resolve back (same network): %s", out)
	}
	if out, code := s.exec("front", "nslookup", "db-alias"); code == 0 {
		t.Fatalf("front resolved back's network alias across networks: %s", out)
	}
	if out, code := s.exec("front", "nslookup", "bridge"); code != 0 {
		t.Fatalf("front cannot resolve bridge on their shared network: %s", out)
	}
}

func TestVolumesPersistAcrossDownAndGoWithDownV(t *testing.T) {
	s := newStack(t, `
services:
  db:
    image: $IMAGE
    command: `+idle+`
    volumes:
      - data:/data
      - type: tmpfs
        target: /scratch
volumes:
  data: {}
`, nil)
	s.up(engine.UpOptions{Wait: true})
	if out, code := s.exec("db", "sh", "-c", "echo kept > /data/file && grep -q ' /scratch tmpfs' /proc/mounts"); code != 0 {
		t.Fatalf("write or tmpfs check failed: %s", out)
	}
	ctx := context.Background()
	s.down(engine.DownOptions{})
	s.up(engine.UpOptions{Wait: true})
	if out, _ := s.exec("db", "cat", "/data/file"); strings.TrimSpace(out) != "kept" {
		t.Fatalf("volume content lost across down/up: %q", out)
	}
	s.down(engine.DownOptions{Volumes: true})
	obs, err := s.rt.Observe(ctx, s.p)
	if err != nil {
		t.Fatal(err)
	}
	if len(obs.Volumes) != 0 || len(obs.Containers) != 0 || len(obs.Networks) != 0 {
		t.Fatalf("down -v left %+v", obs)
	}
}

func TestSecretsAndConfigsAreReadable(t *testing.T) {
	s := newStack(t, `
services:
  app:
    image: $IMAGE
    command: `+idle+`
    secrets: [token]
    configs:
      - source: settings
        target: /etc/app/settings.ini
        mode: 0440
secrets:
  token:
    file: ./token.txt
configs:
  settings:
    file: ./settings.ini
`, map[string]string{"token.txt": "s3cret\n", "settings.ini": "[app]\nx=1\n"})
	s.up(engine.UpOptions{Wait: true})
	if out, _ := s.exec("app", "cat", "/run/secrets/token"); out != "s3cret\n" {
		t.Fatalf("secret = %q", out)
	}
	if out, _ := s.exec("app", "cat", "/etc/app/settings.ini"); out != "[app]\nx=1\n" {
		t.Fatalf("config = %q", out)
	}
	if out, _ := s.exec("app", "stat", "-c", "%a", "/etc/app/settings.ini"); strings.TrimSpace(out) != "440" {
		t.Fatalf("config mode = %q, want 440", out)
	}
}

func TestPortsReplicasAndScaleDown(t *testing.T) {
	s := newStack(t, `
services:
  dns:
    image: $IMAGE
    command: `+idle+`
    ports:
      - "127.0.0.1::5353/udp"
      - "127.0.0.1::8080"
  worker:
    image: $IMAGE
    command: `+idle+`
    deploy:
      replicas: 3
`, nil)
	s.up(engine.UpOptions{Wait: true})
	cs := s.containers(false)
	var udp, tcp bool
	for _, p := range cs["dns-1"].Ports {
		if p.Protocol == "udp" && p.Target == 5353 && p.HostPort != 0 && p.HostIP == "127.0.0.1" {
			udp = true
		}
		if p.Protocol == "tcp" && p.Target == 8080 && p.HostPort != 0 {
			tcp = true
		}
	}
	if !udp || !tcp {
		t.Fatalf("published ports = %+v", cs["dns-1"].Ports)
	}
	for _, n := range []string{"worker-1", "worker-2", "worker-3"} {
		if _, ok := cs[n]; !ok {
			t.Fatalf("missing replica %s in %v", n, keys(cs))
		}
	}
	keep := cs["worker-1"].ID
	svc, _ := s.p.Service("worker")
	svc.Replicas = 1
	s.up(engine.UpOptions{Wait: true})
	cs = s.containers(true)
	if _, ok := cs["worker-2"]; ok {
		t.Fatalf("scale down left worker-2: %v", keys(cs))
	}
	if cs["worker-1"].ID != keep {
		t.Fatal("scale down recreated worker-1")
	}
}

func keys(m map[string]model.Container) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestDependsOnConditionsGateStarts(t *testing.T) {
	// migrate must finish before app starts; db must be healthy first;
	// the order is proven by files on a shared volume.
	s := newStack(t, `
services:
  db:
    image: $IMAGE
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 1; touch /shared/db-ready; while true; do sleep 1; done"]
    volumes: [shared:/shared]
    healthcheck:
      test: ["CMD", "test", "-f", "/shared/db-ready"]
      interval: 1s
      start_interval: 200ms
      start_period: 10s
      retries: 20
  migrate:
    image: $IMAGE
    command: ["sh", "-c", "test -f /shared/db-ready && touch /shared/migrated"]
    volumes: [shared:/shared]
    depends_on:
      db: {condition: service_healthy}
  app:
    image: $IMAGE
    command: ["sh", "-c", "trap 'exit 0' TERM; test -f /shared/migrated || exit 7; while true; do sleep 1; done"]
    volumes: [shared:/shared]
    depends_on:
      migrate: {condition: service_completed_successfully}
      db: {condition: service_started}
volumes:
  shared: {}
`, nil)
	s.up(engine.UpOptions{Wait: true})
	cs := s.containers(true)
	if c := cs["migrate-1"]; c.State != model.StateExited || c.ExitCode != 0 {
		t.Fatalf("migrate = %s (%d), want exited 0", c.State, c.ExitCode)
	}
	if c := cs["app-1"]; c.State != model.StateRunning {
		t.Fatalf("app = %s (%d): it started before migrate completed", c.State, c.ExitCode)
	}
	// The healthy event, not a poll, released migrate: it was published.
	if _, ok := s.rec.Wait(time.Now(), func(e event.Event) bool {
		p, ok := e.(event.Progress)
		return ok && p.Action == event.Healthy && strings.HasSuffix(p.Name, "-db-1")
	}); !ok {
		t.Fatal("no healthy progress event for db")
	}
}

func TestWaitFailsNamingTheUnhealthyServiceWithItsLogs(t *testing.T) {
	s := newStack(t, `
services:
  sick:
    image: $IMAGE
    command: ["sh", "-c", "echo cannot open database; trap 'exit 0' TERM; while true; do sleep 1; done"]
    healthcheck:
      test: ["CMD", "false"]
      interval: 200ms
      retries: 2
`, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := s.e.Up(ctx, s.p, engine.UpOptions{Wait: true})
	if err == nil {
		t.Fatal("up --wait succeeded on an unhealthy service")
	}
	for _, want := range []string{`service "sick" is unhealthy`, "cannot open database"} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("error lacks %q:\n%v", want, err)
		}
	}
	// A failed up leaves a state a down fully handles.
	s.down(engine.DownOptions{Volumes: true})
}

func TestRestartPolicyRestartsAFailingContainer(t *testing.T) {
	s := newStack(t, `
services:
  flaky:
    image: $IMAGE
    command: ["sh", "-c", "sleep 0.2; exit 1"]
    restart: on-failure
`, nil)
	s.up(engine.UpOptions{})
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if c := s.containers(true)["flaky-1"]; c.Restarts >= 1 {
			return
		}
		time.Sleep(100 * time.Millisecond) // polling with a deadline
	}
	t.Fatal("on-failure container never restarted")
}

func TestProfilesSelectServices(t *testing.T) {
	s := newStack(t, `
services:
  app:
    image: $IMAGE
    command: `+idle+`
  debug:
    image: $IMAGE
    command: `+idle+`
    profiles: [debug]
`, nil)
	s.up(engine.UpOptions{Wait: true})
	if _, ok := s.containers(true)["debug-1"]; ok {
		t.Fatal("service of an inactive profile was started")
	}
	s.load(s.p.Name, []string{"debug"})
	s.up(engine.UpOptions{Wait: true})
	if _, ok := s.containers(false)["debug-1"]; !ok {
		t.Fatal("service of an active profile was not started")
	}
}

func TestSecondUpKeepsUnchangedContainersAndRecreatesChanged(t *testing.T) {
	s := newStack(t, `
services:
  a:
    image: $IMAGE
    command: `+idle+`
  b:
    image: $IMAGE
    command: `+idle+`
    environment:
      MODE: one
`, nil)
	s.up(engine.UpOptions{Wait: true})
	before := s.containers(false)
	b, _ := s.p.Service("b")
	two := "two"
	b.Environment["MODE"] = &two
	b.ConfigHash = model.Hash(*b)
	s.up(engine.UpOptions{Wait: true})
	after := s.containers(false)
	if after["a-1"].ID != before["a-1"].ID {
		t.Fatal("unchanged service a was recreated")
	}
	if after["b-1"].ID == before["b-1"].ID {
		t.Fatal("changed service b was not recreated")
	}
	if out, _ := s.exec("b", "sh", "-c", "echo $MODE"); strings.TrimSpace(out) != "two" {
		t.Fatalf("b runs the old config: MODE=%q", out)
	}
}

func TestBusyHostPortIsNamed(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	s := newStack(t, `
services:
  web:
    image: $IMAGE
    command: `+idle+`
    ports:
      - "127.0.0.1:`+strconv.Itoa(port)+`:80"
`, nil)
	err = s.e.Up(context.Background(), s.p, engine.UpOptions{})
	if err == nil || !strings.Contains(err.Error(), `service "web"`) || !strings.Contains(err.Error(), strconv.Itoa(port)) || !strings.Contains(err.Error(), "already in use") {
		t.Fatalf("want an error naming web and port %d, got %v", port, err)
	}
}

func TestBuildOnceHonouringDockerignoreAndNamingTheFailingStep(t *testing.T) {
	s := newStack(t, `
services:
  api:
    build: ./app
    command: `+idle+`
  worker:
    build: ./app
    command: `+idle+`
`, map[string]string{
		"app/Dockerfile":    "FROM $IMAGE\nCOPY . /app\n",
		"app/keep.txt":      "kept\n",
		"app/secret.txt":    "never sent\n",
		"app/.dockerignore": "secret.txt\n",
	})
	// The Dockerfile names the test image literally.
	df := filepath.Join(s.dir, "app", "Dockerfile")
	if err := os.WriteFile(df, []byte("FROM "+enginetest.BusyboxImage+"\nCOPY . /app\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, svc := range s.p.Services {
			_ = exec.Command("docker", "rmi", "-f", svc.Image).Run()
		}
	})
	s.up(engine.UpOptions{Wait: true})
	builds := 0
	for _, e := range s.rec.Events() {
		if p, ok := e.(event.Progress); ok && p.Action == event.Built {
			builds++
		}
	}
	if builds != 1 {
		t.Fatalf("shared build ran %d times, want once", builds)
	}
	if out, _ := s.exec("worker", "ls", "/app"); strings.Contains(out, "secret.txt") || !strings.Contains(out, "keep.txt") {
		t.Fatalf(".dockerignore not honoured: /app has %q", out)
	}
	var steps int
	for _, e := range s.rec.Events() {
		if b, ok := e.(event.BuildStep); ok && strings.HasSuffix(b.Step, " COPY . /app") {
			steps++
		}
	}
	if steps == 0 {
		t.Fatal("no BuildStep event carried the step being run")
	}

	if err := os.WriteFile(df, []byte("FROM "+enginetest.BusyboxImage+"\nRUN echo about to fail && false\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := s.e.Build(context.Background(), s.p, []string{"api"}, false)
	if err == nil || !strings.Contains(err.Error(), "(RUN echo about to fail && false)") || !strings.Contains(err.Error(), "about to fail") {
		t.Fatalf("want the failing step and its output, got %v", err)
	}
}

// TestBriefObservationAgreesWithInspect: the snapshot read from the
// engine's lists (and inspects of the running containers) says what
// inspecting every container says (state,
// health, exit code, ports, volumes, labels), and a second up on the
// healthy stack, --wait included, has nothing to do and waits for nothing.
func TestBriefObservationAgreesWithInspect(t *testing.T) {
	s := newStack(t, `
services:
  web:
    image: $IMAGE
    command: `+idle+`
    ports: ["127.0.0.1::80", "8080"]
    volumes: [data:/data, /anon]
    healthcheck:
      test: ["CMD", "true"]
      interval: 1s
  sick:
    image: $IMAGE
    command: `+idle+`
    healthcheck:
      test: ["CMD", "false"]
      interval: 1s
      retries: 1
  job:
    image: $IMAGE
    command: ["sh", "-c", "exit 3"]
  server:
    image: $IMAGE
    command: `+idle+`
    restart: unless-stopped
volumes:
  data: {}
`, nil)
	s.up(engine.UpOptions{})
	ctx := context.Background()
	var full, brief model.Observed
	deadline := time.Now().Add(60 * time.Second)
	for {
		var err error
		if full, err = s.rt.Observe(ctx, s.p); err != nil {
			t.Fatal(err)
		}
		if brief, err = s.rt.ObserveBrief(ctx, s.p); err != nil {
			t.Fatal(err)
		}
		settled := len(full.Containers) == 4
		for _, c := range full.Containers {
			if c.Health == model.HealthStarting || (c.Service == "job" && c.State != model.StateExited) {
				settled = false
			}
		}
		if settled || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond) // polling the engine, with a deadline
	}
	if len(brief.Containers) != len(full.Containers) {
		t.Fatalf("brief: %d containers, full: %d", len(brief.Containers), len(full.Containers))
	}
	for i, f := range full.Containers {
		b := brief.Containers[i]
		// Running containers are inspected (the list lags a death);
		// the exited job is not.
		inspected := b.Status == "" && !b.StartedAt.IsZero()
		if inspected != (f.State == model.StateRunning) {
			t.Errorf("%s: inspected %v (Status %q, StartedAt %v): only the running ones are", b.Name, inspected, b.Status, b.StartedAt)
		}
		b.Status, b.StartedAt, f.StartedAt = "", time.Time{}, time.Time{}
		b.Created, f.Created = f.Created.Truncate(time.Second), f.Created.Truncate(time.Second)
		if f.Image != b.Image {
			t.Errorf("%s: image %q (brief) vs %q", f.Name, b.Image, f.Image)
		}
		if fmt.Sprintf("%+v", b) != fmt.Sprintf("%+v", f) {
			t.Errorf("brief and full observations differ:\nbrief %+v\nfull  %+v", b, f)
		}
	}
	want := map[string]string{"web": "running/healthy/0", "sick": "running/unhealthy/0", "job": "exited//3", "server": "running//0"}
	for _, c := range brief.Containers {
		if got := fmt.Sprintf("%s/%s/%d", c.State, c.Health, c.ExitCode); got != want[c.Service] {
			t.Errorf("%s: %s, want %s", c.Name, got, want[c.Service])
		}
	}
}

// TestNoOpUpWaitsForNothing: up --wait on a stack already up and healthy
// plans nothing, so it neither starts, probes nor waits.
func TestNoOpUpWaitsForNothing(t *testing.T) {
	s := newStack(t, `
services:
  db:
    image: $IMAGE
    command: `+idle+`
    healthcheck:
      test: ["CMD", "true"]
      interval: 1s
  app:
    image: $IMAGE
    command: `+idle+`
    depends_on:
      db: {condition: service_healthy}
`, nil)
	s.up(engine.UpOptions{Wait: true})
	// The engine's own verdict, so the second up sees "healthy".
	deadline := time.Now().Add(60 * time.Second)
	for s.containers(false)["db-1"].Health != model.HealthHealthy && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond) // polling the engine, with a deadline
	}
	since := time.Now()
	s.up(engine.UpOptions{Wait: true})
	for _, e := range s.rec.Events() {
		if p, ok := e.(event.Progress); ok && p.Time.After(since) {
			t.Errorf("a no-op up did something: %+v", p)
		}
	}
}
