package docker

import (
	"testing"
	"time"

	"devstack/engine"
	"devstack/engine/model"
)

// TestListContainersFiltersByLabel: the labels asked for are the list
// call's filter, so a caller gets the one service's containers and none
// of another service's or another project's.
func TestListContainersFiltersByLabel(t *testing.T) {
	r, img := newTestRuntime(t)
	ctx := testCtx(t, 2*time.Minute)
	p, other := newProject(t), newProject(t)
	ids := map[string]string{}
	for _, c := range []struct {
		p       *model.Project
		service string
	}{{p, "app"}, {p, "db"}, {other, "app"}} {
		svc := &model.Service{Name: c.service, Image: img, Command: idle, Replicas: 1}
		id, err := r.CreateContainer(ctx, c.p, svc, 1, engine.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ids[c.p.Name+"/"+c.service] = id
	}
	cs, err := r.ListContainers(ctx, true, model.LabelProject+"="+p.Name, model.LabelService+"=app")
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 1 || cs[0].ID != ids[p.Name+"/app"] {
		t.Fatalf("listed %+v, want only %s's app container %s", cs, p.Name, ids[p.Name+"/app"])
	}
	all, err := r.ListContainers(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, c := range all {
		for _, id := range ids {
			if c.ID == id {
				seen++
			}
		}
	}
	if seen != len(ids) {
		t.Errorf("with no labels the list has %d of the %d containers made", seen, len(ids))
	}
}
