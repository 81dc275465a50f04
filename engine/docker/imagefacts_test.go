package docker

import (
	"slices"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"devstack/engine"
	"devstack/engine/model"
)

// TestCreateTakesTheObservedImage: a create given what an observation saw
// of the image (as up passes it) records that ID and makes those VOLUMEs,
// and leaves the facts it was given as they were; the observation itself
// reads them from the image.
func TestCreateTakesTheObservedImage(t *testing.T) {
	t.Parallel()
	r, img := newTestRuntime(t)
	ctx := testCtx(t, 120*time.Second)
	p := newProject(t)
	p.Services = []model.Service{{Name: "app", Image: img, Command: idle}}
	obs, err := r.ObserveBrief(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if obs.Images[img] == "" {
		t.Fatalf("the observation has no ID for %s: %v", img, obs.Images)
	}
	if v := obs.ImageVolumes[img]; len(v) != 0 {
		t.Fatalf("the observation gives %s VOLUMEs %v; the test image has none", img, v)
	}
	// The test image declares no VOLUME: a mount at /observed can only
	// come from the facts given.
	facts := &engine.ImageFacts{ID: obs.Images[img], Volumes: []string{"/observed/b", "/observed/a"}}
	id, err := r.CreateContainer(ctx, p, &p.Services[0], 1, engine.CreateOptions{Image: facts})
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.api.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Container.Config.Labels[model.LabelImage]; got != facts.ID {
		t.Errorf("label %s = %q, want the observed ID %q", model.LabelImage, got, facts.ID)
	}
	var targets []string
	for _, m := range res.Container.HostConfig.Mounts {
		targets = append(targets, m.Target)
	}
	if !slices.Equal(targets, []string{"/observed/a", "/observed/b"}) {
		t.Errorf("mounts %v, want anonymous volumes at /observed/a and /observed/b", targets)
	}
	if !slices.Equal(facts.Volumes, []string{"/observed/b", "/observed/a"}) {
		t.Errorf("the facts given were changed to %v: other creates share them", facts.Volumes)
	}
}
