package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// dag20Services is how many services testdata/bench/dag20 defines.
const dag20Services = 20

// dagSamples are one tool's measurements over the runs.
type dagSamples struct{ up, down, ps, rss []float64 }

// benchDag20: 20 services in 4 layers of 5, each layer waiting for the
// previous one to be healthy (testdata/bench/dag20). Per run and per tool:
// `up -d --wait` (wall time and peak RSS), three `ps` on the running stack,
// then `down`. The tools alternate which goes first, run by run, so drift on
// a busy machine hits both alike.
func benchDag20(b *bench) ([]result, error) {
	dir := filepath.Join(b.root, "testdata", "bench", "dag20")
	file := filepath.Join(dir, "compose.yaml")
	tools := b.tools()
	samples := map[string]*dagSamples{}
	for _, t := range tools {
		samples[t.tag] = &dagSamples{}
	}
	for i := 0; i < b.n; i++ {
		order := append([]tool(nil), tools...)
		if i%2 == 1 {
			for l, r := 0, len(order)-1; l < r; l, r = l+1, r-1 {
				order[l], order[r] = order[r], order[l]
			}
		}
		for _, t := range order {
			project := fmt.Sprintf("dag20%s%d-%d", t.tag, os.Getpid(), i)
			if err := dagRun(b, t, dir, file, project, samples[t.tag]); err != nil {
				return nil, fmt.Errorf("%s, run %d: %w", t.name, i+1, err)
			}
		}
	}
	ds, dc := samples["ds"], samples["dc"]
	if dc == nil {
		dc = &dagSamples{}
	}
	rows := []result{
		{Scenario: "dag20 up -d --wait", Unit: "s", Devstack: median(ds.up), Compose: median(dc.up), Target: "≤ 0.70× compose", DevstackRuns: ds.up, ComposeRuns: dc.up},
		{Scenario: "dag20 down", Unit: "s", Devstack: median(ds.down), Compose: median(dc.down), Target: "≤ 0.70× compose", DevstackRuns: ds.down, ComposeRuns: dc.down},
		{Scenario: "dag20 ps (running stack)", Unit: "ms", Devstack: median(ds.ps), Compose: median(dc.ps), Target: "≤ 100 ms", DevstackRuns: ds.ps, ComposeRuns: dc.ps},
		{Scenario: "dag20 up -d peak RSS", Unit: "MB", Devstack: median(ds.rss), Compose: median(dc.rss), Target: "≤ 60 MB", DevstackRuns: ds.rss, ComposeRuns: dc.rss},
	}
	for i := range rows[:2] {
		rows[i].Pass = rows[i].Compose > 0 && rows[i].Devstack <= 0.7*rows[i].Compose
		if rows[i].Compose == 0 {
			rows[i].Note = "no compose to compare with"
		}
	}
	rows[2].Pass = rows[2].Devstack <= 100
	rows[3].Pass = rows[3].Devstack <= 60
	return rows, nil
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
	name, args := t.args(file, project, "down")
	down, _, err := timed(dir, nil, name, args...)
	if err != nil {
		return err
	}
	if n := projectContainers(project, false); n != 0 {
		return fmt.Errorf("%d containers of %s left after down", n, project)
	}
	s.down = append(s.down, down)
	return nil
}

// upAndWait runs `up -d --wait` and returns its wall time and peak RSS. It
// checks with the engine that want containers are healthy (a tool that
// returned early would look fast); for a tool without --wait it runs `up -d`
// and polls until they are, counting the wait.
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
	if err := expectHealthy(project, want); err != nil {
		return 0, 0, fmt.Errorf("after %s: %w", strings.Join(args, " "), err)
	}
	return wall, rss, nil
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
