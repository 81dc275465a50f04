package tui

import (
	"fmt"
	"testing"
	"time"

	"devstack/engine/event"
)

var services = []string{"web", "api", "db", "worker", "cache"}

// stack is a small stack in a realistic state: web has two replicas
// behind a published port, db is healthy, api was restarted, worker
// crashed, cache has no container yet.
func stack() []event.Event {
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	start := t0.Add(-42 * time.Minute)
	ev := []event.Event{
		event.Connection{Time: at(-3000), Host: "unix:///var/run/docker.sock", Connected: true},
		event.State{Time: at(-2520), Service: "db", Container: "shop-db-1", ID: "d1", Replica: 1, State: "running", Health: "healthy", StartedAt: start, Ports: []string{"127.0.0.1:5432->5432/tcp"}, Image: "postgres:16"},
		event.State{Time: at(-2500), Service: "api", Container: "shop-api-1", ID: "a1", Replica: 1, State: "running", StartedAt: start, Image: "shop-api:dev"},
		event.State{Time: at(-2500), Service: "web", Container: "shop-web-1", ID: "w1", Replica: 1, State: "running", StartedAt: start, Ports: []string{"0.0.0.0:8080->80/tcp", "[::]:8080->80/tcp"}, Image: "shop-web:dev"},
		event.State{Time: at(-2500), Service: "web", Container: "shop-web-2", ID: "w2", Replica: 2, State: "running", StartedAt: start, Ports: []string{"0.0.0.0:8081->80/tcp", "[::]:8081->80/tcp"}, Image: "shop-web:dev"},
		event.State{Time: at(-2500), Service: "worker", Container: "shop-worker-1", ID: "k1", Replica: 1, State: "running", StartedAt: start, Image: "shop-worker:dev"},
		event.Stats{Service: "db", Container: "shop-db-1", CPUPercent: 0.4, MemBytes: 41 << 20},
		event.Stats{Service: "api", Container: "shop-api-1", CPUPercent: 12.5, MemBytes: 96 << 20},
		event.Stats{Service: "web", Container: "shop-web-1", CPUPercent: 1.25, MemBytes: 20 << 20},
		event.Stats{Service: "web", Container: "shop-web-2", CPUPercent: 0.75, MemBytes: 19 << 20},
		event.Log{Time: at(-2400), Service: "db", Container: "shop-db-1", Replica: 1, Stream: "stdout", Line: "database system is ready to accept connections"},
		event.Log{Time: at(-2300), Service: "api", Container: "shop-api-1", Replica: 1, Stream: "stdout", Line: "listening on :3000"},
		event.Log{Time: at(-2300), Service: "web", Container: "shop-web-1", Replica: 1, Stream: "stdout", Line: "GET / 200 3ms"},
		event.Log{Time: at(-2300), Service: "web", Container: "shop-web-2", Replica: 2, Stream: "stdout", Line: "GET /cart 200 11ms"},
		event.Log{Time: at(-2200), Service: "worker", Container: "shop-worker-1", Replica: 1, Stream: "stderr", Line: "panic: queue \"mail\" not found"},
		event.State{Time: at(-2200), Service: "worker", Container: "shop-worker-1", ID: "k1", Replica: 1, State: "exited", ExitCode: 2, StartedAt: start, Image: "shop-worker:dev"},
		event.Log{Time: at(-600), Service: "api", Container: "shop-api-1", Replica: 1, Stream: "stderr", Line: "error: connection to db lost, retrying"},
		event.State{Time: at(-590), Service: "api", Container: "shop-api-1", ID: "a1", Replica: 1, State: "exited", ExitCode: 137, StartedAt: start, Image: "shop-api:dev"},
		event.State{Time: at(-589), Service: "api", Container: "shop-api-1", ID: "a1", Replica: 1, State: "running", Restarts: 1, StartedAt: at(-589), Image: "shop-api:dev"},
		event.Log{Time: at(-588), Service: "api", Container: "shop-api-1", Replica: 1, Stream: "stdout", Line: "listening on :3000"},
		event.Sync{Time: at(-120), Service: "web", Action: "sync", Files: 3, Bytes: 12 << 10, LatencyMS: 41.7, Paths: []string{"src/app.js", "src/cart.js"}},
		event.Sync{Time: at(-60), Service: "api", Action: "sync+restart", Files: 1, Bytes: 900, LatencyMS: 230, Error: "copy into shop-api-1: no space left on device"},
		event.Sync{Time: at(-5), Service: "web", Action: "sync", Files: 1, Deleted: 1, Bytes: 2 << 10, LatencyMS: 38.2},
		event.Scratch{Time: at(-30), Project: "shop", Phase: "done", Status: "fail", Findings: []event.Finding{{Category: "volume-state", Service: "db", Evidence: "table users exists only in the old volume", Hint: "add a migration"}}, Report: ".devstack/scratch/0001.json"},
	}
	for i := 0; i < 8; i++ {
		ev = append(ev, event.Log{Time: at(-4 + i/2), Service: "web", Container: fmt.Sprintf("shop-web-%d", 1+i%2), Replica: 1 + i%2, Stream: "stdout", Line: fmt.Sprintf("GET /item/%d 200 %dms — a long line that goes on and on to show how the dashboard cuts what does not fit the width of the terminal", i, 2+i)})
	}
	return ev
}

func TestGoldenOverview(t *testing.T) {
	for _, size := range [][2]int{{80, 24}, {160, 48}} {
		t.Run(fmt.Sprintf("%dx%d", size[0], size[1]), func(t *testing.T) {
			m := newTestModel(t, Options{Services: services}, size[0], size[1])
			feed(m, stack()...)
			checkGolden(t, fmt.Sprintf("overview_%dx%d", size[0], size[1]), m)
		})
	}
}

func TestGoldenBeforeAnyEvent(t *testing.T) {
	m := newTestModel(t, Options{Services: services}, 80, 24)
	checkGolden(t, "empty_80x24", m)
}

func TestGoldenOneServiceWithSearch(t *testing.T) {
	for _, size := range [][2]int{{80, 24}, {160, 48}} {
		t.Run(fmt.Sprintf("%dx%d", size[0], size[1]), func(t *testing.T) {
			m := newTestModel(t, Options{Services: services}, size[0], size[1])
			feed(m, stack()...)
			press(m, "j", "j", "enter") // web-1 web-2 api-1
			press(m, "/")
			typeText(m, "listening")
			press(m, "enter")
			checkGolden(t, fmt.Sprintf("api_search_%dx%d", size[0], size[1]), m)
		})
	}
}

func TestGoldenQuitPromptAndHelp(t *testing.T) {
	m := newTestModel(t, Options{Services: services}, 80, 24)
	feed(m, stack()...)
	press(m, "q")
	checkGolden(t, "quit_prompt_80x24", m)
	press(m, "esc", "?")
	checkGolden(t, "help_80x24", m)
}

func TestGoldenEngineUnreachable(t *testing.T) {
	m := newTestModel(t, Options{Services: services}, 80, 24)
	feed(m, stack()...)
	feed(m, event.Connection{Time: t0.Add(-7 * time.Second), Host: "ssh://dev@build-box", Connected: false, Error: "EOF"})
	checkGolden(t, "unreachable_80x24", m)
}

// Every screen fills the terminal exactly, down to tiny sizes.
func TestScreenShapeAtManySizes(t *testing.T) {
	for _, size := range [][2]int{{20, 5}, {40, 10}, {80, 24}, {100, 30}, {120, 40}, {160, 48}, {240, 60}} {
		m := newTestModel(t, Options{Services: services}, size[0], size[1])
		feed(m, stack()...)
		checkShape(t, screen(m), size[0], size[1])
		press(m, "?")
		checkShape(t, screen(m), size[0], size[1])
		empty := newTestModel(t, Options{}, size[0], size[1]) // a project with no service
		checkShape(t, screen(empty), size[0], size[1])
		press(empty, "j", "enter", "r", "s", "x", "/", "a", "enter", "n")
		checkShape(t, screen(empty), size[0], size[1])
	}
}

// pods is a stack on a Kubernetes cluster: pods on a node, one not yet
// Ready, one restarted, and a cluster without a metrics API.
func pods() []event.Event {
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	start := t0.Add(-7 * time.Minute)
	return []event.Event{
		event.Connection{Time: at(-600), Host: "devstack-test (https://10.200.0.2:6443)", Connected: true},
		event.State{Time: at(-420), Service: "web", Container: "web-7d9c5b-x2kq9", ID: "p1", Replica: 1, State: "running", Health: "healthy", StartedAt: start, Ports: []string{"127.0.0.1:18080->8080/tcp"}, Image: "devstack-test/busybox:1", Node: "devstack-node"},
		event.State{Time: at(-420), Service: "api", Container: "api-5f6d8-abcde", ID: "p2", Replica: 1, State: "running", Health: "starting", Restarts: 2, StartedAt: at(-20), Image: "127.0.0.1:5055/shop-api@sha256:0123456789ab", Node: "devstack-node"},
		event.State{Time: at(-420), Service: "db", Container: "db-6c7b9-zzzzz", ID: "p3", Replica: 1, State: "creating", Image: "devstack-test/busybox:1", Node: "devstack-node"},
		event.Stats{Service: "web", Container: "web-7d9c5b-x2kq9", Unavailable: "no metrics"},
		event.Stats{Service: "api", Container: "api-5f6d8-abcde", Unavailable: "no metrics"},
	}
}

func TestGoldenPodsOnACluster(t *testing.T) {
	for _, size := range [][2]int{{80, 24}, {160, 48}} {
		t.Run(fmt.Sprintf("%dx%d", size[0], size[1]), func(t *testing.T) {
			m := newTestModel(t, Options{Services: []string{"web", "api", "db"}}, size[0], size[1])
			feed(m, pods()...)
			checkGolden(t, fmt.Sprintf("pods_%dx%d", size[0], size[1]), m)
		})
	}
}
