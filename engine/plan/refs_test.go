package plan

import (
	"testing"

	"devstack/engine/model"
)

// sidecar shares db's network and IPC namespaces and mounts its volumes:
// its containers hold db's container ID.
func sidecarStack() *model.Project {
	p := &model.Project{Name: "demo", Services: []model.Service{
		{Name: "db", Image: "db:1", Replicas: 1},
		{Name: "sidecar", Image: "side:1", Replicas: 1, NetworkMode: "service:db", Ipc: "service:db", VolumesFrom: []string{"db:ro"},
			DependsOn: map[string]model.Dependency{"db": {Condition: model.ConditionStarted, Required: true, Restart: true}}},
	}}
	for i := range p.Services {
		p.Services[i].ConfigHash = model.Hash(p.Services[i])
	}
	return p
}

func TestContainerRefs(t *testing.T) {
	s := model.Service{Name: "a", NetworkMode: "service:n", Ipc: "service:i", Pid: "host",
		VolumesFrom: []string{"v:ro", "container:c", "w"}, Links: []string{"l:alias", "n"}}
	if got := s.ContainerRefs(); len(got) != 5 || got[0] != "i" || got[1] != "l" || got[2] != "n" || got[3] != "v" || got[4] != "w" {
		t.Errorf("refs = %v, want [i l n v w]", got)
	}
}

// A container made with another's is created once that one exists.
func TestUpCreatesAfterTheContainersItIsMadeWith(t *testing.T) {
	p := sidecarStack()
	pl, err := Up(p, model.Observed{}, UpOptions{})
	if err != nil {
		t.Fatal(err)
	}
	check(t, pl, `
1 create demo-db-1
2 start demo-db-1 after 1
3 create demo-sidecar-1 after 1
4 start demo-sidecar-1 after 2,3
`)
}

// When db is replaced, sidecar (which holds the old db's ID) is made
// anew after it, not merely restarted.
func TestUpRecreatesWhatIsMadeWithAReplacedContainer(t *testing.T) {
	p := sidecarStack()
	obs := observedAll(p)
	p.Services[0].Environment = map[string]*string{"NEW": nil}
	p.Services[0].ConfigHash = model.Hash(p.Services[0])
	pl, err := Up(p, obs, UpOptions{})
	if err != nil {
		t.Fatal(err)
	}
	check(t, pl, `
1 create db-id_demo-db-1 replacing demo-db-1, keeping its anonymous volumes (config changed)
2 stop demo-db-1 (config changed) after 1
3 remove demo-db-1 (config changed) after 2
4 rename db-id_demo-db-1 to demo-db-1 after 3
5 start demo-db-1 after 4
6 create sidecar-id_demo-sidecar-1 replacing demo-sidecar-1, keeping its anonymous volumes (a container it is made with was replaced) after 4
7 stop demo-sidecar-1 (a container it is made with was replaced) after 6
8 remove demo-sidecar-1 (a container it is made with was replaced) after 7
9 rename sidecar-id_demo-sidecar-1 to demo-sidecar-1 after 8
10 start demo-sidecar-1 after 5,9
`)
}
