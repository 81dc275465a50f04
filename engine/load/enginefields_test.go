package load

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"devstack/engine/model"
)

// TestEngineFieldsMapping loads testdata/load/engine-fields: namespaces,
// links, devices, resources, per-network settings and hooks reach the
// model without a warning.
func TestEngineFieldsMapping(t *testing.T) {
	dir := fixture(t, "engine-fields")
	p := mustLoad(t, Options{WorkDir: dir})
	for _, w := range p.Warnings {
		t.Errorf("unexpected warning: %s", w)
	}
	app := service(t, p, "app")
	ptr := func(s string) *string { return &s }
	cases := []struct {
		group     string
		got, want any
	}{
		{"namespaces", []string{app.Ipc, app.Pid, app.Uts}, []string{"service:db", "host", "host"}},
		{"volumes_from", app.VolumesFrom, []string{"db:ro", "container:other:rw"}},
		{"links", [][]string{app.Links, app.ExternalLinks}, [][]string{{"db:database"}, {"legacy:old"}}},
		{"group_add, dns", [][]string{app.GroupAdd, app.DNSSearch, app.DNSOpts}, [][]string{{"audio", "1234"}, {"example.com"}, {"ndots:2"}}},
		{"runtime, mac_address", []string{app.Runtime, app.MacAddress}, []string{"runc", "02:42:ac:11:00:42"}},
		{"annotations", app.Annotations, map[string]string{"com.example.note": "hi"}},
		{"use_api_socket", app.UseAPISocket, true},
		{"cpu", []any{app.CPUShares, app.CPUSet, app.CPUQuota, app.CPUPeriod}, []any{int64(512), "0", int64(50000), int64(100000)}},
		// mem_reservation and deploy.resources.reservations.memory (compose-go wants them equal).
		{"memory", []int64{app.MemReservation, app.MemSwapLimit, app.MemLimit}, []int64{8 << 20, 128 << 20, 64 << 20}},
		{"oom", []any{app.OomScoreAdj, app.OomKillDisable}, []any{int64(100), true}},
		{"real-time cpu", []any{app.CPURTPeriod, app.CPURTRuntime}, []any{int64(1000000), int64(950000)}},
		{"swappiness", []any{app.MemSwappiness != nil && *app.MemSwappiness == 10}, []any{true}},
		{"blkio", *app.Blkio, model.Blkio{Weight: 300, WeightDevice: []model.WeightDevice{{Path: "/dev/sda", Weight: 200}},
			DeviceReadBps: []model.ThrottleDevice{{Path: "/dev/sda", Rate: 1 << 20}}, DeviceWriteIOps: []model.ThrottleDevice{{Path: "/dev/sda", Rate: 30}}}},
		{"devices", app.Devices, []model.Device{{Source: "/dev/null", Target: "/dev/mynull", Permissions: "rwm"}, {Source: "/dev/zero", Target: "/dev/zero", Permissions: "rwm"}}},
		{"device_cgroup_rules", app.DeviceCgroupRules, []string{"c 1:3 mr"}},
		{"device requests: gpus (+gpu), then reservations", app.DeviceRequests, []model.DeviceRequest{
			{Driver: "nvidia", Count: 1, Capabilities: []string{"compute", "gpu"}},
			{Driver: "cdi", IDs: []string{"vendor.com/dev=0"}, Capabilities: []string{"x"}}}},
		{"bind selinux, volume subpath", []string{app.Volumes[0].SELinux, app.Volumes[1].Subpath}, []string{"z", "sub"}},
		{"network endpoint", app.Networks["front"], model.ServiceNetwork{IPv6Address: "2001:db8::10", MacAddress: "02:42:ac:11:00:43",
			DriverOpts: map[string]string{"com.example.opt": "1"}, Priority: 10}},
		{"ipv6 network", p.Networks["front"].EnableIPv6, true},
		{"post_start", app.PostStart, []model.Hook{{Command: []string{"sh", "-c", "echo started > /tmp/started"}, User: "root",
			Privileged: true, WorkingDir: "/tmp", Environment: map[string]*string{"WHO": ptr("hook")}}}},
		{"pre_stop (a string is split as a shell would)", app.PreStop, []model.Hook{{Command: []string{"echo", "bye"}}}},
		// compose-go makes service references dependencies.
		{"ipc, links and volumes_from depend on db", len(app.DependsOn), 1},
	}
	for _, c := range cases {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s:\n got %#v\nwant %#v", c.group, c.got, c.want)
		}
	}
}

// TestEngineFieldsChangeTheHash: each field honoured here, when changed,
// changes the service's config hash, so that up recreates its container.
func TestEngineFieldsChangeTheHash(t *testing.T) {
	base := "services:\n  app:\n    image: busybox\n"
	load := func(t *testing.T, extra string) string {
		dir := t.TempDir()
		yaml := base + extra + "  db:\n    image: busybox\nvolumes:\n  vol: {}\n"
		if err := os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(yaml), 0o644); err != nil {
			t.Fatal(err)
		}
		return service(t, mustLoad(t, Options{WorkDir: dir}), "app").ConfigHash
	}
	want := load(t, "")
	fields := []string{
		"    ipc: host\n", "    pid: host\n", "    uts: host\n", "    ipc: service:db\n",
		"    volumes_from: [db]\n", "    volumes_from: [\"db:ro\"]\n", "    links: [db]\n", "    external_links: [x]\n",
		"    group_add: [audio]\n", "    dns_search: [a.b]\n", "    dns_opt: [\"ndots:1\"]\n", "    runtime: runc\n",
		"    mac_address: \"02:42:ac:11:00:42\"\n", "    annotations: {a: b}\n", "    use_api_socket: true\n",
		"    cpu_shares: 2\n", "    cpuset: \"0\"\n", "    cpu_quota: 1000\n", "    cpu_period: 1000\n",
		"    mem_reservation: 1m\n", "    memswap_limit: 1g\n", "    oom_score_adj: 1\n", "    oom_kill_disable: true\n",
		"    blkio_config: {weight: 10}\n", "    devices: [/dev/null]\n", "    device_cgroup_rules: [\"c 1:3 r\"]\n",
		"    gpus: all\n", "    deploy: {resources: {reservations: {devices: [{capabilities: [gpu]}]}}}\n",
		"    deploy: {resources: {reservations: {memory: 1m}}}\n",
		"    volumes: [\"./d:/d:z\"]\n", "    volumes: [{type: volume, source: vol, target: /v, volume: {subpath: s}}]\n",
		"    networks: {default: {ipv6_address: \"2001:db8::1\"}}\n", "    networks: {default: {mac_address: \"02:42:ac:11:00:42\"}}\n",
		"    networks: {default: {driver_opts: {a: b}}}\n", "    networks: {default: {priority: 3}}\n",
		"    post_start: [{command: [\"true\"]}]\n", "    pre_stop: [{command: [\"true\"]}]\n",
		"    post_start: [{command: [\"true\"], user: root}]\n",
	}
	seen := map[string]string{"": want}
	for _, f := range fields {
		got := load(t, f)
		if prev, ok := seen[got]; ok {
			t.Errorf("%q: hash equal to that of %q", f, prev)
		}
		seen[got] = f
	}
}
