package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// dag20Services is how many services testdata/bench/dag20 defines.
const dag20Services = 20

// dagSamples are one tool's measurements over the runs (ui: devstack's
// dashboard only; for the floor, up, noop and ps hold the engine's own).
type dagSamples struct{ up, noop, down, ps, rss, ui, verdict []float64 }

// add appends o's samples to s's.
func (s *dagSamples) add(o *dagSamples) {
	s.up, s.noop, s.down = append(s.up, o.up...), append(s.noop, o.noop...), append(s.down, o.down...)
	s.ps, s.rss, s.ui = append(s.ps, o.ps...), append(s.rss, o.rss...), append(s.ui, o.ui...)
	s.verdict = append(s.verdict, o.verdict...)
}

// dagHealth is testdata/bench/dag20's healthcheck, as the API takes it.
var dagHealth = map[string]any{"Test": []string{"CMD", "test", "-f", "/tmp/ok"},
	"Interval": int64(time.Second), "Timeout": int64(time.Second), "Retries": 3}

// dagImage is the image testdata/bench/dag20 runs.
const dagImage = "devstack-test/busybox:1"

// benchDag20: 20 services in 4 layers of 5, each layer waiting for the
// previous one to be healthy (testdata/bench/dag20). Per run and per tool:
// `up -d --wait` (wall time and peak RSS), three no-op `up -d --wait` and
// three `ps` on the running stack, devstack's dashboard's first frame
// showing the stack running, then `down`. The tools alternate which goes
// first, run by run, so drift on a busy machine hits both alike; the
// engine's floor is measured in each run too (see dagFloor).
func benchDag20(b *bench) ([]result, error) {
	ds, dc, floor, err := sampleStacks(b, "dag20", dagFloor, dagRun)
	if err != nil {
		return nil, err
	}
	rows := []result{
		{Scenario: "dag20 up -d --wait", Unit: "s", Devstack: median(ds.up), Compose: median(dc.up), Floor: median(floor.up),
			Target: "≤ 0.45× compose, ≤ 1.3× floor", DevstackRuns: ds.up, ComposeRuns: dc.up, FloorRuns: floor.up},
		{Scenario: "dag20 up -d --wait, floor with the engine's verdict", Unit: "s", Devstack: median(ds.up), Compose: median(dc.up), Floor: median(floor.verdict),
			Target: "≤ 1.3× this floor (the one above plus the engine's own healthy on the last layer)", DevstackRuns: ds.up, ComposeRuns: dc.up, FloorRuns: floor.verdict},
		{Scenario: "dag20 no-op up -d --wait", Unit: "ms", Devstack: median(ds.noop), Compose: median(dc.noop), Floor: median(floor.noop),
			Target: "≤ 150 ms", DevstackRuns: ds.noop, ComposeRuns: dc.noop, FloorRuns: floor.noop},
		{Scenario: "dag20 down", Unit: "s", Devstack: median(ds.down), Compose: median(dc.down), Target: "≤ 0.70× compose", DevstackRuns: ds.down, ComposeRuns: dc.down},
		{Scenario: "dag20 ps (running stack)", Unit: "ms", Devstack: median(ds.ps), Compose: median(dc.ps), Floor: median(floor.ps),
			Target: "≤ 50 ms", DevstackRuns: ds.ps, ComposeRuns: dc.ps, FloorRuns: floor.ps},
		{Scenario: "dag20 up -d peak RSS", Unit: "MB", Devstack: median(ds.rss), Compose: median(dc.rss), Target: "≤ 60 MB", DevstackRuns: ds.rss, ComposeRuns: dc.rss},
		{Scenario: "dag20 ui: first frame with the stack", Unit: "ms", Devstack: median(ds.ui), Target: "≤ 200 ms", DevstackRuns: ds.ui},
	}
	rows[0].Pass = rows[0].Compose > 0 && rows[0].Devstack <= 0.45*rows[0].Compose && (rows[0].Floor == 0 || rows[0].Devstack <= 1.3*rows[0].Floor)
	rows[1].Pass = rows[1].Floor > 0 && rows[1].Devstack <= 1.3*rows[1].Floor
	rows[2].Pass = rows[2].Devstack <= 150
	rows[3].Pass = rows[3].Compose > 0 && rows[3].Devstack <= 0.7*rows[3].Compose
	rows[4].Pass = rows[4].Devstack <= 50
	rows[5].Pass = rows[5].Devstack <= 60
	rows[6].Pass = len(ds.ui) > 0 && rows[6].Devstack <= 200
	for _, i := range []int{0, 3} {
		if rows[i].Compose == 0 {
			rows[i].Note = "no compose to compare with"
		}
	}
	if len(floor.up) == 0 { // no engine API to measure the floor through
		rows[0].Note = "no floor: DOCKER_HOST is not a unix socket"
		rows[1].Note = rows[0].Note
	}
	return rows, nil
}

// dagFloor measures the engine's floor for dag20 through its API: the
// network and 20 containers created at once, then each layer started with
// no health gating plus one passing probe of each of its containers (the
// healthcheck's own test, retried at once until it passes), layer after
// layer; then what a no-op up and ps must at least ask of it.
func dagFloor(b *bench, api *engineAPI, project string, s *dagSamples) error {
	b.removeProjectLater(project)
	var layers [][]floorContainer
	for l := 0; l < 4; l++ {
		var layer []floorContainer
		for n := 0; n < 5; n++ {
			layer = append(layer, floorContainer{name: fmt.Sprintf("%s-s%d%d-1", project, l, n), probe: []string{"test", "-f", "/tmp/ok"}, health: dagHealth})
		}
		layers = append(layers, layer)
	}
	up, err := api.layers(project, dagImage, []string{"sh", "-c", "touch /tmp/ok; sleep 3600"}, layers, dag20Services)
	if err != nil {
		return err
	}
	s.up = append(s.up, up)
	// --wait promises the engine's own verdict, which comes at its
	// healthcheck's first interval tick after the start: the floor of
	// `up --wait` waits for it on the last layer too.
	var last []string
	for _, c := range layers[len(layers)-1] {
		last = append(last, c.name)
	}
	verdict, err := timeIt(func() error { return api.waitHealthy(last) })
	if err != nil {
		return err
	}
	s.verdict = append(s.verdict, up+verdict)
	for j := 0; j < 3; j++ {
		noop, err := timeIt(func() error { return api.noOpFloor(project, dagImage) })
		if err != nil {
			return err
		}
		ps, err := timeIt(func() error { return api.listProject(project) })
		if err != nil {
			return err
		}
		s.noop, s.ps = append(s.noop, noop*1000), append(s.ps, ps*1000)
	}
	// Gone before the tools' runs: its healthchecks would load the engine
	// under them.
	removeProject(project)
	return nil
}

// dagRun is one run of one tool on its own project, taken down at cleanup
// whatever happens.
func dagRun(b *bench, t tool, dir, file, project string, s *dagSamples) error {
	b.takeDownLater(t, dir, file, project)
	up, rss, err := upAndWait(t, dir, file, project, dag20Services)
	if err != nil {
		return err
	}
	s.up, s.rss = append(s.up, up), append(s.rss, rss)
	for j := 0; j < 3; j++ {
		name, args := t.args(file, project, "up", "-d", "--wait")
		if t.noWait {
			name, args = t.args(file, project, "up", "-d")
		}
		w, _, err := timed(dir, nil, name, args...)
		if err != nil {
			return err
		}
		s.noop = append(s.noop, w*1000)
	}
	if t.tag == "ds" {
		w, err := firstFrame(t, dir, file, project, fmt.Sprintf("%d/%d running", dag20Services, dag20Services))
		if err != nil {
			return err
		}
		s.ui = append(s.ui, w*1000)
	}
	for j := 0; j < 3; j++ {
		name, args := t.args(file, project, "ps")
		w, _, out, err := timedOutput(dir, nil, name, args...)
		if err != nil {
			return err
		}
		if got := strings.Count(string(out), project); got < dag20Services {
			return fmt.Errorf("ps listed %d containers of %s, want %d:\n%s", got, project, dag20Services, tail(out))
		}
		s.ps = append(s.ps, w*1000)
	}
	down, err := timedDown(t, dir, file, project)
	if err != nil {
		return err
	}
	s.down = append(s.down, down)
	return nil
}

// timedDown runs `down` and checks that no container of project is left.
// A down whose only failure is a network Docker 20.10 will not remove
// ("has active endpoints": the endpoint of a container removed while the
// engine still cleaned up after its exit leaks until the daemon restarts)
// did the work timed, and its time counts: the run says so, and the
// network stays behind, under the run's own project name.
func timedDown(t tool, dir, file, project string) (float64, error) {
	name, args := t.args(file, project, "down")
	down, _, out, err := timedOutput(dir, nil, name, args...)
	if err != nil && !strings.Contains(string(out), "has active endpoints") {
		return 0, err
	}
	if n := projectContainers(project, false); n != 0 {
		return 0, fmt.Errorf("%d containers of %s left after down", n, project)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "devstack-bench: %s down removed every container of %s but not its network (the engine leaked an endpoint): its time counts\n", t.name, project)
	}
	return down, nil
}

// upAndWait runs `up -d --wait` and returns its wall time and peak RSS. It
// checks with the engine that want containers are ready (a tool that
// returned early would look fast): each healthy by the engine's verdict, or
// its healthcheck's test passing now (devstack's --wait returns once each
// test passed, which the engine's own probe confirms up to an interval
// later). For a tool without --wait it runs `up -d` and polls until they are
// healthy, counting the wait. Then it waits, untimed, for the engine to call
// them all healthy, so what follows runs on a settled stack.
func upAndWait(t tool, dir, file, project string, want int) (float64, float64, error) {
	args := []string{"up", "-d", "--wait"}
	if t.noWait {
		args = args[:2]
	}
	name, all := t.args(file, project, args...)
	start := time.Now()
	wall, rss, err := timed(dir, nil, name, all...)
	if err != nil {
		return 0, 0, err
	}
	if t.noWait {
		deadline := start.Add(2 * time.Minute)
		for projectContainers(project, true) != want && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond) // polling the engine, with a deadline
		}
		wall = time.Since(start).Seconds()
	}
	if err := expectReady(project, want); err != nil {
		return 0, 0, fmt.Errorf("after %s: %w", strings.Join(args, " "), err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for projectContainers(project, true) != want && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond) // polling the engine, with a deadline
	}
	if err := expectHealthy(project, want); err != nil {
		return 0, 0, fmt.Errorf("after %s: %w", strings.Join(args, " "), err)
	}
	return wall, rss, nil
}

// expectReady checks that the engine runs want containers of project, each
// healthy or with dag20's healthcheck test passing now.
func expectReady(project string, want int) error {
	out, err := exec.Command("docker", "ps", "--filter", "label=com.docker.compose.project="+project,
		"--format", "{{.ID}} {{.Status}}").Output()
	if err != nil {
		return err
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != want || lines[0] == "" {
		return fmt.Errorf("%d running containers of %s, want %d", len(lines), project, want)
	}
	for _, l := range lines {
		id, status, _ := strings.Cut(l, " ")
		if strings.HasSuffix(status, "(healthy)") {
			continue
		}
		if err := exec.Command("docker", "exec", id, "test", "-f", "/tmp/ok").Run(); err != nil {
			return fmt.Errorf("container %s is %q and its healthcheck fails: %v", id, status, err)
		}
	}
	return nil
}

// expectHealthy checks that the engine runs want healthy containers of project.
func expectHealthy(project string, want int) error {
	if got := projectContainers(project, true); got != want {
		return fmt.Errorf("%d healthy containers of %s, want %d", got, project, want)
	}
	return nil
}

// projectContainers counts the project's containers (healthy ones only, or
// all of them, running or not), by Compose's project label.
func projectContainers(project string, healthyOnly bool) int {
	args := []string{"ps", "-q", "--filter", "label=com.docker.compose.project=" + project}
	if healthyOnly {
		args = append(args, "--filter", "health=healthy")
	} else {
		args = append(args, "-a")
	}
	out, err := exec.Command("docker", args...).Output()
	if err != nil {
		return -1
	}
	return len(strings.Fields(string(out)))
}

// sampleStacks runs the fixture testdata/bench/NAME b.n times: the
// engine's floor first (when the API answers), then each tool under a
// project name of its own, the tools alternating which goes first so
// that neither always meets a warm or a cold engine.
func sampleStacks(b *bench, name string,
	floorRun func(*bench, *engineAPI, string, *dagSamples) error,
	run func(b *bench, t tool, dir, file, project string, s *dagSamples) error,
) (ds, dc, floor *dagSamples, err error) {
	dir := filepath.Join(b.root, "testdata", "bench", name)
	file := filepath.Join(dir, "compose.yaml")
	tools := b.tools()
	samples := map[string]*dagSamples{}
	for _, t := range tools {
		samples[t.tag] = &dagSamples{}
	}
	floor = &dagSamples{}
	api := newEngineAPI()
	for i := 0; i < b.n; i++ {
		if api != nil {
			if err := floorRun(b, api, fmt.Sprintf("%sfl%d-%d", name, os.Getpid(), i), floor); err != nil {
				return nil, nil, nil, fmt.Errorf("engine floor, run %d: %w", i+1, err)
			}
		}
		order := append([]tool(nil), tools...)
		if i%2 == 1 {
			slices.Reverse(order)
		}
		for _, t := range order {
			for attempt := 1; ; attempt++ {
				project := fmt.Sprintf("%s%s%d-%d", name, t.tag, os.Getpid(), i)
				if attempt > 1 {
					project += fmt.Sprintf("r%d", attempt)
				}
				var s dagSamples
				err := run(b, t, dir, file, project, &s)
				if err == nil {
					samples[t.tag].add(&s)
					break
				}
				// On a loaded machine the engine's own 1 s healthchecks
				// time out under either tool: such a run says nothing about
				// the tool, so it is taken down and made again (twice at most).
				if attempt == 3 || !strings.Contains(err.Error(), "unhealthy") {
					return nil, nil, nil, fmt.Errorf("%s, run %d: %w", t.name, i+1, err)
				}
				fmt.Fprintf(os.Stderr, "devstack-bench: %s, run %d: a container turned unhealthy (load %s); taking it down and running again\n", t.name, i+1, loadAverage())
				name, args := t.args(file, project, "down", "-v")
				_ = exec.Command(name, args...).Run()
				settleLoad()
			}
		}
	}
	ds, dc = samples["ds"], samples["dc"]
	if dc == nil {
		dc = &dagSamples{}
	}
	return ds, dc, floor, nil
}
