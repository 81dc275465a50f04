package load

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"

	"devstack/engine/model"
)

// write makes a project directory from name -> content.
func write(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func mustLoad(t *testing.T, o Options) *model.Project {
	t.Helper()
	if o.Env == nil {
		o.Env = []string{}
	}
	p, err := Load(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func service(t *testing.T, p *model.Project, name string) *model.Service {
	t.Helper()
	s, ok := p.Service(name)
	if !ok {
		t.Fatalf("no service %q in %v", name, p.ServiceNames())
	}
	return s
}

const full = `
name: shop
services:
  api:
    build:
      context: ./api
      args: {VERSION: "1"}
      target: dev
      network: host
    command: ["serve", "--port", "80"]
    entrypoint: /entry.sh
    environment:
      MODE: ${MODE:-dev}
      EMPTY:
    env_file: ./api.env
    working_dir: /srv
    user: "1000:1000"
    hostname: api-host
    extra_hosts: ["db.local:10.0.0.2"]
    labels: {team: core}
    init: true
    read_only: true
    tty: true
    stdin_open: true
    cap_add: [NET_ADMIN]
    cap_drop: [ALL]
    ulimits:
      nofile: {soft: 1024, hard: 2048}
      nproc: 512
    shm_size: 64m
    stop_signal: SIGINT
    stop_grace_period: 3s
    restart: on-failure
    ports:
      - "8080:80"
      - "127.0.0.1::53/udp"
      - "9000-9001:9000-9001"
    volumes:
      - data:/data
      - ./src:/srv/src:ro
      - /cache
      - type: tmpfs
        target: /tmp
        tmpfs: {size: 1m}
    networks:
      front:
        aliases: [shop-api]
      back: {}
    secrets: [token]
    configs:
      - source: settings
        target: /etc/settings.ini
        mode: 0440
    depends_on:
      db:
        condition: service_healthy
        restart: true
      migrate:
        condition: service_completed_successfully
        required: false
    healthcheck:
      test: ["CMD-SHELL", "wget -q -O- 127.0.0.1"]
      interval: 2s
      timeout: 1s
      retries: 5
      start_period: 10s
    deploy:
      replicas: 2
      resources:
        limits: {memory: 256m, cpus: "0.5"}
    develop:
      watch:
        - path: ./api/src
          action: sync+exec
          target: /srv/src
          ignore: ["*.tmp"]
          exec:
            command: ["kill", "-HUP", "1"]
    x-devstack:
      sync: {quiet: 5ms, max_wait: 50ms, initial: false}
  db:
    image: busybox
    volumes: [data:/var/lib/db]
  migrate:
    image: busybox
    profiles: [tools]
networks:
  front: {}
  back: {internal: true}
volumes:
  data: {}
secrets:
  token: {file: ./token.txt}
configs:
  settings: {file: ./settings.ini}
x-devstack:
  scratch:
    every: 1h
    timeout: 5m
    keep_mounts: [./src]
    checks:
      - service: api
        command: wget -q -O- 127.0.0.1
      - run: curl -f localhost:$${DEVSTACK_PORT_API_80}
`

func fullProject(t *testing.T) string {
	return write(t, map[string]string{
		"compose.yaml":   full,
		"api/Dockerfile": "FROM scratch\n",
		"api.env":        "FROM_FILE=yes\n",
		"token.txt":      "secret\n",
		"settings.ini":   "x=1\n",
	})
}

func TestLoadMapsEveryGroup(t *testing.T) {
	dir := fullProject(t)
	p := mustLoad(t, Options{WorkDir: dir})
	if p.Name != "shop" || p.WorkingDir != dir {
		t.Fatalf("name/dir = %q %q", p.Name, p.WorkingDir)
	}
	if !reflect.DeepEqual(p.ServiceNames(), []string{"api", "db"}) || !reflect.DeepEqual(p.Disabled, []string{"migrate"}) {
		t.Fatalf("services %v disabled %v", p.ServiceNames(), p.Disabled)
	}
	api := service(t, p, "api")
	str := func(s string) *string { return &s }
	checks := []struct {
		name      string
		got, want any
	}{
		{"image", api.Image, "shop-api"},
		{"build", *api.Build, model.Build{Context: filepath.Join(dir, "api"), Dockerfile: "Dockerfile", Args: map[string]*string{"VERSION": str("1")}, Target: "dev", Network: "host", ExtraHosts: []string{}}},
		{"command", api.Command, []string{"serve", "--port", "80"}},
		{"entrypoint", api.Entrypoint, []string{"/entry.sh"}},
		{"env", api.Environment, map[string]*string{"MODE": str("dev"), "EMPTY": nil, "FROM_FILE": str("yes")}},
		{"workdir/user/host", []string{api.WorkingDir, api.User, api.Hostname}, []string{"/srv", "1000:1000", "api-host"}},
		{"extra_hosts", api.ExtraHosts, []string{"db.local:10.0.0.2"}},
		{"flags", []bool{*api.Init, api.ReadOnly, api.Tty, api.StdinOpen}, []bool{true, true, true, true}},
		{"caps", [][]string{api.CapAdd, api.CapDrop}, [][]string{{"NET_ADMIN"}, {"ALL"}}},
		{"ulimits", api.Ulimits, map[string]model.Ulimit{"nofile": {Soft: 1024, Hard: 2048}, "nproc": {Soft: 512, Hard: 512}}},
		{"shm", api.ShmSize, int64(64 << 20)},
		{"stop", []any{api.StopSignal, *api.StopGracePeriod}, []any{"SIGINT", 3 * time.Second}},
		{"restart", api.Restart, "on-failure"},
		{"replicas", api.Replicas, 2},
		{"limits", []int64{api.MemLimit, api.NanoCPUs}, []int64{256 << 20, 5e8}},
		{"ports", api.Ports, []model.Port{
			{Target: 80, Published: "8080", Protocol: "tcp"},
			{Target: 53, HostIP: "127.0.0.1", Protocol: "udp"},
			{Target: 9000, Published: "9000", Protocol: "tcp"},
			{Target: 9001, Published: "9001", Protocol: "tcp"},
		}},
		{"volumes", api.Volumes, []model.Mount{
			{Type: "volume", Source: "data", Target: "/data"},
			{Type: "bind", Source: filepath.Join(dir, "src"), Target: "/srv/src", ReadOnly: true, CreateHostPath: true},
			{Type: "volume", Target: "/cache"},
			{Type: "tmpfs", Target: "/tmp", TmpfsSize: 1 << 20},
		}},
		{"networks", api.Networks, map[string]model.ServiceNetwork{"front": {Aliases: []string{"shop-api"}}, "back": {}}},
		{"secrets", api.Secrets, []model.FileRef{{Source: "token", Target: "/run/secrets/token"}}},
		{"configs", api.Configs[0].Target, "/etc/settings.ini"},
		{"config mode", *api.Configs[0].Mode, uint32(0o440)},
		{"depends_on", api.DependsOn, map[string]model.Dependency{
			"db":      {Condition: model.ConditionHealthy, Required: true, Restart: true},
			"migrate": {Condition: model.ConditionCompletedSuccessful, Required: false},
		}},
		{"healthcheck", *api.Healthcheck, model.Healthcheck{Test: []string{"CMD-SHELL", "wget -q -O- 127.0.0.1"}, Interval: 2 * time.Second, Timeout: time.Second, StartPeriod: 10 * time.Second, Retries: 5}},
		{"watch", api.Watch, []model.WatchRule{{Path: filepath.Join(dir, "api/src"), Action: "sync+exec", Target: "/srv/src", Ignore: []string{"*.tmp"}, Exec: []string{"kill", "-HUP", "1"}}}},
		{"service ext", []any{*api.Ext.Sync.Initial, api.Ext.Sync.Quiet, api.Ext.Sync.MaxWait}, []any{false, 5 * time.Millisecond, 50 * time.Millisecond}},
		{"networks top", p.Networks["back"], model.Network{Name: "shop_back", Internal: true}},
		{"volumes top", p.Volumes["data"].Name, "shop_data"},
		{"secret file", p.Secrets["token"].File, filepath.Join(dir, "token.txt")},
		{"scratch", []any{p.Ext.Scratch.Every, p.Ext.Scratch.Timeout, p.Ext.Scratch.KeepMounts}, []any{time.Hour, 5 * time.Minute, []string{filepath.Join(dir, "src")}}},
		{"checks", p.Ext.Scratch.Checks, []model.ScratchCheck{
			{Name: "check 1", Service: "api", Command: []string{"sh", "-c", "wget -q -O- 127.0.0.1"}},
			{Name: "check 2", Run: "curl -f localhost:${DEVSTACK_PORT_API_80}"},
		}},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s:\n got %#v\nwant %#v", c.name, c.got, c.want)
		}
	}
	if api.ConfigHash == "" || api.ConfigHash != model.Hash(*api) {
		t.Error("config hash not set from the service")
	}
}

func TestHashIsStableAndFollowsChanges(t *testing.T) {
	dir := fullProject(t)
	a := mustLoad(t, Options{WorkDir: dir})
	b := mustLoad(t, Options{WorkDir: dir})
	c := mustLoad(t, Options{WorkDir: dir, Env: []string{"MODE=prod"}})
	if service(t, a, "api").ConfigHash != service(t, b, "api").ConfigHash {
		t.Fatal("the same file hashed twice differs")
	}
	if service(t, a, "api").ConfigHash == service(t, c, "api").ConfigHash {
		t.Fatal("changing MODE did not change api's hash")
	}
	if service(t, a, "db").ConfigHash != service(t, c, "db").ConfigHash {
		t.Fatal("changing MODE changed db's hash, which does not use it")
	}
}

func TestEnvironmentSources(t *testing.T) {
	dir := write(t, map[string]string{
		"compose.yaml": "services:\n  a:\n    image: img:${TAG}\n    environment:\n      - WHO=${WHO:-nobody}\n",
		".env":         "TAG=from-dotenv\n",
		"other.env":    "TAG=from-env-file\n",
	})
	if got := service(t, mustLoad(t, Options{WorkDir: dir}), "a").Image; got != "img:from-dotenv" {
		t.Errorf(".env: image = %q", got)
	}
	if got := service(t, mustLoad(t, Options{WorkDir: dir, EnvFiles: []string{"other.env"}}), "a").Image; got != "img:from-env-file" {
		t.Errorf("--env-file: image = %q", got)
	}
	if got := service(t, mustLoad(t, Options{WorkDir: dir, Env: []string{"TAG=from-shell"}}), "a").Image; got != "img:from-shell" {
		t.Errorf("shell over .env: image = %q", got)
	}
	p := mustLoad(t, Options{WorkDir: dir, Env: []string{"TAG=from-shell", "WHO=me"}, NoShellEnv: true})
	if got := service(t, p, "a").Image; got != "img:from-dotenv" {
		t.Errorf("NoShellEnv still used the shell: image = %q", got)
	}
	if got := *service(t, p, "a").Environment["WHO"]; got != "nobody" {
		t.Errorf("NoShellEnv: WHO = %q", got)
	}
	vars, err := ShellVariables(context.Background(), Options{WorkDir: dir, Env: []string{"TAG=x", "WHO=me", "UNUSED=1"}})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(vars, []string{"WHO"}) {
		t.Errorf("ShellVariables = %v, want [WHO] (TAG comes from .env, UNUSED is not used)", vars)
	}
}

func TestComposeVariablesAndDiscovery(t *testing.T) {
	dir := write(t, map[string]string{
		"compose.yaml":          "services:\n  a:\n    image: x\n  b:\n    image: x\n    profiles: [extra]\n",
		"compose.override.yaml": "services:\n  a:\n    environment: [OVERRIDDEN=1]\n",
		"alt.yaml":              "services:\n  c:\n    image: x\n",
		"deep/er/placeholder":   "",
	})
	p := mustLoad(t, Options{WorkDir: filepath.Join(dir, "deep/er")})
	if p.WorkingDir != dir || len(p.ConfigFiles) != 2 {
		t.Fatalf("discovery upwards: dir %q files %v", p.WorkingDir, p.ConfigFiles)
	}
	if _, ok := service(t, p, "a").Environment["OVERRIDDEN"]; !ok {
		t.Error("compose.override.yaml not merged")
	}
	p = mustLoad(t, Options{WorkDir: dir, Env: []string{"COMPOSE_FILE=alt.yaml", "COMPOSE_PROJECT_NAME=fromenv"}})
	if !reflect.DeepEqual(p.ServiceNames(), []string{"c"}) || p.Name != "fromenv" {
		t.Errorf("COMPOSE_FILE/COMPOSE_PROJECT_NAME: %v %q", p.ServiceNames(), p.Name)
	}
	p = mustLoad(t, Options{WorkDir: dir, Env: []string{"COMPOSE_PROFILES=extra"}})
	if !reflect.DeepEqual(p.ServiceNames(), []string{"a", "b"}) {
		t.Errorf("COMPOSE_PROFILES: %v", p.ServiceNames())
	}
	p = mustLoad(t, Options{WorkDir: dir, Files: []string{"alt.yaml"}, ProjectName: "flag"})
	if p.Name != "flag" {
		t.Errorf("-p: %q", p.Name)
	}
}

func TestExtendsIncludeAndSelection(t *testing.T) {
	dir := write(t, map[string]string{
		"compose.yaml": `
include: [./infra/compose.yaml]
services:
  base:
    image: x
    environment: [SHARED=1]
  web:
    extends: base
    depends_on: [cache]
  lone:
    image: x
`,
		"infra/compose.yaml": "services:\n  cache:\n    image: redis-like\n",
	})
	p := mustLoad(t, Options{WorkDir: dir})
	if _, ok := service(t, p, "web").Environment["SHARED"]; !ok {
		t.Error("extends did not inherit environment")
	}
	service(t, p, "cache")
	p = mustLoad(t, Options{WorkDir: dir, Services: []string{"web"}})
	if !reflect.DeepEqual(p.ServiceNames(), []string{"cache", "web"}) {
		t.Errorf("selection keeps dependencies only: %v", p.ServiceNames())
	}
}

func TestBadInputIsExplained(t *testing.T) {
	cases := []struct {
		name, compose string
		want          []string
	}{
		{"yaml syntax", "services:\n  web:\n    image: x\n   bad: [\n", []string{"compose.yaml:3:4: invalid YAML", "did not find expected key"}},
		{"unknown dependency", "services:\n  a:\n    image: x\n    depends_on: [zz]\n", []string{`service "a" depends on undefined service "zz"`, "remove it from depends_on"}},
		{"cycle", "services:\n  a:\n    image: x\n    depends_on: [b]\n  b:\n    image: x\n    depends_on: [a]\n", []string{"a -> b -> a"}},
		{"missing env_file", "services:\n  a:\n    image: x\n    env_file: ./missing.env\n", []string{"missing.env not found", "required: false"}},
		{"bad interpolation", "services:\n  a:\n    image: x${\n", []string{"invalid interpolation", "services.a.image"}},
		{"required variable", "services:\n  a:\n    image: ${NEEDED:?set NEEDED}\n", []string{"NEEDED", "set NEEDED"}},
		{"missing build context", "services:\n  a:\n    build: ./nope\n", []string{`service "a": build context`, "nope does not exist", "fix build.context"}},
		{"missing Dockerfile", "services:\n  a:\n    build: {context: ., dockerfile: Dockerfile.dev}\n", []string{`service "a": Dockerfile`, "Dockerfile.dev does not exist"}},
		{"schema", "services:\n  a:\n    image: x\n    ports: {a: 1}\n", []string{"invalid compose file", "services.a.ports"}},
		{"bad x-devstack", "services:\n  a:\n    image: x\nx-devstack:\n  scratch: {every: soon}\n", []string{"x-devstack.scratch.every", `"soon" is not a duration`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := write(t, map[string]string{"compose.yaml": c.compose})
			_, err := Load(context.Background(), Options{WorkDir: dir, Env: []string{}})
			if err == nil {
				t.Fatal("loaded without error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
	_, err := Load(context.Background(), Options{WorkDir: "/", Env: []string{}})
	var nf *NotFoundError
	if !errors.As(err, &nf) || !strings.Contains(err.Error(), "devstack init") {
		t.Errorf("no compose file: %v", err)
	}
}

func TestUnsupportedFieldsAreWarned(t *testing.T) {
	dir := write(t, map[string]string{"compose.yaml": `
services:
  a:
    image: x
    devices: ["/dev/null:/dev/null"]
    links: [b]
    build:
      context: .
      dockerfile_inline: "FROM scratch"
      cache_from: [x]
    deploy:
      placement: {constraints: ["node.role==manager"]}
      resources:
        reservations: {memory: 1m}
  b:
    image: x
`})
	p := mustLoad(t, Options{WorkDir: dir})
	var got []string
	for _, w := range p.Warnings {
		got = append(got, w.Service+": "+w.Field)
	}
	want := []string{"a: build.cache_from", "a: deploy.placement", "a: deploy.resources.reservations", "a: devices", "a: links"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("warnings = %v, want %v", got, want)
	}
	if s := p.Warnings[0].String(); s != "service a: build.cache_from: not supported by devstack; it is ignored" {
		t.Errorf("warning text %q", s)
	}
}

func TestHonouredFieldsNameRealComposeKeys(t *testing.T) {
	for name, pair := range map[string]struct {
		set map[string]bool
		typ reflect.Type
	}{
		"service": {honouredService, reflect.TypeOf(types.ServiceConfig{})},
		"build":   {honouredBuild, reflect.TypeOf(types.BuildConfig{})},
		"deploy":  {honouredDeploy, reflect.TypeOf(types.DeployConfig{})},
		"limits":  {honouredLimits, reflect.TypeOf(types.Resource{})},
	} {
		keys := composeKeys(pair.typ)
		for k := range pair.set {
			if !keys[k] {
				t.Errorf("%s: %q is not a compose key of %s", name, k, pair.typ)
			}
		}
	}
}

func TestComposeGoWarningsBecomeProjectWarnings(t *testing.T) {
	dir := write(t, map[string]string{"compose.yaml": "services:\n  a:\n    image: img:${UNSET_TAG}\n"})
	p := mustLoad(t, Options{WorkDir: dir})
	if len(p.Warnings) != 1 || !strings.Contains(p.Warnings[0].Message, `"UNSET_TAG" variable is not set`) {
		t.Fatalf("warnings = %+v", p.Warnings)
	}
}
