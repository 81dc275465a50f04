package plan

import (
	"testing"

	"devstack/engine/model"
)

func TestNoStartCreatesAndRecreatesButStartsNothing(t *testing.T) {
	p := stack()
	pl, err := Up(p, model.Observed{}, UpOptions{NoStart: true})
	if err != nil {
		t.Fatal(err)
	}
	check(t, pl, `
1 create network demo_default
2 create volume demo_data
3 create demo-db-1 after 1,2
4 create demo-migrate-1 after 1,2
5 create demo-api-1 after 1,2
6 create demo-api-2 after 1,2
7 create demo-web-1 after 1,2
`)
	// A changed service is recreated, its replacement left created.
	obs := observedAll(p)
	p.Services[3].Environment = map[string]*string{"CHANGED": nil}
	p.Services[3].ConfigHash = model.Hash(p.Services[3])
	pl, err = Up(p, obs, UpOptions{NoStart: true, Services: []string{"web"}, NoDeps: true})
	if err != nil {
		t.Fatal(err)
	}
	check(t, pl, `
1 create web-id_demo-web-1 replacing demo-web-1, keeping its anonymous volumes (config changed)
2 stop demo-web-1 (config changed) after 1
3 remove demo-web-1 (config changed) after 2
4 rename web-id_demo-web-1 to demo-web-1 after 3
`)
}

func TestWithoutKeepsTheOrderThroughDroppedOps(t *testing.T) {
	pl := &Plan{}
	a := pl.add(Op{Kind: Create, Name: "a"})
	s := pl.add(Op{Kind: Start, Name: "a"}, a.ID)
	pl.add(Op{Kind: Create, Name: "b"}, s.ID)
	check(t, pl.Without(Start), `
1 create a
2 create b after 1
`)
}

func TestForContainersKill(t *testing.T) {
	cs := []model.Container{{ID: "1", Name: "demo-web-1", Service: "web", Number: 1}, {ID: "2", Name: "demo-web-2", Service: "web", Number: 2}}
	check(t, ForContainers(Kill, cs, "SIGTERM"), `
1 kill demo-web-1 with SIGTERM
2 kill demo-web-2 with SIGTERM
`)
}
