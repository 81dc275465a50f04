package main

import (
	"fmt"
	"strings"
)

// flat200Services is how many services testdata/bench/flat200 defines.
const flat200Services = 200

// benchFlat200: 200 independent services (testdata/bench/flat200), for what
// grows with the number of services. Per run and per tool: `up -d` (wall
// time, peak RSS, until all 200 run), three `ps`, then `down`; and the
// engine's floor: the 200 containers created and started through its API,
// 16 at a time, and one container list.
func benchFlat200(b *bench) ([]result, error) {
	ds, dc, floor, err := sampleStacks(b, "flat200", flatFloor, flatRun)
	if err != nil {
		return nil, err
	}
	rows := []result{
		{Scenario: "flat200 up -d", Unit: "s", Devstack: median(ds.up), Compose: median(dc.up), Floor: median(floor.up),
			Target: "≤ 1.0× compose", DevstackRuns: ds.up, ComposeRuns: dc.up, FloorRuns: floor.up},
		{Scenario: "flat200 ps", Unit: "ms", Devstack: median(ds.ps), Compose: median(dc.ps), Floor: median(floor.ps),
			Target: "≤ 150 ms", DevstackRuns: ds.ps, ComposeRuns: dc.ps, FloorRuns: floor.ps},
		{Scenario: "flat200 down", Unit: "s", Devstack: median(ds.down), Compose: median(dc.down),
			Target: "≤ 1.0× compose", DevstackRuns: ds.down, ComposeRuns: dc.down},
		{Scenario: "flat200 up -d peak RSS", Unit: "MB", Devstack: median(ds.rss), Compose: median(dc.rss), Target: "≤ 60 MB", DevstackRuns: ds.rss, ComposeRuns: dc.rss},
	}
	rows[0].Pass = rows[0].Compose > 0 && rows[0].Devstack <= rows[0].Compose
	rows[1].Pass = rows[1].Devstack <= 150
	rows[2].Pass = rows[2].Compose > 0 && rows[2].Devstack <= rows[2].Compose
	rows[3].Pass = rows[3].Devstack <= 60
	return rows, nil
}

// flatRun is one run of one tool on its own project.
func flatRun(b *bench, t tool, dir, file, project string, s *dagSamples) error {
	b.takeDownLater(t, dir, file, project)
	name, args := t.args(file, project, "up", "-d")
	up, rss, err := timed(dir, nil, name, args...)
	if err != nil {
		return err
	}
	if n := projectContainers(project, false); n != flat200Services {
		return fmt.Errorf("%d containers of %s after up -d, want %d", n, project, flat200Services)
	}
	s.up, s.rss = append(s.up, up), append(s.rss, rss)
	for j := 0; j < 3; j++ {
		name, args := t.args(file, project, "ps")
		w, _, out, err := timedOutput(dir, nil, name, args...)
		if err != nil {
			return err
		}
		if got := strings.Count(string(out), project); got < flat200Services {
			return fmt.Errorf("ps listed %d containers of %s, want %d:\n%s", got, project, flat200Services, tail(out))
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

// flatFloor creates and starts the 200 containers through the engine's API,
// 16 at a time (devstack's pool), and lists them.
func flatFloor(b *bench, api *engineAPI, project string, s *dagSamples) error {
	b.removeProjectLater(project)
	var cs []floorContainer
	for i := 0; i < flat200Services; i++ {
		cs = append(cs, floorContainer{name: fmt.Sprintf("%s-f%03d-1", project, i)})
	}
	up, err := api.layers(project, dagImage, []string{"sleep", "3600"}, [][]floorContainer{cs}, 16)
	if err != nil {
		return err
	}
	s.up = append(s.up, up)
	for j := 0; j < 3; j++ {
		ps, err := timeIt(func() error { return api.listProject(project) })
		if err != nil {
			return err
		}
		s.ps = append(s.ps, ps*1000)
	}
	removeProject(project) // 200 more containers would weigh on the tools' runs
	return nil
}
