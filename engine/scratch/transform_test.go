package scratch

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"devstack/engine/model"
)

func devProject() *model.Project {
	one := func(s model.Service) model.Service {
		s.Replicas = 1
		s.Networks = map[string]model.ServiceNetwork{"default": {}}
		return s
	}
	p := &model.Project{
		Name:       "shop",
		WorkingDir: "/src/shop",
		Networks: map[string]model.Network{
			"default": {Name: "shop_default", Subnets: []string{"172.30.0.0/24"}},
			"proxy":   {Name: "traefik", External: true},
		},
		Volumes: map[string]model.Volume{
			"data":   {Name: "shop_data"},
			"shared": {Name: "company-shared", External: true},
		},
		Services: []model.Service{
			one(model.Service{Name: "api", Image: "shop-api",
				Build:         &model.Build{Context: "/src/shop/api", Tags: []string{"registry/shop-api:dev"}},
				ContainerName: "shop-api",
				Ports:         []model.Port{{Target: 80, Published: "8080", Protocol: "tcp"}, {Target: 9000, Published: "9000-9001", HostIP: "127.0.0.1", Protocol: "tcp"}},
				Volumes: []model.Mount{
					{Type: model.MountBind, Source: "/src/shop/api", Target: "/app"},
					{Type: model.MountBind, Source: "/src/shop/certs/dev.pem", Target: "/etc/dev.pem"},
					{Type: model.MountVolume, Source: "data", Target: "/data"},
					{Type: model.MountTmpfs, Target: "/tmp"},
				},
				DependsOn: map[string]model.Dependency{"db": {Condition: model.ConditionHealthy, Required: true}}}),
			one(model.Service{Name: "db", Image: "postgres:16",
				Healthcheck: &model.Healthcheck{Test: []string{"CMD", "pg_isready"}},
				Volumes:     []model.Mount{{Type: model.MountVolume, Source: "data", Target: "/var/lib/postgresql/data"}}}),
			one(model.Service{Name: "cache", Image: "redis:7"}),
			one(model.Service{Name: "worker", Image: "shop-api"}), // runs the image api builds
			one(model.Service{Name: "web", Image: "shop-web", Build: &model.Build{Context: "/src/shop/web"}}),
			{Name: "debug", Image: "busybox", Replicas: 0},
		},
	}
	for i := range p.Services {
		p.Services[i].ConfigHash = model.Hash(p.Services[i])
	}
	return p
}

func TestNewStackIsolatesACopy(t *testing.T) {
	dev := devProject()
	before, _ := json.Marshal(dev)
	st, err := NewStack(dev, StackOptions{Name: "shop-scratch-abc123", ImageTag: "abc123-1", KeepMounts: []string{"/src/shop/certs"}})
	if err != nil {
		t.Fatal(err)
	}
	after, _ := json.Marshal(dev)
	if string(before) != string(after) {
		t.Fatal("NewStack changed the dev project")
	}
	p := st.Project
	if p.Name != "shop-scratch-abc123" {
		t.Errorf("name %q", p.Name)
	}
	for key, n := range p.Networks {
		if n.Name != "shop-scratch-abc123_"+key || n.External || len(n.Subnets) > 0 {
			t.Errorf("network %s: %+v", key, n)
		}
	}
	for key, v := range p.Volumes {
		if v.Name != "shop-scratch-abc123_"+key || v.External {
			t.Errorf("volume %s: %+v", key, v)
		}
	}
	api, _ := p.Service("api")
	if api.Image != "devstack-scratch/shop-api:abc123-1" || len(api.Build.Tags) != 0 {
		t.Errorf("api image %q tags %v", api.Image, api.Build.Tags)
	}
	worker, _ := p.Service("worker")
	if worker.Image != api.Image {
		t.Errorf("worker runs %q, not the scratch build of api %q", worker.Image, api.Image)
	}
	db, _ := p.Service("db")
	if db.Image != "postgres:16" {
		t.Errorf("pulled image changed: %q", db.Image)
	}
	if want := []string{"devstack-scratch/shop-api:abc123-1", "devstack-scratch/shop-web:abc123-1"}; !reflect.DeepEqual(st.Images, want) {
		t.Errorf("images %v, want %v", st.Images, want)
	}
	if api.ContainerName != "" {
		t.Errorf("container_name kept: %q", api.ContainerName)
	}
	for _, port := range api.Ports {
		if port.Published != "" {
			t.Errorf("port %d still published on %q", port.Target, port.Published)
		}
	}
	if api.Ports[1].HostIP != "127.0.0.1" {
		t.Errorf("host IP lost: %+v", api.Ports[1])
	}
	var kinds []string
	for _, m := range api.Volumes {
		kinds = append(kinds, m.Type+":"+m.Target)
	}
	if got := strings.Join(kinds, " "); got != "bind:/etc/dev.pem volume:/data tmpfs:/tmp" {
		t.Errorf("api mounts: %s", got)
	}
	if d := st.Dropped["api"]; len(d) != 1 || d[0].Source != "/src/shop/api" {
		t.Errorf("dropped: %+v", st.Dropped)
	}
	if api.ConfigHash != model.Hash(*api) {
		t.Error("config hash not recomputed")
	}
}

func TestNewStackKeepsBindsReadOnlyWhenAsked(t *testing.T) {
	st, err := NewStack(devProject(), StackOptions{Name: "x", ImageTag: "1", KeepBinds: true})
	if err != nil {
		t.Fatal(err)
	}
	api, _ := st.Project.Service("api")
	binds := 0
	for _, m := range api.Volumes {
		if m.Type == model.MountBind {
			binds++
			if !m.ReadOnly {
				t.Errorf("bind %s is writable", m.Target)
			}
		}
	}
	if binds != 2 || len(st.Dropped) != 0 {
		t.Errorf("binds %d dropped %v", binds, st.Dropped)
	}
}

func TestStartOrders(t *testing.T) {
	dev := devProject()
	devOrder, err := startOrder(dev, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Dependencies first, ties by name; debug has no replica.
	if got := strings.Join(devOrder, " "); got != "cache db api web worker" {
		t.Errorf("dev order: %s", got)
	}
	scratch, _ := startOrder(dev, false, nil)
	// The reverse among services free to start; api still after db.
	if got := strings.Join(scratch, " "); got != "worker web db api cache" {
		t.Errorf("adversarial order: %s", got)
	}
}

// With a dev environment running, its containers' real start times make
// the dev order (declared dependencies still first), and the adversarial
// order is its reverse: here neither is the order of names.
func TestStartOrdersFromStartTimes(t *testing.T) {
	dev := devProject()
	t0 := time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC)
	s := 5 * time.Second // by hand: more than concurrentStarts apart
	started := map[string]time.Time{"worker": t0, "web": t0.Add(s), "cache": t0.Add(2 * s),
		"db": t0.Add(3 * s), "api": t0.Add(4 * s)}
	devOrder, _ := startOrder(dev, true, started)
	if got := strings.Join(devOrder, " "); got != "worker web cache db api" {
		t.Errorf("dev order: %s", got)
	}
	scratch, _ := startOrder(dev, false, started)
	if got := strings.Join(scratch, " "); got != "db api cache web worker" {
		t.Errorf("adversarial order: %s", got)
	}
	// Started by hand in an order that breaks a declared dependency (api
	// before db, with --no-deps): the declared one still comes first.
	started = map[string]time.Time{"api": t0, "db": t0.Add(s)}
	devOrder, _ = startOrder(dev, true, started)
	if got := strings.Join(devOrder, " "); got != "db api cache web worker" {
		t.Errorf("dev order with api started first: %s", got)
	}
	// Only web runs: it came first; the rest keep the dependency order.
	devOrder, _ = startOrder(dev, true, map[string]time.Time{"web": t0})
	if got := strings.Join(devOrder, " "); got != "web cache db api worker" {
		t.Errorf("dev order with only web running: %s", got)
	}
	// Started together by one up (within concurrentStarts, in whatever
	// order the engine got to them): the dependency order stands, and the
	// adversarial one reverses it; a later wave still comes after.
	started = map[string]time.Time{"worker": t0, "web": t0.Add(300 * time.Millisecond), "cache": t0.Add(600 * time.Millisecond),
		"db": t0.Add(900 * time.Millisecond), "api": t0.Add(20 * time.Second)}
	devOrder, _ = startOrder(dev, true, started)
	if got := strings.Join(devOrder, " "); got != "cache db web worker api" {
		t.Errorf("dev order of one parallel up then api: %s", got)
	}
	scratch, _ = startOrder(dev, false, started)
	if got := strings.Join(scratch, " "); got != "worker web db api cache" {
		t.Errorf("adversarial order of one parallel up then api: %s", got)
	}
}

func TestStackStartsOneAtATime(t *testing.T) {
	st, err := NewStack(devProject(), StackOptions{Name: "x", ImageTag: "1"})
	if err != nil {
		t.Fatal(err)
	}
	deps := func(name string) string {
		s, _ := st.Project.Service(name)
		var out []string
		for _, d := range sortedKeys(s.DependsOn) {
			out = append(out, d+"="+s.DependsOn[d].Condition)
		}
		return strings.Join(out, ",")
	}
	want := map[string]string{
		"worker": "",
		"web":    "worker=service_started",
		"db":     "web=service_started",
		"api":    "db=service_healthy", // declared: kept as it is
		"cache":  "api=service_started",
	}
	for svc, w := range want {
		if got := deps(svc); got != w {
			t.Errorf("%s depends on %q, want %q", svc, got, w)
		}
	}
	// The dev project's services keep their own dependencies.
	dev := devProject()
	if web, _ := dev.Service("web"); len(web.DependsOn) != 0 {
		t.Error("dev project changed")
	}
}

func TestPortEnv(t *testing.T) {
	cs := []model.Container{
		{Service: "web-app", Number: 2, Ports: []model.PublishedPort{{HostPort: 1111, Target: 80, Protocol: "tcp"}}},
		{Service: "web-app", Number: 1, Ports: []model.PublishedPort{
			{HostIP: "0.0.0.0", HostPort: 32768, Target: 80, Protocol: "tcp"},
			{HostIP: "::", HostPort: 32768, Target: 80, Protocol: "tcp"},
			{HostPort: 32770, Target: 53, Protocol: "udp"},
			{Target: 9000, Protocol: "tcp"},
		}},
		{Service: "run", OneOff: true, Ports: []model.PublishedPort{{HostPort: 5, Target: 5, Protocol: "tcp"}}},
	}
	got := strings.Join(PortEnv("127.0.0.1", "p-scratch-1", cs), " ")
	want := "DEVSTACK_HOST=127.0.0.1 DEVSTACK_PROJECT=p-scratch-1 DEVSTACK_PORT_WEB_APP_53_UDP=32770 DEVSTACK_PORT_WEB_APP_80=32768"
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	for host, want := range map[string]string{"unix:///var/run/docker.sock": "127.0.0.1", "tcp://10.0.0.5:2376": "10.0.0.5", "ssh://me@build.example:22": "build.example"} {
		if got := publishHost(host); got != want {
			t.Errorf("publishHost(%s) = %s, want %s", host, got, want)
		}
	}
}
