package docker

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"

	"devstack/engine"
	"devstack/engine/model"
)

// TestEngineFields creates one container per case on the real engine and
// checks what the engine received (its inspect), for the fields of
// namespaces, links, devices, resources and per-network settings. A case
// with start also starts the container: the engine accepted the setting
// at run time too.
func TestEngineFields(t *testing.T) {
	t.Parallel()
	r, img := newTestRuntime(t)
	ctx := testCtx(t, 3*time.Minute)
	p := newProject(t)
	b := randomHex(2)
	p.Networks["front"] = model.Network{Name: p.Name + "_front", EnableIPv6: true,
		Subnets: []string{fmt.Sprintf("fd%s:%s::/64", b[:2], b)}}
	if err := r.CreateNetwork(ctx, p, "front"); err != nil {
		t.Fatal(err)
	}
	// db: the container the service: references point at.
	db := model.Service{Name: "db", Image: img, Command: idle, Replicas: 1, Ipc: "shareable",
		Volumes:  []model.Mount{{Type: model.MountVolume, Target: "/shared"}},
		Networks: map[string]model.ServiceNetwork{"front": {}}}
	db.ConfigHash = model.Hash(db)
	p.Services = append(p.Services, db)
	dbID, err := r.CreateContainer(ctx, p, &p.Services[0], 1, engine.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.StartContainer(ctx, dbID); err != nil {
		t.Fatal(err)
	}
	dbName := p.Name + "-db-1"
	front := p.Name + "_front"

	var warned []string // what the engine said of the last create
	cases := []struct {
		name    string
		svc     model.Service
		start   bool
		wantErr string // the create is refused with this
		check   func(t *testing.T, c container.InspectResponse)
	}{
		{name: "namespaces", start: true,
			svc: model.Service{Ipc: "service:db", Pid: "service:db", Uts: "host"},
			check: func(t *testing.T, c container.InspectResponse) {
				h := c.HostConfig
				if h.IpcMode != container.IpcMode("container:"+dbID) || h.PidMode != container.PidMode("container:"+dbID) || h.UTSMode != "host" {
					t.Errorf("ipc %q pid %q uts %q, want container:%s twice and host", h.IpcMode, h.PidMode, h.UTSMode, dbID)
				}
			}},
		{name: "uts of another container is refused", svc: model.Service{Uts: "service:db"},
			wantErr: "shares only the host's UTS namespace"},
		{name: "volumes_from a service, read-only", start: true, svc: model.Service{VolumesFrom: []string{"db:ro"}},
			check: func(t *testing.T, c container.InspectResponse) {
				if !slices.Equal(c.HostConfig.VolumesFrom, []string{dbID + ":ro"}) {
					t.Errorf("volumes_from = %v", c.HostConfig.VolumesFrom)
				}
				if m := mountAt(c, "/shared"); m == nil || m.RW {
					t.Errorf("/shared = %+v, want db's volume read-only", m)
				}
			}},
		{name: "volumes_from a container", svc: model.Service{VolumesFrom: []string{"container:" + dbName + ":rw"}},
			check: func(t *testing.T, c container.InspectResponse) {
				if !slices.Equal(c.HostConfig.VolumesFrom, []string{dbName + ":rw"}) {
					t.Errorf("volumes_from = %v", c.HostConfig.VolumesFrom)
				}
			}},
		{name: "links and external_links", start: true,
			svc: model.Service{Links: []string{"db:database"}, ExternalLinks: []string{dbName + ":legacy"},
				Networks: map[string]model.ServiceNetwork{"front": {}}},
			check: func(t *testing.T, c container.InspectResponse) {
				ep := c.NetworkSettings.Networks[front]
				if ep == nil {
					t.Fatalf("not on %s: %v", front, c.NetworkSettings.Networks)
				}
				for _, want := range []string{dbName + ":database", dbName + ":legacy"} {
					if !slices.Contains(ep.Links, want) {
						t.Errorf("endpoint links %v lack %s", ep.Links, want)
					}
				}
			}},
		{name: "groups, dns, runtime", start: true,
			svc: model.Service{GroupAdd: []string{"1234", "5678"}, DNSSearch: []string{"example.test"}, DNSOpts: []string{"ndots:2"}, Runtime: "runc"},
			check: func(t *testing.T, c container.InspectResponse) {
				h := c.HostConfig
				if !slices.Equal(h.GroupAdd, []string{"1234", "5678"}) || !slices.Equal(h.DNSSearch, []string{"example.test"}) ||
					!slices.Equal(h.DNSOptions, []string{"ndots:2"}) || h.Runtime != "runc" {
					t.Errorf("group_add %v dns_search %v dns_opt %v runtime %q", h.GroupAdd, h.DNSSearch, h.DNSOptions, h.Runtime)
				}
				if out, _, _ := execOut(t, r, c.ID, "grep", "^Groups:", "/proc/1/status"); !strings.Contains(out, "1234") || !strings.Contains(out, "5678") {
					t.Errorf("the process's groups: %q", out)
				}
				if out, _, _ := execOut(t, r, c.ID, "cat", "/etc/resolv.conf"); !strings.Contains(out, "search example.test") || !strings.Contains(out, "ndots:2") {
					t.Errorf("resolv.conf: %q", out)
				}
			}},
		{name: "cpu, memory, oom", start: true,
			svc: model.Service{CPUShares: 512, CPUSet: "0", CPUQuota: 50000, CPUPeriod: 100000,
				MemLimit: 64 << 20, MemReservation: 8 << 20, MemSwapLimit: 128 << 20, OomScoreAdj: 100, OomKillDisable: true},
			check: func(t *testing.T, c container.InspectResponse) {
				h := c.HostConfig
				got := []int64{h.CPUShares, h.CPUQuota, h.CPUPeriod, h.Memory, h.MemoryReservation, h.MemorySwap, int64(h.OomScoreAdj)}
				want := []int64{512, 50000, 100000, 64 << 20, 8 << 20, 128 << 20, 100}
				if !slices.Equal(got, want) || h.CpusetCpus != "0" {
					t.Errorf("resources %v cpuset %q, want %v and 0", got, h.CpusetCpus, want)
				}
				if h.OomKillDisable == nil || !*h.OomKillDisable {
					t.Errorf("oom_kill_disable = %v", h.OomKillDisable)
				}
			}},
		{name: "memory swappiness", start: true,
			svc: model.Service{MemLimit: 64 << 20, MemSwappiness: ptr(int64(10))},
			check: func(t *testing.T, c container.InspectResponse) {
				if h := c.HostConfig; h.MemorySwappiness == nil || *h.MemorySwappiness != 10 {
					t.Errorf("memory swappiness %v, want 10", h.MemorySwappiness)
				}
				// The kernel's own value for the container's cgroup.
				out, err := exec.Command("docker", "exec", c.ID, "cat", "/sys/fs/cgroup/memory/memory.swappiness").CombinedOutput()
				if err != nil {
					t.Skipf("no cgroup v1 memory.swappiness to read here: %v: %s", err, out)
				}
				if strings.TrimSpace(string(out)) != "10" {
					t.Errorf("memory.swappiness in the container is %q, want 10", out)
				}
			}},
		// The engine takes the real-time budget, but its own cgroup has
		// none to give unless dockerd runs with --cpu-rt-runtime: created,
		// not started.
		{name: "cpu real-time period and runtime",
			svc: model.Service{CPURTPeriod: 1000000, CPURTRuntime: 10000},
			check: func(t *testing.T, c container.InspectResponse) {
				if h := c.HostConfig; h.CPURealtimePeriod != 1000000 || h.CPURealtimeRuntime != 10000 {
					t.Errorf("real-time period %d runtime %d, want 1000000 and 10000", h.CPURealtimePeriod, h.CPURealtimeRuntime)
				}
			}},
		{name: "blkio",
			svc: model.Service{Blkio: &model.Blkio{Weight: 300,
				DeviceReadBps: []model.ThrottleDevice{{Path: blockDevice(t), Rate: 1 << 20}}, DeviceWriteIOps: []model.ThrottleDevice{{Path: blockDevice(t), Rate: 30}}}},
			check: func(t *testing.T, c container.InspectResponse) {
				h := c.HostConfig
				if len(h.BlkioDeviceReadBps) != 1 || h.BlkioDeviceReadBps[0].Rate != 1<<20 || len(h.BlkioDeviceWriteIOps) != 1 || h.BlkioDeviceWriteIOps[0].Rate != 30 {
					t.Errorf("blkio read bps %v write iops %v", h.BlkioDeviceReadBps, h.BlkioDeviceWriteIOps)
				}
				// The weight needs a kernel with CFQ/BFQ: the engine
				// discards it where there is none, and says so.
				if h.BlkioWeight != 300 && !strings.Contains(strings.Join(warned, "\n"), "Weight discarded") {
					t.Errorf("blkio weight %d kept, and no warning of it: %q", h.BlkioWeight, warned)
				}
				t.Logf("blkio weight kept: %d; warnings: %q", h.BlkioWeight, warned)
			}},
		{name: "devices and cgroup rules", start: true,
			svc: model.Service{Devices: []model.Device{{Source: "/dev/null", Target: "/dev/mynull", Permissions: "rwm"}}, DeviceCgroupRules: []string{"c 1:3 mr"}},
			check: func(t *testing.T, c container.InspectResponse) {
				h := c.HostConfig
				if len(h.Devices) != 1 || h.Devices[0] != (container.DeviceMapping{PathOnHost: "/dev/null", PathInContainer: "/dev/mynull", CgroupPermissions: "rwm"}) ||
					!slices.Equal(h.DeviceCgroupRules, []string{"c 1:3 mr"}) {
					t.Errorf("devices %v rules %v", h.Devices, h.DeviceCgroupRules)
				}
				if _, _, code := execOut(t, r, c.ID, "test", "-c", "/dev/mynull"); code != 0 {
					t.Error("/dev/mynull is not a character device in the container")
				}
			}},
		{name: "gpus and reserved devices (create only: no GPU here)",
			svc: model.Service{Devices: []model.Device{{Source: "vendor.example/gpu=0", Target: "vendor.example/gpu=0"}},
				DeviceRequests: []model.DeviceRequest{
					{Driver: "nvidia", Count: -1, Capabilities: []string{"gpu"}},
					{Driver: "nvidia", IDs: []string{"0", "1"}, Capabilities: []string{"compute", "gpu"}, Options: map[string]string{"k": "v"}}}},
			check: func(t *testing.T, c container.InspectResponse) {
				want := []container.DeviceRequest{
					{Driver: "cdi", DeviceIDs: []string{"vendor.example/gpu=0"}},
					{Driver: "nvidia", Count: -1, Capabilities: [][]string{{"gpu"}}},
					{Driver: "nvidia", DeviceIDs: []string{"0", "1"}, Capabilities: [][]string{{"compute", "gpu"}}, Options: map[string]string{"k": "v"}},
				}
				got := c.HostConfig.DeviceRequests
				if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", want) {
					t.Errorf("device requests\n got %+v\nwant %+v", got, want)
				}
			}},
		{name: "selinux bind and the engine's socket", start: true,
			svc: model.Service{UseAPISocket: true, Volumes: []model.Mount{{Type: model.MountBind, Source: t.TempDir(), Target: "/src", SELinux: "z", ReadOnly: true}}},
			check: func(t *testing.T, c container.InspectResponse) {
				binds := strings.Join(c.HostConfig.Binds, " ")
				if !strings.Contains(binds, ":/src:ro,z") || !strings.Contains(binds, r.engineSocket()+":/var/run/docker.sock") {
					t.Errorf("binds = %v", c.HostConfig.Binds)
				}
				if _, _, code := execOut(t, r, c.ID, "test", "-S", "/var/run/docker.sock"); code != 0 {
					t.Error("no socket at /var/run/docker.sock in the container")
				}
			}},
		{name: "mac address, ipv6 address and driver options", start: true,
			svc: model.Service{MacAddress: "02:42:ac:11:00:42", Networks: map[string]model.ServiceNetwork{"front": {
				IPv6Address: fmt.Sprintf("fd%s:%s::42", b[:2], b), DriverOpts: map[string]string{"com.example.opt": "1"}}}},
			check: func(t *testing.T, c container.InspectResponse) {
				ep := c.NetworkSettings.Networks[front]
				if ep == nil {
					t.Fatalf("not on %s", front)
				}
				wantIP := netip.MustParseAddr(fmt.Sprintf("fd%s:%s::42", b[:2], b))
				if ep.MacAddress.String() != "02:42:ac:11:00:42" || ep.GlobalIPv6Address != wantIP || ep.DriverOpts["com.example.opt"] != "1" {
					t.Errorf("endpoint mac %s ipv6 %s driver opts %v", ep.MacAddress, ep.GlobalIPv6Address, ep.DriverOpts)
				}
			}},
		{name: "a port published on [::] alone is listed", start: true,
			svc: model.Service{Ports: []model.Port{{Target: 80, HostIP: "::", Protocol: "tcp"}}},
			check: func(t *testing.T, c container.InspectResponse) {
				for _, observe := range []func() (model.Observed, error){
					func() (model.Observed, error) { return r.Observe(ctx, p) },
					func() (model.Observed, error) { return r.ObserveBrief(ctx, p) },
				} {
					obs, err := observe()
					if err != nil {
						t.Fatal(err)
					}
					var ports []string
					for _, oc := range obs.Containers {
						if oc.ID == c.ID {
							for _, pp := range oc.Ports {
								ports = append(ports, engine.FormatPort(pp))
							}
						}
					}
					if len(ports) != 1 || !strings.HasPrefix(ports[0], "[::]:") || !strings.HasSuffix(ports[0], "->80/tcp") {
						t.Errorf("ports as ps shows them: %v, want [::]:PORT->80/tcp", ports)
					}
				}
			}},
		{name: "subpath is refused on an engine older than API 1.45",
			svc:     model.Service{Volumes: []model.Mount{{Type: model.MountVolume, Target: "/v", Subpath: "sub"}}},
			wantErr: "volume.subpath needs Docker Engine API 1.45"},
		{name: "annotations are refused on an engine older than API 1.43",
			svc:     model.Service{Annotations: map[string]string{"a": "b"}},
			wantErr: "annotations needs Docker Engine API 1.43"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			svc := tc.svc
			svc.Name, svc.Image, svc.Command, svc.Replicas = "app", img, idle, 1
			svc.ConfigHash = model.Hash(svc)
			if tc.wantErr != "" && r.api.ClientVersion() != "1.41" && !strings.Contains(tc.wantErr, "UTS") {
				t.Skipf("the engine speaks API %s: this refusal is for older ones", r.api.ClientVersion())
			}
			warned = nil
			id, err := r.CreateContainer(ctx, p, &svc, i+1, engine.CreateOptions{Warn: func(m string) { warned = append(warned, m) }})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), `service "app"`) {
					t.Fatalf("create: %v, want an error naming the service and %q", err, tc.wantErr)
				}
				if _, err := r.api.ContainerInspect(ctx, fmt.Sprintf("%s-app-%d", p.Name, i+1), client.ContainerInspectOptions{}); err == nil {
					t.Error("a refused create left a container")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.start {
				if err := r.StartContainer(ctx, id); err != nil {
					t.Fatal(err)
				}
			}
			res, err := r.api.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, res.Container)
		})
	}
}

func mountAt(c container.InspectResponse, target string) *container.MountPoint {
	for i, m := range c.Mounts {
		if m.Destination == target {
			return &c.Mounts[i]
		}
	}
	return nil
}

// blockDevice is a block device of this machine, for blkio throttles.
func blockDevice(t *testing.T) string {
	for _, d := range []string{"/dev/vda", "/dev/sda", "/dev/nvme0n1", "/dev/xvda"} {
		if st, err := os.Stat(d); err == nil && st.Mode()&os.ModeDevice != 0 {
			return d
		}
	}
	matches, _ := filepath.Glob("/dev/loop[0-9]")
	if len(matches) > 0 {
		return matches[0]
	}
	t.Skip("no block device to throttle on this machine")
	return ""
}

// TestPublishedPortsListALoneIPv6Binding: a [::] binding that is the
// IPv6 twin of a 0.0.0.0 one is folded into it; one made alone
// ("[::]:8080:80") is listed, and ps shows it as [::]:8080->80/tcp.
func TestPublishedPortsListALoneIPv6Binding(t *testing.T) {
	any6, any4 := netip.IPv6Unspecified(), netip.IPv4Unspecified()
	pm := network.PortMap{
		network.MustParsePort("80/tcp"): {{HostIP: any4, HostPort: "8080"}, {HostIP: any6, HostPort: "8080"}},
		network.MustParsePort("81/tcp"): {{HostIP: any6, HostPort: "8081"}},
	}
	var got []string
	for _, p := range publishedPorts(pm) {
		got = append(got, engine.FormatPort(p))
	}
	want := []string{"0.0.0.0:8080->80/tcp", "[::]:8081->81/tcp"}
	if !slices.Equal(got, want) {
		t.Errorf("inspect ports %v, want %v", got, want)
	}
	got = nil
	for _, p := range summaryPorts([]container.PortSummary{
		{IP: any4, PublicPort: 8080, PrivatePort: 80, Type: "tcp"}, {IP: any6, PublicPort: 8080, PrivatePort: 80, Type: "tcp"},
		{IP: any6, PublicPort: 8081, PrivatePort: 81, Type: "tcp"},
	}) {
		got = append(got, engine.FormatPort(p))
	}
	if !slices.Equal(got, want) {
		t.Errorf("list ports %v, want %v", got, want)
	}
}

// TestMacAddressByAPIVersion: an engine older than API 1.44 takes one
// container-wide MAC address (the create request's Config); a newer one
// takes it per network, as Compose sends it.
func TestMacAddressByAPIVersion(t *testing.T) {
	p := &model.Project{Name: "demo", Networks: map[string]model.Network{"a": {Name: "demo_a"}, "b": {Name: "demo_b"}}}
	svc := &model.Service{Name: "api", Image: "x", MacAddress: "02:42:ac:11:00:42",
		Networks: map[string]model.ServiceNetwork{"a": {Priority: 1}, "b": {}}}
	old, err := containerSpec(p, svc, 1, engine.CreateOptions{}, refs{apiVersion: "1.41"})
	if err != nil {
		t.Fatal(err)
	}
	if old.mac != "02:42:ac:11:00:42" || old.network.EndpointsConfig["demo_a"].MacAddress != nil {
		t.Errorf("API 1.41: container mac %q, endpoint mac %v", old.mac, old.network.EndpointsConfig["demo_a"].MacAddress)
	}
	newer, err := containerSpec(p, svc, 1, engine.CreateOptions{}, refs{apiVersion: "1.44"})
	if err != nil {
		t.Fatal(err)
	}
	if newer.mac != "" || newer.network.EndpointsConfig["demo_a"].MacAddress.String() != "02:42:ac:11:00:42" {
		t.Errorf("API 1.44: container mac %q, endpoint mac %v", newer.mac, newer.network.EndpointsConfig["demo_a"].MacAddress)
	}
	for _, bad := range []struct {
		nets map[string]model.ServiceNetwork
		want string
	}{
		{map[string]model.ServiceNetwork{"a": {Priority: 1, MacAddress: "02:42:ac:11:00:43"}}, "differs from that of network a"},
		{map[string]model.ServiceNetwork{"a": {Priority: 1}, "b": {MacAddress: "02:42:ac:11:00:43"}}, "needs Docker Engine API 1.44"},
	} {
		s := *svc
		s.Networks = bad.nets
		if _, err := containerSpec(p, &s, 1, engine.CreateOptions{}, refs{apiVersion: "1.41"}); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%v: %v, want %q", bad.nets, err, bad.want)
		}
	}
	if !versionAtLeast("1.45", "1.45") || !versionAtLeast("1.100", "1.45") || versionAtLeast("1.41", "1.43") {
		t.Error("versionAtLeast compares numerically")
	}
}
