package docker

import (
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"

	"devstack/engine"
	"devstack/engine/model"
)

func ptr[T any](v T) *T { return &v }

// fullService sets every field the runtime maps.
func fullService() (*model.Project, *model.Service) {
	p := &model.Project{
		Name: "demo", WorkingDir: "/src/demo", ConfigFiles: []string{"/src/demo/compose.yaml", "/src/demo/compose.override.yaml"},
		Networks: map[string]model.Network{"front": {Name: "demo_front"}, "back": {Name: "demo_back"}},
		Volumes:  map[string]model.Volume{"data": {Name: "demo_data"}},
	}
	grace := 1500 * time.Millisecond
	svc := &model.Service{
		Name: "api", Image: "demo-api:dev",
		Command: []string{"serve", "--port", "80"}, Entrypoint: []string{"/bin/app"},
		Environment: map[string]*string{"A": ptr("1"), "UNSET": nil},
		WorkingDir:  "/app", User: "1000:1000", Hostname: "apihost", Domainname: "example.test",
		ExtraHosts: []string{"db.local:10.0.0.5"}, DNS: []string{"1.1.1.1"},
		Labels: map[string]string{"team": "core", model.LabelProject: "spoofed"},
		Init:   ptr(true), Privileged: true, ReadOnly: true, Tty: true, StdinOpen: true,
		CapAdd: []string{"NET_ADMIN"}, CapDrop: []string{"MKNOD"}, SecurityOpt: []string{"no-new-privileges:true"},
		Sysctls: map[string]string{"net.core.somaxconn": "1024"},
		Ulimits: map[string]model.Ulimit{"nofile": {Soft: 1024, Hard: 2048}, "core": {Soft: 0, Hard: 0}},
		ShmSize: 64 << 20, MemLimit: 256 << 20, NanoCPUs: 1_500_000_000, PidsLimit: 100,
		StopSignal: "SIGINT", StopGracePeriod: &grace, Restart: "on-failure:3",
		Expose: []string{"9000", "9100-9101/udp"},
		Ports: []model.Port{
			{Target: 80, Published: "8080", Protocol: "tcp"},
			{Target: 53, Published: "", Protocol: "udp", HostIP: "127.0.0.1"},
			{Target: 443, Published: "8443-8444"},
		},
		Volumes: []model.Mount{
			{Type: model.MountVolume, Source: "data", Target: "/data", NoCopy: true},
			{Type: model.MountBind, Source: "/src/demo/conf", Target: "/conf", ReadOnly: true, CreateHostPath: true},
			{Type: model.MountBind, Source: "/src/demo/must", Target: "/must"},
			{Type: model.MountVolume, Target: "/cache"},
			{Type: model.MountTmpfs, Target: "/scratch", TmpfsSize: 1 << 20},
		},
		Tmpfs:    []string{"/run:size=1m"},
		Networks: map[string]model.ServiceNetwork{"back": {Aliases: []string{"backend"}}, "front": {Priority: 10, IPv4Address: "172.30.0.5"}},
		DependsOn: map[string]model.Dependency{
			"db":    {Condition: model.ConditionHealthy, Restart: true},
			"cache": {Condition: model.ConditionStarted},
		},
		Healthcheck: &model.Healthcheck{Test: []string{"CMD-SHELL", "true"}, Interval: time.Second, Timeout: 2 * time.Second, StartPeriod: 3 * time.Second, Retries: 4},
		Logging:     &model.Logging{Driver: "json-file", Options: map[string]string{"max-size": "1m"}},
		Platform:    "linux/arm64/v8",
		ConfigHash:  "abc123",
	}
	return p, svc
}

func TestContainerSpecMapsEveryField(t *testing.T) {
	p, svc := fullService()
	s, err := containerSpec(p, svc, 2, engine.CreateOptions{Replace: "old-id"}, refs{networkMode: svc.NetworkMode})
	if err != nil {
		t.Fatal(err)
	}
	if s.name != "demo-api-2" {
		t.Errorf("name = %q", s.name)
	}
	c, h := s.config, s.host
	check := func(what string, got, want any) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %#v, want %#v", what, got, want)
		}
	}
	check("image", c.Image, "demo-api:dev")
	check("cmd", []string(c.Cmd), svc.Command)
	check("entrypoint", []string(c.Entrypoint), svc.Entrypoint)
	check("env", c.Env, []string{"A=1", "UNSET"})
	check("workdir", c.WorkingDir, "/app")
	check("user", c.User, "1000:1000")
	check("hostname", c.Hostname, "apihost")
	check("domainname", c.Domainname, "example.test")
	check("tty", c.Tty, true)
	check("stdin", c.OpenStdin, true)
	check("stop signal", c.StopSignal, "SIGINT")
	check("stop timeout", *c.StopTimeout, 2) // rounded up, never cut short
	check("healthcheck", *c.Healthcheck, container.HealthConfig{Test: []string{"CMD-SHELL", "true"}, Interval: time.Second, Timeout: 2 * time.Second, StartPeriod: 3 * time.Second, Retries: 4})
	check("platform", [3]string{s.platform.OS, s.platform.Architecture, s.platform.Variant}, [3]string{"linux", "arm64", "v8"})

	wantLabels := map[string]string{
		"team":                 "core",
		model.LabelProject:     "demo",
		model.LabelService:     "api",
		model.LabelNumber:      "2",
		model.LabelOneOff:      "False",
		model.LabelConfigHash:  "abc123",
		model.LabelWorkingDir:  "/src/demo",
		model.LabelConfigFiles: "/src/demo/compose.yaml,/src/demo/compose.override.yaml",
		model.LabelDependsOn:   "cache:service_started:false,db:service_healthy:true",
		model.LabelImage:       "demo-api:dev",
		model.LabelVersion:     version,
		model.LabelManagedBy:   "devstack",
		model.LabelReplace:     "old-id",
	}
	check("labels", c.Labels, wantLabels)

	check("init", *h.Init, true)
	check("privileged", h.Privileged, true)
	check("read only", h.ReadonlyRootfs, true)
	check("cap add", h.CapAdd, []string{"NET_ADMIN"})
	check("cap drop", h.CapDrop, []string{"MKNOD"})
	check("security opt", h.SecurityOpt, []string{"no-new-privileges:true"})
	check("sysctls", h.Sysctls, map[string]string{"net.core.somaxconn": "1024"})
	check("ulimits", h.Ulimits, []*container.Ulimit{{Name: "core"}, {Name: "nofile", Soft: 1024, Hard: 2048}})
	check("shm", h.ShmSize, int64(64<<20))
	check("memory", h.Memory, int64(256<<20))
	check("nano cpus", h.NanoCPUs, int64(1_500_000_000))
	check("pids", *h.PidsLimit, int64(100))
	check("extra hosts", h.ExtraHosts, []string{"db.local:10.0.0.5"})
	check("dns", h.DNS, []netip.Addr{netip.MustParseAddr("1.1.1.1")})
	check("restart", h.RestartPolicy, container.RestartPolicy{Name: container.RestartPolicyOnFailure, MaximumRetryCount: 3})
	check("logging", h.LogConfig, container.LogConfig{Type: "json-file", Config: map[string]string{"max-size": "1m"}})

	for _, e := range []string{"9000/tcp", "9100/udp", "9101/udp", "80/tcp", "53/udp", "443/tcp"} {
		if _, ok := c.ExposedPorts[network.MustParsePort(e)]; !ok {
			t.Errorf("port %s not exposed: %v", e, c.ExposedPorts)
		}
	}
	check("80 binding", h.PortBindings[network.MustParsePort("80/tcp")], []network.PortBinding{{HostPort: "8080"}})
	check("53 binding", h.PortBindings[network.MustParsePort("53/udp")], []network.PortBinding{{HostIP: netip.MustParseAddr("127.0.0.1")}})
	check("443 binding", h.PortBindings[network.MustParsePort("443/tcp")], []network.PortBinding{{HostPort: "8443-8444"}})

	check("binds", h.Binds, []string{"/src/demo/conf:/conf:ro"})
	check("mounts", h.Mounts, []mount.Mount{
		{Type: mount.TypeVolume, Source: "demo_data", Target: "/data", VolumeOptions: &mount.VolumeOptions{NoCopy: true}},
		{Type: mount.TypeBind, Source: "/src/demo/must", Target: "/must"},
		{Type: mount.TypeVolume, Target: "/cache", VolumeOptions: &mount.VolumeOptions{Labels: map[string]string{model.LabelProject: "demo"}}},
		{Type: mount.TypeTmpfs, Target: "/scratch", TmpfsOptions: &mount.TmpfsOptions{SizeBytes: 1 << 20}},
	})
	check("tmpfs", h.Tmpfs, map[string]string{"/run": "size=1m"})

	// front has the higher priority: joined at create; back after.
	check("network mode", string(h.NetworkMode), "demo_front")
	front := s.network.EndpointsConfig["demo_front"]
	if front == nil || len(s.network.EndpointsConfig) != 1 {
		t.Fatalf("endpoints at create = %v", s.network.EndpointsConfig)
	}
	check("front aliases", front.Aliases, []string{"demo-api-2", "api"})
	check("front ip", front.IPAMConfig.IPv4Address, netip.MustParseAddr("172.30.0.5"))
	if len(s.extra) != 1 || s.extra[0].name != "demo_back" {
		t.Fatalf("extra networks = %v", s.extra)
	}
	check("back aliases", s.extra[0].settings.Aliases, []string{"demo-api-2", "api", "backend"})
}

func TestContainerSpecOneOffAndOverrides(t *testing.T) {
	p, svc := fullService()
	s, err := containerSpec(p, svc, 1, engine.CreateOptions{OneOff: true, Command: []string{"sh"}, Tty: ptr(false), Stdin: true, AutoRemove: true, NoPorts: true}, refs{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(s.name, "demo-api-run-") || len(s.name) != len("demo-api-run-")+12 {
		t.Errorf("one-off name = %q", s.name)
	}
	if got := s.config.Labels[model.LabelOneOff]; got != "True" {
		t.Errorf("oneoff label = %q", got)
	}
	if !slices.Equal(s.config.Cmd, []string{"sh"}) || s.config.Tty || !s.config.AttachStdin || !s.config.StdinOnce {
		t.Errorf("overrides not applied: cmd %v tty %v stdin %v", s.config.Cmd, s.config.Tty, s.config.AttachStdin)
	}
	if len(s.host.PortBindings) != 0 || !s.host.AutoRemove || s.host.RestartPolicy.Name != "" {
		t.Errorf("run without ports, auto-removed, no restart: %v %v %v", s.host.PortBindings, s.host.AutoRemove, s.host.RestartPolicy)
	}
	// A one-off does not answer to the service's name.
	if a := s.network.EndpointsConfig["demo_front"].Aliases; !slices.Equal(a, []string{s.name}) {
		t.Errorf("one-off aliases = %v", a)
	}

	svc.ContainerName = "fixed"
	s, _ = containerSpec(p, svc, 1, engine.CreateOptions{}, refs{})
	if s.name != "fixed" {
		t.Errorf("container_name ignored: %q", s.name)
	}
}

func TestContainerSpecNetworkModes(t *testing.T) {
	p, svc := fullService()
	for mode, want := range map[string]string{"host": "host", "none": "none", "container:abc": "container:abc"} {
		s, err := containerSpec(p, svc, 1, engine.CreateOptions{}, refs{networkMode: mode})
		if err != nil {
			t.Fatal(err)
		}
		if string(s.host.NetworkMode) != want || len(s.network.EndpointsConfig) != 0 || len(s.extra) != 0 {
			t.Errorf("%s: mode %q endpoints %v extra %v", mode, s.host.NetworkMode, s.network.EndpointsConfig, s.extra)
		}
	}
}

func TestContainerSpecHealthcheckNone(t *testing.T) {
	p, svc := fullService()
	svc.Healthcheck = &model.Healthcheck{Disable: true}
	s, _ := containerSpec(p, svc, 1, engine.CreateOptions{}, refs{})
	if !slices.Equal(s.config.Healthcheck.Test, []string{"NONE"}) {
		t.Errorf("disabled healthcheck = %v", s.config.Healthcheck.Test)
	}
}

func TestContainerSpecBadInput(t *testing.T) {
	for name, mutate := range map[string]func(*model.Service){
		"restart":  func(s *model.Service) { s.Restart = "sometimes" },
		"count":    func(s *model.Service) { s.Restart = "on-failure:x" },
		"dns":      func(s *model.Service) { s.DNS = []string{"dns.example"} },
		"expose":   func(s *model.Service) { s.Expose = []string{"http"} },
		"host ip":  func(s *model.Service) { s.Ports = []model.Port{{Target: 80, HostIP: "localhost"}} },
		"target":   func(s *model.Service) { s.Ports = []model.Port{{Target: 70000}} },
		"platform": func(s *model.Service) { s.Platform = "arm64" },
		"mount":    func(s *model.Service) { s.Volumes = []model.Mount{{Type: "npipe", Target: "/x"}} },
		"ipv4": func(s *model.Service) {
			s.Networks = map[string]model.ServiceNetwork{"front": {IPv4Address: "fe80::1"}}
		},
	} {
		p, svc := fullService()
		mutate(svc)
		if _, err := containerSpec(p, svc, 1, engine.CreateOptions{}, refs{}); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestRestartPolicies(t *testing.T) {
	for in, want := range map[string]container.RestartPolicy{
		"":               {Name: container.RestartPolicyDisabled},
		"no":             {Name: container.RestartPolicyDisabled},
		"always":         {Name: container.RestartPolicyAlways},
		"unless-stopped": {Name: container.RestartPolicyUnlessStopped},
		"on-failure":     {Name: container.RestartPolicyOnFailure},
		"on-failure:5":   {Name: container.RestartPolicyOnFailure, MaximumRetryCount: 5},
	} {
		got, err := restartPolicy(in)
		if err != nil || got != want {
			t.Errorf("%q: %v %v, want %v", in, got, err, want)
		}
	}
}

func TestSecondsRoundsUp(t *testing.T) {
	for d, want := range map[time.Duration]int{0: 0, time.Millisecond: 1, time.Second: 1, 1500 * time.Millisecond: 2, 10 * time.Second: 10} {
		if got := *seconds(&d); got != want {
			t.Errorf("%v -> %d, want %d", d, got, want)
		}
	}
	if seconds(nil) != nil {
		t.Error("nil must stay nil (the container's own timeout)")
	}
}

func TestAnonymousVolumesAreLabelledAndCarriedOverOnRecreate(t *testing.T) {
	p, svc := fullService()
	// The replacement is made under Compose's temporary name, but answers
	// on its networks to the name it is about to take.
	s, err := containerSpec(p, svc, 2, engine.CreateOptions{Name: "0123456789ab_demo-api-2", Replace: "0123456789abcdef"}, refs{})
	if err != nil {
		t.Fatal(err)
	}
	if s.name != "0123456789ab_demo-api-2" {
		t.Errorf("name = %q", s.name)
	}
	if got := s.network.EndpointsConfig["demo_front"].Aliases; !slices.Contains(got, "demo-api-2") || slices.Contains(got, s.name) {
		t.Errorf("aliases = %v, want the final name and not the temporary one", got)
	}

	old := []container.MountPoint{
		{Type: mount.TypeVolume, Name: "anon-cache", Destination: "/cache"},
		{Type: mount.TypeVolume, Name: "anon-image", Destination: "/var/lib/img/"},
		{Type: mount.TypeVolume, Name: "demo_data", Destination: "/data"},      // named: stays named
		{Type: mount.TypeVolume, Name: "anon-conf", Destination: "/conf"},      // now a bind
		{Type: mount.TypeVolume, Name: "anon-gone", Destination: "/dropped"},   // no longer wanted
		{Type: mount.TypeBind, Source: "/src/demo/must", Destination: "/must"}, // not a volume
	}
	// /data, /conf and /run are covered by the service's own mounts,
	// /shared by volumes_from.
	anonymousVolumes(s.host, p, []string{"/var/lib/img", "/data", "/conf", "/run", "/fresh", "/shared"}, []string{"/shared/"}, old)
	got := map[string]mount.Mount{}
	for _, m := range s.host.Mounts {
		got[m.Target] = m
	}
	labelled := &mount.VolumeOptions{Labels: map[string]string{model.LabelProject: "demo"}}
	for target, want := range map[string]mount.Mount{
		"/cache":       {Type: mount.TypeVolume, Source: "anon-cache", Target: "/cache"},
		"/var/lib/img": {Type: mount.TypeVolume, Source: "anon-image", Target: "/var/lib/img"},
		"/fresh":       {Type: mount.TypeVolume, Target: "/fresh", VolumeOptions: labelled},
		"/data":        {Type: mount.TypeVolume, Source: "demo_data", Target: "/data", VolumeOptions: &mount.VolumeOptions{NoCopy: true}},
	} {
		if !reflect.DeepEqual(got[target], want) {
			t.Errorf("%s: %+v, want %+v", target, got[target], want)
		}
	}
	// /shared comes through volumes_from: the engine mounts the other
	// container's volume there.
	for _, target := range []string{"/dropped", "/run", "/shared"} {
		if _, ok := got[target]; ok {
			t.Errorf("%s mounted: %+v", target, got[target])
		}
	}
	if n := len(s.host.Mounts); n != 6 { // the service's 4 (its other bind is in Binds) and the image's 2
		t.Errorf("%d mounts: %+v", n, s.host.Mounts)
	}

	// -V (no old mounts): every anonymous volume is a fresh, labelled one.
	s, _ = containerSpec(p, svc, 2, engine.CreateOptions{}, refs{})
	anonymousVolumes(s.host, p, []string{"/var/lib/img"}, nil, nil)
	for _, m := range s.host.Mounts {
		if m.Type == mount.TypeVolume && m.Source == "" && (m.VolumeOptions == nil || m.VolumeOptions.Labels[model.LabelProject] != "demo") {
			t.Errorf("anonymous volume at %s is not labelled with the project: %+v", m.Target, m)
		}
	}
}
