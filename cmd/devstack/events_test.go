package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"devstack/engine/enginetest"
)

// eventsStack brings up a one-service project in a temporary directory
// and returns the arguments that name it.
func eventsStack(t testing.TB) (project string, args []string) {
	return stackOf(t, "evt", "    init: true\n    command: [\"sleep\", \"3600\"]\n")
}

// stackOf brings up a project whose one service, web, runs the test
// image with the given lines of YAML under it.
func stackOf(t testing.TB, prefix, web string) (project string, args []string) {
	image := enginetest.Busybox(t)
	project = fmt.Sprintf("%s%d", prefix, time.Now().UnixNano()%1e9)
	dir := t.TempDir()
	file := filepath.Join(dir, "compose.yaml")
	body := fmt.Sprintf("services:\n  web:\n    image: %s\n%s", image, web)
	if err := os.WriteFile(file, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { enginetest.RemoveProject(project) })
	args = []string{"-f", file, "-p", project}
	var errb strings.Builder
	if code := run(context.Background(), append(args, "up", "-d", "--wait"), strings.NewReader(""), io.Discard, &errb); code != 0 {
		t.Fatalf("up exited %d: %s", code, errb.String())
	}
	return project, args
}

// stampedLine is one line `events` wrote and when it was written.
type stampedLine struct {
	at   time.Time
	line string
}

// startEvents runs `events --json` in process and returns its lines as
// they are written, each with the time it was written.
func startEvents(t testing.TB, args []string) (<-chan stampedLine, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	lines := make(chan stampedLine, 100)
	done := make(chan struct{})
	go func() {
		defer close(done)
		run(ctx, append(args, "events", "--json"), strings.NewReader(""), pw, io.Discard)
		pw.Close()
	}()
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			lines <- stampedLine{time.Now(), sc.Text()}
		}
		close(lines)
	}()
	return lines, func() { cancel(); <-done }
}

type eventJSON struct {
	Time       time.Time         `json:"time"`
	Type       string            `json:"type"`
	Service    string            `json:"service"`
	ID         string            `json:"id"`
	Action     string            `json:"action"`
	Attributes map[string]string `json:"attributes"`
}

// nextEvent reads lines until one has the action, for at most a minute.
func nextEvent(t testing.TB, lines <-chan stampedLine, action string) (eventJSON, time.Time) {
	t.Helper()
	deadline := time.After(time.Minute)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("events ended before a %q event", action)
			}
			var ev eventJSON
			if err := json.Unmarshal([]byte(l.line), &ev); err != nil {
				t.Fatalf("events wrote a line that is not JSON: %q: %v", l.line, err)
			}
			if ev.Action == action {
				return ev, l.at
			}
		case <-deadline:
			t.Fatalf("no %q event within a minute", action)
		}
	}
}

// TestEventsJSONInComposeShape: `events --json` writes the engine's
// container events of the project, Compose's keys, as they happen.
func TestEventsJSONInComposeShape(t *testing.T) {
	project, args := eventsStack(t)
	lines, stop := startEvents(t, args)
	defer stop()
	name := project + "-web-1"
	listening(t, lines, name)
	var ev eventJSON
	if out, err := exec.Command("docker", "kill", name).CombinedOutput(); err != nil {
		t.Fatalf("docker kill: %v: %s", err, out)
	}
	ev, _ = nextEvent(t, lines, "die")
	if ev.Type != "container" || ev.Service != "web" || len(ev.ID) != 64 || ev.Attributes["name"] != name || ev.Attributes["exitCode"] != "137" {
		t.Fatalf("die event not in Compose's shape: %+v", ev)
	}
	if time.Since(ev.Time) > time.Minute || ev.Time.IsZero() {
		t.Fatalf("event time %v is not the engine's", ev.Time)
	}
	for k := range ev.Attributes {
		if strings.HasPrefix(k, "com.docker.compose.") {
			t.Errorf("attribute %s: Compose leaves its own labels out", k)
		}
	}
}

// BenchmarkEventsLatency: how long after the engine's own timestamp of
// an event `events --json` has written it. Target: ≤ 50 ms.
func BenchmarkEventsLatency(b *testing.B) {
	project, args := eventsStack(b)
	lines, stop := startEvents(b, args)
	defer stop()
	name := project + "-web-1"
	listening(b, lines, name)
	var lat []time.Duration
	b.ResetTimer()
	for range b.N {
		if out, err := exec.Command("docker", "pause", name).CombinedOutput(); err != nil {
			b.Fatalf("docker pause: %v: %s", err, out)
		}
		ev, at := nextEvent(b, lines, "pause")
		lat = append(lat, at.Sub(ev.Time))
		if out, err := exec.Command("docker", "unpause", name).CombinedOutput(); err != nil {
			b.Fatalf("docker unpause: %v: %s", err, out)
		}
		nextEvent(b, lines, "unpause")
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
}

// listening pauses and unpauses the container until `events` reports
// it: then the stream is open. It returns after the unpause is read, so
// no event of its own is left to be taken for a later one.
func listening(t testing.TB, lines <-chan stampedLine, name string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		for _, verb := range []string{"pause", "unpause"} {
			if out, err := exec.Command("docker", verb, name).CombinedOutput(); err != nil {
				t.Fatalf("docker %s: %v: %s", verb, err, out)
			}
		}
		select {
		case l := <-lines:
			if !strings.Contains(l.line, `"action":"unpause"`) {
				nextEvent(t, lines, "unpause")
			}
			return
		case <-time.After(2 * time.Second):
		}
	}
	t.Fatal("events reported nothing within a minute")
}
