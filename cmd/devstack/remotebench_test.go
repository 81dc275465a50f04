package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"devstack/engine"
	"devstack/engine/docker"
	"devstack/engine/enginetest"
	"devstack/engine/event"
	"devstack/engine/load"
	"devstack/sync/syncbench"
)

// BenchmarkRemoteBindEdit times one edit under a bind mount synced into a
// volume (syncbench's one-edit: 50 edits, each until the container shows
// it), on the SSH test host's engine over SSH and, the same project the
// same way, on the same engine through its local socket, in the same run.
// Run with -benchtime=1x.
func BenchmarkRemoteBindEdit(b *testing.B) {
	h := enginetest.StartSSHHost(b)
	h.LoadImage(enginetest.Busybox(b))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	remote, err := docker.New(ctx, docker.Options{Host: h.URL})
	if err != nil {
		b.Fatal(err)
	}
	defer remote.Close()
	// The same engine through its socket: what SSH adds, and nothing else
	// (the machine's shared engine has another storage driver and load).
	local, err := docker.New(ctx, docker.Options{Host: h.Host})
	if err != nil {
		b.Fatal(err)
	}
	defer local.Close()
	results := map[string]time.Duration{}
	for _, c := range []struct {
		name string
		rt   *docker.Runtime
	}{{"remote", remote}, {"local", local}} {
		id := make([]byte, 4)
		_, _ = rand.Read(id)
		name := "dsbindbench" + hex.EncodeToString(id)
		dir := b.TempDir()
		if err := os.MkdirAll(filepath.Join(dir, "src"), 0o755); err != nil {
			b.Fatal(err)
		}
		compose := fmt.Sprintf("services:\n  app:\n    image: %s\n    command: [\"sleep\", \"3600\"]\n    init: true\n    volumes: [\"./src:/app\"]\n", enginetest.BusyboxImage)
		if err := os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(compose), 0o644); err != nil {
			b.Fatal(err)
		}
		p, err := load.Load(ctx, load.Options{WorkDir: dir, ProjectName: name})
		if err != nil {
			b.Fatal(err)
		}
		if err := syncRemoteBinds(p); err != nil { // on both engines: the same sync
			b.Fatal(err)
		}
		e := engine.New(c.rt, event.Discard)
		b.Cleanup(func() { _ = e.Down(context.Background(), p, engine.DownOptions{Volumes: true}) })
		if err := e.Up(ctx, p, engine.UpOptions{}); err != nil {
			b.Fatal(err)
		}
		sctx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- runSync(sctx, e, p, nil, "") }()
		cs, err := e.Containers(ctx, p, []string{"app"}, false)
		if err != nil || len(cs) != 1 {
			b.Fatalf("containers: %v %v", cs, err)
		}
		se := &syncEngine{rt: c.rt, e: e, p: p}
		r, err := syncbench.OneEdit(ctx, syncbench.Env{HostDir: filepath.Join(dir, "src"), ContainerID: cs[0].ID, ContainerDir: "/app", Exec: se.Exec})
		stop()
		<-done
		if err != nil {
			b.Fatalf("%s: %v", c.name, err)
		}
		results[c.name] = r.P50
		b.ReportMetric(float64(r.P50.Microseconds())/1000, c.name+"-p50-ms")
		b.Logf("%s engine: one edit p50 %v, p95 %v (%d samples)", c.name, r.P50.Round(100*time.Microsecond), r.P95.Round(100*time.Microsecond), len(r.Samples))
	}
	ratio := float64(results["remote"]) / float64(results["local"])
	b.ReportMetric(ratio, "remote/local")
	b.Logf("remote/local: %.2fx", ratio)
}
