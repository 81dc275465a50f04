package docker

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"devstack/engine"
	"devstack/engine/model"
)

// TestObserveTwentyContainers measures what `up` and `ps` pay: create +
// start of one container, and one Observe of a 20-container project.
func TestObserveTwentyContainers(t *testing.T) {
	t.Parallel()
	r, img := newTestRuntime(t)
	ctx := testCtx(t, 120*time.Second)
	p := newProject(t)
	svc := model.Service{Name: "many", Image: img, Command: idle, Healthcheck: &model.Healthcheck{Disable: true}}
	p.Services = []model.Service{svc}
	p.Networks["default"] = model.Network{Name: p.Name + "_default"}
	p.Services[0].Networks = map[string]model.ServiceNetwork{"default": {}}
	if err := r.CreateNetwork(ctx, p, "default"); err != nil {
		t.Fatal(err)
	}
	const n = 20
	up := func(i int) (time.Duration, time.Duration) {
		start := time.Now()
		id, err := r.CreateContainer(ctx, p, &p.Services[0], i, engine.CreateOptions{})
		if err != nil {
			t.Error(err)
			return 0, 0
		}
		created := time.Since(start)
		if err := r.StartContainer(ctx, id); err != nil {
			t.Error(err)
		}
		return created, time.Since(start) - created
	}
	var creates, starts []time.Duration
	for i := 1; i <= 3; i++ { // alone, for a latency without contention
		c, s := up(i)
		creates, starts = append(creates, c), append(starts, s)
	}
	start := time.Now()
	var wg sync.WaitGroup
	for i := 4; i <= n; i++ {
		wg.Go(func() { up(i) })
	}
	wg.Wait()
	parallel := time.Since(start)
	if t.Failed() {
		t.FailNow()
	}
	slices.Sort(creates)
	slices.Sort(starts)
	t.Logf("one container: create %v + start %v (median of 3); %d more in parallel: %v",
		creates[1].Round(time.Millisecond), starts[1].Round(time.Millisecond), n-3, parallel.Round(time.Millisecond))

	var obs model.Observed
	var took []time.Duration
	for range 5 {
		start := time.Now()
		var err error
		if obs, err = r.Observe(ctx, p); err != nil {
			t.Fatal(err)
		}
		took = append(took, time.Since(start))
	}
	slices.Sort(took)
	if len(obs.Containers) != n {
		t.Fatalf("observed %d containers", len(obs.Containers))
	}
	for _, c := range obs.Containers {
		if c.State != model.StateRunning || c.StartedAt.IsZero() || c.Service != "many" {
			t.Errorf("observed %+v", c)
		}
	}
	// For comparison: the list alone, and the inspects one after another.
	start = time.Now()
	list, err := r.api.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: projectFilter(p.Name)})
	if err != nil {
		t.Fatal(err)
	}
	listOnly := time.Since(start)
	start = time.Now()
	for _, c := range list.Items {
		if _, err := r.InspectContainer(ctx, c.ID); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("Observe of %d containers: median %v (min %v); list alone %v; %d inspects in sequence %v",
		n, took[2].Round(10*time.Microsecond), took[0].Round(10*time.Microsecond), listOnly.Round(10*time.Microsecond), n, time.Since(start).Round(10*time.Microsecond))
}
