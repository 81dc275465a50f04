package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// seedEvents reads the initial-sync events of up --progress json.
func seedEvents(t *testing.T, out string) []map[string]any {
	t.Helper()
	var evs []map[string]any
	for _, l := range strings.Split(out, "\n") {
		var ev map[string]any
		if json.Unmarshal([]byte(l), &ev) == nil && ev["type"] == "sync" && ev["action"] == "initial" {
			evs = append(evs, ev)
		}
	}
	return evs
}

// On a remote engine the volume that replaces a bind is filled before the
// container first starts: a command that reads its files at start finds
// this machine's, read-only bind included. A later up that starts the
// container again (a recreate) over a volume filled before sends nothing
// before the start.
func TestRemoteBindSeededBeforeStart(t *testing.T) {
	s := newRemoteStack(t, map[string]string{
		"compose.yaml": `services:
  app:
    image: $IMAGE
    command: ["sh", "-c", "echo \"start: $$(cat /app/msg.txt) $$(cat /conf/c.txt)\"; exec sleep 3600"]
    init: true
    volumes:
      - ./src:/app
      - type: bind
        source: ./conf
        target: /conf
        read_only: true
`,
		"src/msg.txt":       "hello-from-the-laptop",
		"src/sub/b.txt":     "b",
		"conf/c.txt":        "conf-1",
		"src/.dockerignore": "*.log\n",
	})
	out := s.devstack("--progress", "json", "up", "-d")
	t.Cleanup(func() { _, _, _ = s.try("down", "-v") })
	app := s.project + "-app-1"
	logs, err := s.h.Docker("logs", app)
	if err != nil {
		t.Fatal(err)
	}
	first, _, _ := strings.Cut(logs, "\n")
	if first != "start: hello-from-the-laptop conf-1" {
		t.Errorf("the container's first line %q: its command did not find the synced files at start\nup said:\n%s", first, out)
	}
	evs := seedEvents(t, out)
	if len(evs) != 1 || evs[0]["files"].(float64) < 4 || evs[0]["error"] != nil {
		t.Errorf("the seed's events: %v\nup said:\n%s", evs, out)
	}

	// A recreate: the volume was filled from here before, so nothing is
	// sent before the start (the live sync brings edits after it).
	out = s.devstack("--progress", "json", "up", "-d", "--force-recreate")
	if evs := seedEvents(t, out); len(evs) != 0 {
		t.Errorf("a recreate over a filled volume seeded again: %v", evs)
	}
	logs, err = s.h.Docker("logs", app)
	if err != nil {
		t.Fatal(err)
	}
	if first, _, _ := strings.Cut(logs, "\n"); first != "start: hello-from-the-laptop conf-1" {
		t.Errorf("after the recreate, the first line is %q", first)
	}

	// down -v removes the volume: the next up fills a new one.
	s.devstack("down", "-v")
	out = s.devstack("--progress", "json", "up", "-d")
	if evs := seedEvents(t, out); len(evs) != 1 {
		t.Errorf("a new volume after down -v was not seeded: %v\n%s", evs, out)
	}
	logs, _ = s.h.Docker("logs", app)
	if first, _, _ := strings.Cut(logs, "\n"); first != "start: hello-from-the-laptop conf-1" {
		t.Errorf("after down -v and up, the first line is %q", first)
	}
}
