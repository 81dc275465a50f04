package docker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"

	"devstack/engine/model"
)

func TestStatsSampleLikeDockerStats(t *testing.T) {
	s := &container.StatsResponse{}
	s.CPUStats.CPUUsage.TotalUsage = 3_000_000
	s.PreCPUStats.CPUUsage.TotalUsage = 1_000_000
	s.CPUStats.SystemUsage = 20_000_000
	s.PreCPUStats.SystemUsage = 10_000_000
	s.CPUStats.OnlineCPUs = 2
	s.MemoryStats.Usage = 100 << 20
	s.MemoryStats.Limit = 1 << 30
	s.MemoryStats.Stats = map[string]uint64{"inactive_file": 30 << 20}
	cpu, mem, limit := statsSample(s)
	if math.Abs(cpu-40) > 1e-9 { // 2/10 of the host's time, on 2 CPUs
		t.Errorf("cpu = %v, want 40", cpu)
	}
	if mem != 70<<20 || limit != 1<<30 {
		t.Errorf("mem = %d limit = %d", mem, limit)
	}
	// cgroup v1 names it total_inactive_file.
	s.MemoryStats.Stats = map[string]uint64{"total_inactive_file": 10 << 20}
	if _, mem, _ := statsSample(s); mem != 90<<20 {
		t.Errorf("v1 mem = %d", mem)
	}
	// The first sample has nothing to compare with.
	s.PreCPUStats = container.CPUStats{}
	if cpu, _, _ := statsSample(s); cpu != 0 {
		t.Errorf("first sample cpu = %v", cpu)
	}
}

func TestContainerEventMapping(t *testing.T) {
	attrs := map[string]string{"name": "demo-api-2", model.LabelService: "api", model.LabelNumber: "2", model.LabelOneOff: "false", "exitCode": "3"}
	ev, ok := containerEvent(events.Message{Action: "health_status: healthy", Actor: events.Actor{ID: "abc", Attributes: attrs}, TimeNano: 5})
	if !ok || ev.Action != "health_status" || ev.Health != "healthy" || ev.Service != "api" || ev.Number != 2 || ev.Name != "demo-api-2" || ev.Time.UnixNano() != 5 {
		t.Errorf("health event = %+v", ev)
	}
	ev, ok = containerEvent(events.Message{Action: "die", Actor: events.Actor{ID: "abc", Attributes: attrs}})
	if !ok || ev.ExitCode != 3 {
		t.Errorf("die event = %+v", ev)
	}
	if _, ok := containerEvent(events.Message{Action: "exec_start: sh", Actor: events.Actor{Attributes: attrs}}); ok {
		t.Error("exec events are not state changes")
	}
}

func TestPullErrorsSayWhy(t *testing.T) {
	for msg, want := range map[string]string{
		`Get "https://registry-1.docker.io/v2/": dial tcp: lookup registry-1.docker.io: no such host`: "no registry could be reached",
		`Get "http://localhost:5999/v2/": dial tcp 127.0.0.1:5999: connect: connection refused`:       "no registry could be reached",
		`manifest for x:1 not found: manifest unknown`:                                                "does not have it",
		`pull access denied for x, repository does not exist or may require 'docker login'`:           "does not have it",
	} {
		err := pullError("x:1", errors.New(msg))
		if !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), msg) || !strings.Contains(err.Error(), "x:1") {
			t.Errorf("%s:\n  %v", msg, err)
		}
	}
}

func TestResolveHost(t *testing.T) {
	cfg := t.TempDir()
	t.Setenv("DOCKER_CONFIG", cfg)
	t.Setenv("DOCKER_HOST", "")
	t.Setenv("DOCKER_CONTEXT", "")
	writeContext := func(name, host string) {
		sum := sha256.Sum256([]byte(name))
		dir := filepath.Join(cfg, "contexts", "meta", hex.EncodeToString(sum[:]))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		meta := `{"Name":"` + name + `","Endpoints":{"docker":{"Host":"` + host + `","SkipTLSVerify":false}}}`
		if err := os.WriteFile(filepath.Join(dir, "meta.json"), []byte(meta), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeContext("remote", "ssh://me@build.example")
	writeContext("other", "tcp://10.0.0.1:2376")
	// The CLI keeps a context's TLS files under the same hash.
	otherSum := sha256.Sum256([]byte("other"))
	tlsDir := filepath.Join(cfg, "contexts", "tls", hex.EncodeToString(otherSum[:]), "docker")
	if err := os.MkdirAll(tlsDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tlsDir, "ca.pem"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if ep, err := resolveHost(Options{Context: "other"}); err != nil || ep.tls == nil || ep.tls[0] != filepath.Join(tlsDir, "ca.pem") || ep.tls[1] != "" {
		t.Errorf("context TLS files = %v (%v)", ep.tls, err)
	}
	if ep, _ := resolveHost(Options{Context: "remote"}); ep.tls != nil {
		t.Errorf("remote has no TLS files: %v", ep.tls)
	}

	expect := func(o Options, wantHost, wantWhere string) {
		t.Helper()
		ep, err := resolveHost(o)
		if err != nil || ep.host != wantHost || !strings.Contains(ep.where, wantWhere) {
			t.Errorf("%+v: %q (%s) %v, want %q (%s)", o, ep.host, ep.where, err, wantHost, wantWhere)
		}
	}
	expect(Options{}, defaultSockets()[0].host, "default socket")
	if err := os.WriteFile(filepath.Join(cfg, "config.json"), []byte(`{"currentContext":"remote"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	expect(Options{}, "ssh://me@build.example", `"remote"`)
	t.Setenv("DOCKER_CONTEXT", "other")
	expect(Options{}, "tcp://10.0.0.1:2376", `"other"`)
	t.Setenv("DOCKER_HOST", "unix:///tmp/d.sock")
	expect(Options{}, "unix:///tmp/d.sock", "DOCKER_HOST")
	expect(Options{Context: "remote"}, "ssh://me@build.example", "--context")
	expect(Options{Context: "default"}, "unix:///tmp/d.sock", "DOCKER_HOST")
	expect(Options{Host: "tcp://1.2.3.4:2375"}, "tcp://1.2.3.4:2375", "--host")

	if _, err := resolveHost(Options{Context: "ghost"}); err == nil || !strings.Contains(err.Error(), "ghost") || !strings.Contains(err.Error(), "docker context ls") {
		t.Errorf("unknown context: %v", err)
	}
	if _, err := resolveHost(Options{Host: "x", Context: "y"}); err == nil {
		t.Error("--host with --context must be refused")
	}
}

func TestBaseImage(t *testing.T) {
	for step, want := range map[string]string{
		"Step 1/5 : FROM node:22-alpine":       "node:22-alpine",
		"Step 1/9 : from golang:1.25 AS build": "golang:1.25",
		"Step 2/5 : RUN apk add curl":          "",
		"Step 1/1 : FROM":                      "",
		"":                                     "",
	} {
		got, ok := baseImage(step)
		if got != want || ok != (want != "") {
			t.Errorf("%q: %q %v", step, got, ok)
		}
	}
}

func TestStatusWords(t *testing.T) {
	for status, want := range map[string]string{
		"Up 3 minutes (healthy)":            "healthy/0",
		"Up 1 second (health: starting)":    "starting/0",
		"Up 2 hours (unhealthy)":            "unhealthy/0",
		"Up 2 hours":                        "/0",
		"Up 2 hours (Paused)":               "/0",
		"Exited (137) 5 seconds ago":        "/137",
		"Restarting (1) 2 seconds ago":      "/1",
		"Created":                           "/0",
		"Exited (0) Less than a second ago": "/0",
	} {
		if got := fmt.Sprintf("%s/%d", healthFromStatus(status), exitFromStatus(status)); got != want {
			t.Errorf("%q: %s, want %s", status, got, want)
		}
	}
	if got := summaryName([]string{"/web/db-alias", "/proj-db-1"}); got != "proj-db-1" {
		t.Errorf("summaryName: %q", got)
	}
}

func TestCleartext(t *testing.T) {
	for host, want := range map[string]bool{
		"tcp://10.0.0.5:2375":          true,
		"tcp://build.example.com:2375": true,
		"tcp://127.0.0.1:2375":         false,
		"tcp://localhost:2375":         false,
		"unix:///var/run/docker.sock":  false,
		"ssh://me@box":                 false,
	} {
		if got := cleartext(host, false); got != want {
			t.Errorf("%s: %v, want %v", host, got, want)
		}
		if cleartext(host, true) {
			t.Errorf("%s with TLS taken for clear text", host)
		}
	}
}

// A context whose socket is not there (colima stopped, Docker Desktop
// quit) is named with the path looked at, before any connection.
func TestMissingSocketNamesContextAndPath(t *testing.T) {
	cfg := t.TempDir()
	t.Setenv("DOCKER_CONFIG", cfg)
	t.Setenv("DOCKER_HOST", "")
	t.Setenv("DOCKER_CONTEXT", "")
	sock := filepath.Join(cfg, "colima", "default", "docker.sock")
	sum := sha256.Sum256([]byte("colima"))
	dir := filepath.Join(cfg, "contexts", "meta", hex.EncodeToString(sum[:]))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	meta := `{"Name":"colima","Endpoints":{"docker":{"Host":"unix://` + sock + `"}}}`
	if err := os.WriteFile(filepath.Join(dir, "meta.json"), []byte(meta), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cfg, "config.json"), []byte(`{"currentContext":"colima"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := New(context.Background(), Options{})
	if err == nil {
		t.Fatal("no error for a socket that is not there")
	}
	for _, want := range []string{`docker context "colima"`, sock, "no Docker engine socket", "--context"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if strings.Count(err.Error(), "\n") > 0 {
		t.Errorf("not one line: %q", err)
	}
}

// With no context, the first default socket that is there wins; when
// none is, every path looked at is named.
func TestLocalEngineLooksAtEveryDefaultSocket(t *testing.T) {
	cands := []candidate{
		{host: "unix:///var/run/docker.sock", what: "Docker Desktop"},
		{host: "unix:///Users/me/.docker/run/docker.sock", what: "Docker Desktop"},
		{host: "unix:///Users/me/.colima/default/docker.sock", what: "colima"},
	}
	only := func(host string) func(string) bool { return func(h string) bool { return h == host } }
	ep := localEngine(cands, only(cands[2].host))
	if ep.host != cands[2].host || !strings.Contains(ep.where, "colima") {
		t.Errorf("colima's socket alone: %+v", ep)
	}
	ep = localEngine(cands, only(cands[1].host))
	if ep.host != cands[1].host || !strings.Contains(ep.where, "Docker Desktop") {
		t.Errorf("Docker Desktop's socket alone: %+v", ep)
	}
	ep = localEngine(cands, only(""))
	if ep.host != cands[0].host {
		t.Errorf("none there: %+v", ep)
	}
	for _, c := range cands {
		if !strings.Contains(ep.where, strings.TrimPrefix(c.host, "unix://")) {
			t.Errorf("none there: %q does not name %s", ep.where, c.host)
		}
	}
	err := missingSocket(endpoint{host: "unix:///nonexistent/devstack-test.sock", where: ep.where})
	if err == nil || !strings.Contains(err.Error(), "/Users/me/.colima/default/docker.sock (colima)") {
		t.Errorf("missing socket: %v", err)
	}
	if err := missingSocket(endpoint{host: "npipe:////./pipe/docker_engine"}); err != nil {
		t.Errorf("a named pipe is not checked as a file: %v", err)
	}
}
