package load

import (
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"devstack/engine/model"
)

// TestMapping loads testdata/load/full, which uses every attribute the
// model holds, and checks each mapping group.
func TestMapping(t *testing.T) {
	dir := fixture(t, "full")
	p := mustLoad(t, Options{WorkDir: dir, Env: []string{"TOKEN=t0ken"}})
	api, db, web, upper := service(t, p, "api"), service(t, p, "db"), service(t, p, "web"), service(t, p, "Upper")
	abs := func(rel string) string { return filepath.Join(dir, rel) }

	cases := []struct {
		group     string
		got, want any
	}{
		{"project", []any{p.Name, p.WorkingDir, p.ConfigFiles}, []any{"shop", dir, []string{abs("compose.yaml")}}},
		{"services sorted, profiles", []any{p.ServiceNames(), p.Disabled}, []any{[]string{"Upper", "api", "db", "web"}, []string{"migrate"}}},
		{"services keep the sorted order", []string{p.Services[0].Name, p.Services[3].Name}, []string{"Upper", "web"}},

		// Image and build.
		{"image of a build-only service", []string{api.Image, upper.Image, db.Image}, []string{"shop-api", "shop-upper", "busybox"}},
		{"build", *api.Build, model.Build{Context: abs("api"), Dockerfile: "Dockerfile",
			Args: map[string]*string{"VERSION": ptr("1")}, Target: "dev", Network: "host", Labels: map[string]string{"stage": "dev"},
			ExtraHosts: []string{"mirror.local:10.0.0.9"}, ShmSize: 128 << 20, NoCache: true, Pull: true, Tags: []string{"shop/api:dev"}}},
		{"build: shorthand", *upper.Build, model.Build{Context: abs("web"), Dockerfile: "Dockerfile"}},
		{"dockerfile_inline", *web.Build, model.Build{Context: dir, Inline: "FROM scratch\n"}},

		// Process.
		{"command/entrypoint", [][]string{api.Command, api.Entrypoint, db.Command}, [][]string{{"serve", "--port", "80"}, {"/entry.sh"}, nil}},
		{"environment with env_file merged", api.Environment, map[string]*string{"MODE": ptr("dev"), "EMPTY": nil, "FROM_FILE": ptr("yes")}},
		{"working_dir/user/hostname/domainname", []string{api.WorkingDir, api.User, api.Hostname, api.Domainname}, []string{"/srv", "1000:1000", "api-host", "shop.local"}},
		{"extra_hosts sorted, both syntaxes", api.ExtraHosts, []string{"b.local:10.0.0.4", "cache.local:10.0.0.3", "db.local:10.0.0.2"}},
		{"dns", api.DNS, []string{"10.0.0.53"}},
		{"labels", api.Labels, map[string]string{"team": "core", "com.example.tier": "backend"}},
		{"flags", []bool{*api.Init, api.ReadOnly, api.Privileged, api.Tty, api.StdinOpen}, []bool{true, true, true, true, true}},
		{"init unset", db.Init, (*bool)(nil)},
		{"caps", [][]string{api.CapAdd, api.CapDrop, api.SecurityOpt}, [][]string{{"NET_ADMIN"}, {"ALL"}, {"no-new-privileges:true"}}},
		{"sysctls", api.Sysctls, map[string]string{"net.core.somaxconn": "1024"}},
		{"ulimits", api.Ulimits, map[string]model.Ulimit{"nofile": {Soft: 1024, Hard: 2048}, "nproc": {Soft: 512, Hard: 512}}},
		{"shm_size", api.ShmSize, int64(64 << 20)},
		{"platform, pull_policy if_not_present -> missing", []string{api.Platform, api.PullPolicy}, []string{"linux/amd64", "missing"}},
		{"expose, tmpfs", [][]string{api.Expose, api.Tmpfs}, [][]string{{"7000", "7001"}, {"/run"}}},
		{"logging", *api.Logging, model.Logging{Driver: "json-file", Options: map[string]string{"max-size": "10m"}}},

		// Lifecycle.
		{"stop", []any{api.StopSignal, *api.StopGracePeriod, *web.StopGracePeriod, db.StopGracePeriod}, []any{"SIGINT", 3 * time.Second, 90 * time.Second, (*time.Duration)(nil)}},
		{"restart", []string{api.Restart, db.Restart, web.Restart}, []string{"on-failure", "unless-stopped", "on-failure:3"}},
		{"replicas: deploy.replicas, scale, default, zero", []int{api.Replicas, db.Replicas, web.Replicas, upper.Replicas}, []int{2, 3, 1, 0}},
		{"limits from deploy.resources", []int64{api.MemLimit, api.NanoCPUs, api.PidsLimit}, []int64{256 << 20, 1e8, 50}},
		{"limits from the service", []int64{db.MemLimit, db.NanoCPUs, db.PidsLimit}, []int64{64 << 20, 15e8, 100}},
		{"network_mode", web.NetworkMode, "none"},

		// Ports: compose-go expands a range of both sides into one entry per port.
		{"ports", api.Ports, []model.Port{
			{Target: 80, Published: "8080", Protocol: "tcp"},
			{Target: 53, HostIP: "127.0.0.1", Protocol: "udp"},
			{Target: 9000, Published: "9000", Protocol: "tcp"},
			{Target: 9001, Published: "9001", Protocol: "tcp"},
			{Target: 81, Published: "8000-8001", Protocol: "tcp"},
			{Target: 82, Published: "8082", HostIP: "0.0.0.0", Protocol: "tcp"},
		}},

		// Volumes: named, bind (read-only), anonymous, tmpfs, options.
		{"volumes", api.Volumes, []model.Mount{
			{Type: model.MountVolume, Source: "data", Target: "/data"},
			{Type: model.MountBind, Source: abs("src"), Target: "/srv/src", ReadOnly: true, CreateHostPath: true},
			{Type: model.MountVolume, Target: "/cache"},
			{Type: model.MountTmpfs, Target: "/tmp", TmpfsSize: 1 << 20},
			{Type: model.MountBind, Source: abs("api"), Target: "/srv/api"},
			{Type: model.MountVolume, Source: "data", Target: "/nocopy", NoCopy: true},
		}},

		// Networks.
		{"service networks", api.Networks, map[string]model.ServiceNetwork{
			"front": {Aliases: []string{"shop-api"}, IPv4Address: "172.28.0.10", Priority: 10}, "back": {}}},
		{"default network", db.Networks, map[string]model.ServiceNetwork{"default": {}}},
		{"network_mode has no networks", web.Networks, map[string]model.ServiceNetwork(nil)},
		{"project networks", p.Networks, map[string]model.Network{
			"default": {Name: "shop_default"},
			"front":   {Name: "shop_front", Labels: map[string]string{"zone": "dmz"}, Subnets: []string{"172.28.0.0/16"}},
			"back":    {Name: "shop_back", Driver: "bridge", Internal: true, Options: map[string]string{"com.docker.network.bridge.name": "shopback"}},
			"shared":  {Name: "shared", External: true},
			"named":   {Name: "custom-net", Attachable: true, EnableIPv6: true},
		}},
		{"project volumes", p.Volumes, map[string]model.Volume{
			"data":    {Name: "shop_data"},
			"outside": {Name: "outside", External: true},
			"kept":    {Name: "kept-data", Driver: "local", Labels: map[string]string{"keep": "yes"}, Options: map[string]string{"type": "none"}},
		}},

		// Secrets and configs.
		{"secret refs", api.Secrets, []model.FileRef{
			{Source: "token", Target: "/run/secrets/token"},
			{Source: "env_token", Target: "/run/secrets/custom", UID: "1000", GID: "1000", Mode: ptr(uint32(0o400))},
		}},
		{"config refs", api.Configs, []model.FileRef{
			{Source: "settings", Target: "/etc/settings.ini", Mode: ptr(uint32(0o440))},
			{Source: "inline", Target: "/inline"},
			{Source: "from_env", Target: "/relative.conf"},
		}},
		{"secrets", []model.FileObject{p.Secrets["token"], p.Secrets["env_token"]}, []model.FileObject{
			{Name: "shop_token", File: abs("token.txt")},
			{Name: "shop_env_token", Environment: "TOKEN", Content: "t0ken"},
		}},
		{"configs", []model.FileObject{p.Configs["settings"], p.Configs["inline"], p.Configs["from_env"]}, []model.FileObject{
			{Name: "shop_settings", File: abs("settings.ini")},
			{Name: "shop_inline", Content: "x=1\n"},
			{Name: "shop_from_env", Environment: "SETTINGS"},
		}},

		// Dependencies and health.
		{"depends_on", api.DependsOn, map[string]model.Dependency{
			"db":      {Condition: model.ConditionHealthy, Required: true, Restart: true},
			"migrate": {Condition: model.ConditionCompletedSuccessful, Required: false},
			"web":     {Condition: model.ConditionStarted, Required: true},
		}},
		{"healthcheck", *api.Healthcheck, model.Healthcheck{Test: []string{"CMD-SHELL", "wget -q -O- 127.0.0.1"},
			Interval: 2 * time.Second, Timeout: time.Second, StartPeriod: 10 * time.Second, StartInterval: 500 * time.Millisecond, Retries: 5}},
		{"healthcheck disable", *db.Healthcheck, model.Healthcheck{Disable: true}},
		{"healthcheck NONE", *upper.Healthcheck, model.Healthcheck{Test: []string{"NONE"}, Disable: true}},

		// develop.watch.
		{"watch", api.Watch, []model.WatchRule{
			{Path: abs("api/src"), Action: model.WatchSyncExec, Target: "/srv/src", Ignore: []string{"*.tmp"}, Include: []string{"*.go"},
				InitialSync: true, Exec: []string{"kill", "-HUP", "1"}, ExecUser: "root", ExecWorkDir: "/srv", ExecEnv: map[string]string{"RELOAD": "1"}},
			{Path: abs("api/go.mod"), Action: model.WatchRebuild},
		}},

		// x-devstack.
		{"service x-devstack", api.Ext, model.ServiceExtension{Sync: model.SyncConfig{Initial: ptr(false), Quiet: 5 * time.Millisecond, MaxWait: 50 * time.Millisecond}}},
		{"project x-devstack sync", p.Ext.Sync, model.SyncConfig{Quiet: 20 * time.Millisecond, MaxWait: time.Second}},
		{"project x-devstack scratch", p.Ext.Scratch, model.ScratchConfig{Every: time.Hour, Cron: "0 3 * * *", Timeout: 24 * time.Hour,
			KeepMounts: []string{abs("src"), "/abs/path"},
			Checks: []model.ScratchCheck{
				{Name: "check 1", Service: "api", Command: []string{"sh", "-c", "wget -q -O- 127.0.0.1"}},
				{Name: "list", Service: "db", Command: []string{"ls", "/var/lib/db"}},
				{Name: "check 3", Run: "curl -f localhost:${DEVSTACK_PORT_API_80}"},
			}}},

		{"no warnings for a file devstack fully honours", p.Warnings, []model.Warning(nil)},
	}
	for _, c := range cases {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s:\n got %#v\nwant %#v", c.group, c.got, c.want)
		}
	}
	for _, s := range p.Services {
		if len(s.ConfigHash) != 64 {
			t.Errorf("%s: ConfigHash %q is not a SHA-256", s.Name, s.ConfigHash)
		}
	}
}
