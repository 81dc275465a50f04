package plan

import (
	"strings"
	"testing"
	"time"

	"devstack/engine/model"
)

// stack is web -> api (healthy) -> db, api -> migrate (completed), with
// one network and one volume.
func stack() *model.Project {
	dep := func(c string) model.Dependency { return model.Dependency{Condition: c, Required: true} }
	net := map[string]model.ServiceNetwork{"default": {}}
	p := &model.Project{
		Name:     "demo",
		Networks: map[string]model.Network{"default": {Name: "demo_default"}},
		Volumes:  map[string]model.Volume{"data": {Name: "demo_data"}},
		Services: []model.Service{
			{Name: "api", Image: "demo-api", Replicas: 2, Build: &model.Build{Context: "/src/api"}, Networks: net,
				DependsOn: map[string]model.Dependency{"db": dep(model.ConditionHealthy), "migrate": dep(model.ConditionCompletedSuccessful)}},
			{Name: "db", Image: "db:1", Replicas: 1, Networks: net, Healthcheck: &model.Healthcheck{Test: []string{"CMD", "true"}},
				Volumes: []model.Mount{{Type: model.MountVolume, Source: "data", Target: "/data"}}},
			{Name: "migrate", Image: "demo-api", Replicas: 1, Build: &model.Build{Context: "/src/api"}, Networks: net,
				DependsOn: map[string]model.Dependency{"db": dep(model.ConditionHealthy)}},
			{Name: "web", Image: "web:1", Replicas: 1, Networks: net,
				DependsOn: map[string]model.Dependency{"api": dep(model.ConditionStarted)}},
		},
	}
	for i := range p.Services {
		p.Services[i].ConfigHash = model.Hash(p.Services[i])
	}
	return p
}

func running(p *model.Project, svc string, n int) model.Container {
	s, _ := p.Service(svc)
	return model.Container{ID: svc + "-id", Name: ContainerName(p, s, n), Service: svc, Number: n,
		ConfigHash: s.ConfigHash, State: model.StateRunning, Image: s.Image, ImageID: "sha:" + s.Image}
}

func observedAll(p *model.Project) model.Observed {
	obs := model.Observed{
		Networks: map[string]string{"default": "demo_default"},
		Volumes:  map[string]string{"data": "demo_data"},
		Images:   map[string]string{},
	}
	for _, s := range p.Services {
		obs.Images[s.Image] = "sha:" + s.Image
		for n := 1; n <= s.Replicas; n++ {
			obs.Containers = append(obs.Containers, running(p, s.Name, n))
		}
	}
	return obs
}

func check(t *testing.T, got *Plan, want string) {
	t.Helper()
	want = strings.TrimLeft(want, "\n")
	if got.String() != want {
		t.Fatalf("plan:\n%s\nwant:\n%s", got, want)
	}
}

func TestUpFromNothing(t *testing.T) {
	p := stack()
	pl, err := Up(p, model.Observed{}, UpOptions{})
	if err != nil {
		t.Fatal(err)
	}
	check(t, pl, `
1 create network demo_default
2 create volume demo_data
3 create demo-db-1 after 1,2
4 start demo-db-1 after 3
5 wait healthy demo-db-1 after 4
6 create demo-migrate-1 after 1,2
7 start demo-migrate-1 after 5,6
8 wait completed demo-migrate-1 after 7
9 create demo-api-1 after 1,2
10 start demo-api-1 after 5,8,9
11 create demo-api-2 after 1,2
12 start demo-api-2 after 5,8,11
13 create demo-web-1 after 1,2
14 start demo-web-1 after 10,12,13
`)
}

func TestUpWithWaitWaitsForEveryService(t *testing.T) {
	p := stack()
	pl, err := Up(p, model.Observed{}, UpOptions{Wait: true, Services: []string{"migrate"}})
	if err != nil {
		t.Fatal(err)
	}
	// migrate's closure only; each container is confirmed at the end.
	check(t, pl, `
1 create network demo_default
2 create volume demo_data
3 create demo-db-1 after 1,2
4 start demo-db-1 after 3
5 wait healthy demo-db-1 after 4
6 create demo-migrate-1 after 1,2
7 start demo-migrate-1 after 5,6
8 confirm demo-db-1 after 4
9 confirm demo-migrate-1 after 7
`)
}

func TestUpOnUnchangedStackOnlyWaits(t *testing.T) {
	p := stack()
	pl, err := Up(p, observedAll(p), UpOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Nothing is created or started; the dependents' conditions are still
	// checked, which costs one inspect each.
	check(t, pl, `
1 wait healthy demo-db-1
2 wait completed demo-migrate-1
`)
}

// TestNoOpUpWithWaitPlansNothing: a stack already up, healthy where it has
// a healthcheck, is waited for by no one, with or without --wait; a
// container whose health the engine has not yet decided still is.
func TestNoOpUpWithWaitPlansNothing(t *testing.T) {
	p := stack()
	obs := observedAll(p)
	for i, c := range obs.Containers {
		switch c.Service {
		case "db":
			obs.Containers[i].Health = model.HealthHealthy
		case "migrate":
			obs.Containers[i].State, obs.Containers[i].ExitCode = model.StateExited, 0
		}
	}
	p.Services[2].Restart = "no" // migrate: a job, done
	for _, wait := range []bool{false, true} {
		pl, err := Up(p, obs, UpOptions{Wait: wait})
		if err != nil {
			t.Fatal(err)
		}
		// migrate exited, so it is started again, as compose does; its
		// dependents wait for it to complete, and --wait confirms the rest.
		t.Logf("wait=%v:\n%s", wait, pl)
		if strings.Contains(pl.String(), "demo-db-1") || strings.Contains(pl.String(), "demo-web-1") {
			t.Fatalf("wait=%v: a healthy or running container is waited for:\n%s", wait, pl)
		}
	}
	obs.Containers[2].Health = model.HealthStarting // db's health is not decided yet
	pl, err := Up(p, obs, UpOptions{Wait: true})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(pl.String(), "wait healthy demo-db-1") {
		t.Fatalf("a starting container is not waited for:\n%s", pl)
	}
}

func TestUpRecreatesOnlyWhatChanged(t *testing.T) {
	p := stack()
	obs := observedAll(p)
	p.Services[3].Environment = map[string]*string{"NEW": nil} // web
	p.Services[3].ConfigHash = model.Hash(p.Services[3])
	pl, err := Up(p, obs, UpOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// As Compose: the replacement is made while the old container runs,
	// then the old one goes (its anonymous volumes kept, and mounted by
	// the replacement) and the replacement takes its name.
	check(t, pl, `
1 wait healthy demo-db-1
2 wait completed demo-migrate-1
3 create web-id_demo-web-1 replacing demo-web-1, keeping its anonymous volumes (config changed)
4 stop demo-web-1 (config changed) after 3
5 remove demo-web-1 (config changed) after 4
6 rename web-id_demo-web-1 to demo-web-1 after 5
7 start demo-web-1 after 6
`)
	create, rename := pl.Ops[2], pl.Ops[5]
	if r := create.Replaces; r == nil || r.ID != "web-id" || r.Name != "demo-web-1" || r.RenewVolumes {
		t.Fatalf("create carries %+v, want the replaced container and its volumes kept", r)
	}
	if rename.To != "demo-web-1" || rename.ContainerID != "" {
		t.Fatalf("rename: To=%q ContainerID=%q, want the new name and the ID the create records", rename.To, rename.ContainerID)
	}
}

func TestUpRenewAnonVolumesAndTheTemporaryName(t *testing.T) {
	p := stack()
	obs := observedAll(p)
	const id = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	obs.Containers[len(obs.Containers)-1].ID = id              // web-1
	p.Services[3].Environment = map[string]*string{"NEW": nil} // web
	p.Services[3].ConfigHash = model.Hash(p.Services[3])
	pl, err := Up(p, obs, UpOptions{Services: []string{"web"}, RenewAnonVolumes: true})
	if err != nil {
		t.Fatal(err)
	}
	// Compose's temporary name: the first 12 characters of the old ID.
	check(t, pl, `
1 wait healthy demo-db-1
2 wait completed demo-migrate-1
3 create 0123456789ab_demo-web-1 replacing demo-web-1, with new anonymous volumes (config changed)
4 stop demo-web-1 (config changed) after 3
5 remove demo-web-1 (config changed) after 4
6 rename 0123456789ab_demo-web-1 to demo-web-1 after 5
7 start demo-web-1 after 6
`)
	if r := pl.Ops[2].Replaces; r == nil || r.ID != id || !r.RenewVolumes {
		t.Fatalf("create carries %+v", r)
	}
}

func TestUpFinishesAReplacementCutShort(t *testing.T) {
	// An earlier up made web's replacement and was stopped before the old
	// container went: the old one goes now and the replacement, already
	// up to date, takes the name.
	p := stack()
	obs := observedAll(p)
	old := &obs.Containers[len(obs.Containers)-1] // web-1
	old.ConfigHash = "stale"
	old.Created = time.Unix(100, 0)
	web, _ := p.Service("web")
	obs.Containers = append(obs.Containers, model.Container{ID: "new-id", Name: TempName(old.ID, "demo-web-1"), Service: "web", Number: 1,
		ConfigHash: web.ConfigHash, State: model.StateCreated, Image: "web:1", ImageID: "sha:web:1", Created: time.Unix(200, 0)})
	pl, err := Up(p, obs, UpOptions{Services: []string{"web"}})
	if err != nil {
		t.Fatal(err)
	}
	check(t, pl, `
1 wait healthy demo-db-1
2 wait completed demo-migrate-1
3 stop demo-web-1 (replaced)
4 remove demo-web-1 (replaced) after 3
5 rename web-id_demo-web-1 to demo-web-1 after 4
6 start demo-web-1 after 5
`)
	if pl.Ops[4].ContainerID != "new-id" || pl.Ops[5].ContainerID != "new-id" {
		t.Fatalf("the rename and start must act on the replacement: %+v %+v", pl.Ops[4], pl.Ops[5])
	}
}

func TestUpWaitsOutARemovalUnderWayAndMakesANewContainer(t *testing.T) {
	// A down killed mid-way left the engine removing web-1 (and unable to
	// remove db-1): neither is kept or started; each is removed (for
	// web, the wait for the engine's removal) before its name is reused.
	p := stack()
	obs := observedAll(p)
	obs.Containers[len(obs.Containers)-1].State = model.StateRemoving // web-1
	for i := range obs.Containers {
		if obs.Containers[i].Service == "db" {
			obs.Containers[i].State = model.StateDead
		}
	}
	pl, err := Up(p, obs, UpOptions{Services: []string{"web", "db"}})
	if err != nil {
		t.Fatal(err)
	}
	check(t, pl, `
1 remove demo-db-1 (replaced)
2 create demo-db-1 after 1
3 start demo-db-1 after 2
4 wait healthy demo-db-1 after 3
5 wait completed demo-migrate-1
6 remove demo-web-1 (replaced)
7 create demo-web-1 after 6
8 start demo-web-1 after 7
`)
}

func TestUpRecreatesWhenTheImageWasRebuilt(t *testing.T) {
	p := stack()
	obs := observedAll(p)
	obs.Images["demo-api"] = "sha:new"
	pl, err := Up(p, obs, UpOptions{Services: []string{"migrate"}})
	if err != nil {
		t.Fatal(err)
	}
	check(t, pl, `
1 wait healthy demo-db-1
2 create migrate-id_demo-migrate-1 replacing demo-migrate-1, keeping its anonymous volumes (image changed)
3 stop demo-migrate-1 (image changed) after 2
4 remove demo-migrate-1 (image changed) after 3
5 rename migrate-id_demo-migrate-1 to demo-migrate-1 after 4
6 start demo-migrate-1 after 1,5
`)
}

func TestUpStartsStoppedScalesDownAndReportsOrphans(t *testing.T) {
	p := stack()
	obs := observedAll(p)
	obs.Containers[0].State = model.StateExited // api-1
	extra := running(p, "api", 3)
	extra.ID = "api-3-id"
	obs.Containers = append(obs.Containers, extra, model.Container{ID: "old", Name: "demo-gone-1", Service: "gone", Number: 1, State: model.StateRunning})
	pl, err := Up(p, obs, UpOptions{Services: []string{"api"}})
	if err != nil {
		t.Fatal(err)
	}
	check(t, pl, `
1 wait healthy demo-db-1
2 wait completed demo-migrate-1
3 start demo-api-1 after 1,2
4 stop demo-api-3 (scale down)
5 remove demo-api-3 (scale down) after 4
6 orphan demo-gone-1
`)
}

func TestUpRestartsDependentsThatAskForIt(t *testing.T) {
	p := stack()
	obs := observedAll(p)
	web := &p.Services[3]
	web.DependsOn["api"] = model.Dependency{Condition: model.ConditionStarted, Required: true, Restart: true}
	obs.Containers[0].State = model.StateExited // api-1 gets started
	pl, err := Up(p, obs, UpOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(pl.String(), "restart demo-web-1 (dependency changed) after 3") {
		t.Fatalf("web not restarted after api:\n%s", pl)
	}
}

func TestImagesBuildsSharedBuildOnceAndPullsMissing(t *testing.T) {
	p := stack()
	p.Services[2].Image = "demo-migrate" // same build as api, other tag
	pl, err := Images(p, model.Observed{Images: map[string]string{"web:1": "x"}}, nil, false, false)
	if err != nil {
		t.Fatal(err)
	}
	check(t, pl, `
1 pull db:1 (image missing)
2 build demo-migrate (image missing, also demo-api)
`)
	if got := SharedImages(pl.Ops[1]); len(got) != 1 || got[0] != "demo-api" {
		t.Fatalf("SharedImages = %v", got)
	}
}

func TestBuildsBuildOnlyWhatIsNamed(t *testing.T) {
	p := stack()
	p.Services[2].Image = "demo-migrate" // same build as api, other tag
	pl := Builds(p, nil)
	check(t, pl, `
1 build demo-api (build, also demo-migrate)
`)
	// web depends on api and db: neither is built nor pulled for it.
	pl = Builds(p, []string{"web"})
	if !pl.Empty() {
		t.Fatalf("web has no build section, yet:\n%s", pl)
	}
	pl = Builds(p, []string{"migrate"})
	check(t, pl, `
1 build demo-migrate (build)
`)
}

func TestImagesRefusesWhatCannotBePulled(t *testing.T) {
	p := stack()
	p.Services[1].PullPolicy = "never"
	_, err := Images(p, model.Observed{}, []string{"db"}, false, false)
	if err == nil || !strings.Contains(err.Error(), `service "db": image "db:1" is not present`) {
		t.Fatalf("got %v", err)
	}
}

func TestUnknownServiceIsNamed(t *testing.T) {
	_, err := Up(stack(), model.Observed{}, UpOptions{Services: []string{"nope"}})
	if err == nil || !strings.Contains(err.Error(), `no such service: "nope" (the project has: api, db, migrate, web)`) {
		t.Fatalf("got %v", err)
	}
}

func TestDownStopsDependentsFirstThenRemovesNetworksAndVolumes(t *testing.T) {
	p := stack()
	obs := observedAll(p)
	obs.Containers = append(obs.Containers, model.Container{ID: "run1", Name: "demo-api-run-1a2b", Service: "api", OneOff: true, State: model.StateExited})
	pl, err := Down(p, obs, DownOptions{Volumes: true})
	if err != nil {
		t.Fatal(err)
	}
	check(t, pl, `
1 stop demo-web-1
2 remove demo-web-1 after 1
3 remove demo-api-run-1a2b after 1
4 stop demo-api-1 after 1
5 remove demo-api-1 after 4
6 stop demo-api-2 after 1
7 remove demo-api-2 after 6
8 stop demo-migrate-1 after 4,6
9 remove demo-migrate-1 after 8
10 stop demo-db-1 after 4,6,8
11 remove demo-db-1 after 10
12 remove network demo_default after 2,3,5,7,9,11
13 remove volume demo_data after 2,3,5,7,9,11
`)
}

func TestStopOnlyTouchesRunningContainersOfTheServices(t *testing.T) {
	p := stack()
	obs := observedAll(p)
	obs.Containers[0].State = model.StateExited
	pl, err := StopServices(p, obs, []string{"api", "db"})
	if err != nil {
		t.Fatal(err)
	}
	check(t, pl, `
1 stop demo-api-2
2 stop demo-db-1 after 1
`)
}

func TestDownVRemovesAnonymousVolumesButAnOrphansOwn(t *testing.T) {
	p := stack()
	p.Services = p.Services[1:2] // db only
	obs := model.Observed{
		Containers: []model.Container{
			{ID: "db-id", Name: "demo-db-1", Service: "db", Number: 1, State: model.StateRunning, Volumes: []string{"demo_data", "inherited"}},
			{ID: "old", Name: "demo-gone-1", Service: "gone", Number: 1, State: model.StateExited, Volumes: []string{"orphans"}},
		},
		Volumes:          map[string]string{"data": "demo_data"},
		AnonymousVolumes: []string{"orphans", "left-by-renew", "inherited"},
	}
	pl, err := Down(p, obs, DownOptions{Volumes: true})
	if err != nil {
		t.Fatal(err)
	}
	check(t, pl, `
1 orphan demo-gone-1
2 stop demo-db-1
3 remove demo-db-1 after 2
4 remove volume demo_data after 3
5 remove volume inherited after 3
6 remove volume left-by-renew after 3
`)
	// Without -v no volume goes, anonymous or not.
	pl, err = Down(p, obs, DownOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(pl.String(), "volume") {
		t.Fatalf("down without -v removes volumes:\n%s", pl)
	}
}

func TestValidateRefusesWhatTheExecutorCannotRun(t *testing.T) {
	p := stack()
	obs := observedAll(p)
	p.Services[3].Environment = map[string]*string{"NEW": nil}
	p.Services[3].ConfigHash = model.Hash(p.Services[3])
	pl, err := Up(p, obs, UpOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := pl.Validate(); err != nil {
		t.Fatalf("the planner's own plan: %v", err)
	}
	for name, bad := range map[string]*Plan{
		"rename without a name":  {Ops: []*Op{{ID: 1, Kind: Rename, Name: "x"}}},
		"replacement without ID": {Ops: []*Op{{ID: 1, Kind: Create, Name: "x", Replaces: &Replacement{Name: "y"}}}},
		"forward dependency":     {Ops: []*Op{{ID: 1, Kind: Start, Name: "x", Deps: []int{2}}, {ID: 2, Kind: Start, Name: "y"}}},
		"IDs out of order":       {Ops: []*Op{{ID: 2, Kind: Start, Name: "x"}}},
	} {
		if err := bad.Validate(); err == nil || !strings.HasPrefix(err.Error(), "invalid plan: ") {
			t.Errorf("%s: got %v", name, err)
		}
	}
}

// A build that names another service's image as a context (service:NAME)
// waits for that image's build, whichever order the services are listed in.
func TestBuildWaitsForTheServiceItUsesAsAContext(t *testing.T) {
	p := &model.Project{Name: "demo", Services: []model.Service{
		{Name: "app", Image: "demo-app", Replicas: 1, Build: &model.Build{Context: "/src/app",
			AdditionalContexts: map[string]string{"base": "service:base", "docs": "/src/docs"}}},
		{Name: "base", Image: "demo-base", Replicas: 1, Build: &model.Build{Context: "/src/base"}},
		// Two services whose contexts name each other: no edge may close the cycle.
		{Name: "x", Image: "demo-x", Replicas: 1, Build: &model.Build{Context: "/src/x", AdditionalContexts: map[string]string{"y": "service:y"}}},
		{Name: "y", Image: "demo-y", Replicas: 1, Build: &model.Build{Context: "/src/y", AdditionalContexts: map[string]string{"x": "service:x"}}},
	}}
	check(t, Builds(p, nil), `
1 build demo-app (build) after 2
2 build demo-base (build)
3 build demo-x (build) after 4
4 build demo-y (build)
`)
	pl, err := Images(p, model.Observed{Images: map[string]string{}}, []string{"app"}, false, false)
	if err != nil {
		t.Fatal(err)
	}
	// Only app was asked for and base is not one of its dependencies:
	// base's image is the builder's to find, nothing to wait for here.
	check(t, pl, `
1 build demo-app (image missing)
`)
}

func TestUpNoStartCreatesOnly(t *testing.T) {
	p := stack()
	pl, err := Up(p, model.Observed{}, UpOptions{NoStart: true, Wait: true, Services: []string{"migrate"}})
	if err != nil {
		t.Fatal(err)
	}
	check(t, pl, `
1 create network demo_default
2 create volume demo_data
3 create demo-db-1 after 1,2
4 create demo-migrate-1 after 1,2
`)
}

func TestUpAlwaysRecreateDepsRecreatesOnlyDependencies(t *testing.T) {
	p := stack()
	obs := observedAll(p)
	pl, err := Up(p, obs, UpOptions{AlwaysRecreateDeps: true, Services: []string{"migrate"}})
	if err != nil {
		t.Fatal(err)
	}
	s := pl.String()
	if !strings.Contains(s, "stop demo-db-1 (--always-recreate-deps)") {
		t.Fatalf("db, migrate's dependency, is not recreated:\n%s", s)
	}
	if strings.Contains(s, "create migrate-id") {
		t.Fatalf("migrate, the service named, is recreated though unchanged:\n%s", s)
	}
}

func TestDownOfServicesTakesTheirDependentsAndLeavesWhatOthersUse(t *testing.T) {
	p := stack()
	obs := observedAll(p)
	for i := range obs.Containers {
		obs.Containers[i].Networks = []string{"demo_default"}
		if obs.Containers[i].Service == "db" {
			obs.Containers[i].Volumes = []string{"demo_data"}
		}
	}
	// migrate: api depends on it, web on api; db stays, with the network
	// and the volume it uses. Only the default-named image of a built
	// service goes with local.
	pl, err := Down(p, obs, DownOptions{Services: []string{"migrate"}, Volumes: true, Images: RmiLocal})
	if err != nil {
		t.Fatal(err)
	}
	check(t, pl, `
1 stop demo-web-1
2 remove demo-web-1 after 1
3 stop demo-api-1 after 1
4 remove demo-api-1 after 3
5 stop demo-api-2 after 1
6 remove demo-api-2 after 5
7 stop demo-migrate-1 after 3,5
8 remove demo-migrate-1 after 7
9 remove image demo-api after 2,4,6,8
`)
	// db too: nothing is left, so everything goes; all takes every image.
	pl, err = Down(p, obs, DownOptions{Services: []string{"db"}, Volumes: true, Images: RmiAll})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"remove network demo_default", "remove volume demo_data", "remove image db:1", "remove image demo-api", "remove image web:1"} {
		if !strings.Contains(pl.String(), want) {
			t.Errorf("no %q in:\n%s", want, pl)
		}
	}
}

func TestResourcesCreatesOnlyWhatTheServicesUseAndIsMissing(t *testing.T) {
	p := stack()
	check(t, Resources(p, model.Observed{}, []string{"db"}), `
1 create network demo_default
2 create volume demo_data
`)
	check(t, Resources(p, model.Observed{Networks: map[string]string{"default": "demo_default"}}, []string{"web"}), "")
}
