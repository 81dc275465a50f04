package render

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"devstack/engine/event"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// stream is one of each event type, as `up` publishes them.
func stream() []event.Event {
	t := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	return []event.Event{
		event.Progress{Time: t, Kind: event.KindNetwork, Name: "demo_default", Action: event.Creating},
		event.Progress{Time: t, Kind: event.KindNetwork, Name: "demo_default", Action: event.Created, Duration: 0.05},
		event.BuildStep{Time: t, Service: "api", Image: "demo-api", Step: "Step 1/2 : FROM scratch", Line: "Step 1/2 : FROM scratch"},
		event.BuildStep{Time: t, Service: "api", Image: "demo-api", Step: "Step 1/2 : FROM scratch", Line: " ---> Using cache"},
		event.BuildStep{Time: t, Service: "web", Image: "demo-web", Step: "[1/2] FROM docker.io/library/busybox", Vertex: "sha256:a", Status: event.StepCached},
		event.BuildStep{Time: t, Service: "web", Image: "demo-web", Step: "[2/2] RUN make", Vertex: "sha256:b", Status: event.StepStarted},
		event.BuildStep{Time: t, Service: "web", Image: "demo-web", Step: "[2/2] RUN make", Vertex: "sha256:b", Line: "make: *** no rule"},
		event.BuildStep{Time: t, Service: "web", Image: "demo-web", Step: "[2/2] RUN make", Vertex: "sha256:b", Status: event.StepFailed, Duration: 1.5,
			Error: "exit code: 2", Tail: []string{"make: *** no rule"}, Dockerfile: "web/Dockerfile", DockerfileLine: 2},
		event.BuildStep{Time: t, Service: "worker", Image: "demo-worker", Step: "nothing changed since image 3f2a9c1b7d04 was built", Status: event.StepUpToDate},
		event.Progress{Time: t, Kind: event.KindContainer, Name: "demo-db-1", Service: "db", Action: event.Healthy, Duration: 1.25},
		event.Progress{Time: t, Kind: event.KindContainer, Name: "demo-api-1", Service: "api", Action: event.Failed, Error: "port is already allocated"},
		event.Log{Time: t, Service: "api", Container: "demo-api-1", Replica: 1, Stream: "stdout", Line: "listening on :80"},
		event.State{Time: t, Service: "db", Container: "demo-db-1", ID: "abc", Replica: 1, State: "running", Health: "healthy", Ports: []string{"127.0.0.1:5432->5432/tcp"}},
		event.Stats{Time: t, Service: "db", Container: "demo-db-1", CPUPercent: 1.5, MemBytes: 1 << 20, MemLimit: 1 << 30},
		event.Sync{Time: t, Service: "api", Containers: []string{"demo-api-1"}, Action: "sync", Files: 2, Bytes: 2048, LatencyMS: 12.5, Paths: []string{"src/a.go"}},
		event.Warning{Time: t, Service: "api", Message: "devices: not supported"},
		event.Connection{Time: t, Host: "unix:///var/run/docker.sock", Connected: false, Error: "connection refused"},
		event.Scratch{Time: t, Project: "demo", Phase: "done", Status: "fail", Findings: []event.Finding{{Category: "host-env", Service: "api", Evidence: "TOKEN", Hint: "put it in .env"}}},
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("..", "..", "..", "testdata", "render", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s differs from the output:\n%s", path, got)
	}
}

// The JSON stream is an interface scripts rely on: it is checked byte for
// byte, so a change to it is a visible decision.
func TestJSONStreamGolden(t *testing.T) {
	var out bytes.Buffer
	r := NewJSON(&out)
	for _, e := range stream() {
		r.Publish(e)
	}
	golden(t, "events.jsonl", out.Bytes())
}

func TestPlainGolden(t *testing.T) {
	var out, errs bytes.Buffer
	r := NewPlain(&out, &errs, false)
	for _, e := range stream() {
		r.Publish(e)
	}
	golden(t, "events.plain", append(append(errs.Bytes(), "--- stdout ---\n"...), out.Bytes()...))
}

func TestQuietShowsOnlyProblems(t *testing.T) {
	var errs bytes.Buffer
	r := NewQuiet(&errs)
	for _, e := range stream() {
		r.Publish(e)
	}
	want := "Container demo-api-1  Failed: port is already allocated\nwarning: devices: not supported\n"
	if errs.String() != want {
		t.Fatalf("quiet output:\n%s\nwant:\n%s", errs.String(), want)
	}
}
