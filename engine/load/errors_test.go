package load

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// TestBadInputIsExplained pins the exact text of each error: the CLI
// prints it as it is, so it is part of the interface. <dir> stands for
// the fixture's directory.
func TestBadInputIsExplained(t *testing.T) {
	cases := []struct {
		fixture string
		o       Options
		want    string
		service string // the Error's Service field
		line    int    // the Error's Line field
	}{
		{fixture: "err-yaml", line: 3,
			want: `<dir>/compose.yaml:3:4: invalid YAML: did not find expected key: check the indentation and the brackets and quotes around that line`},
		{fixture: "err-yaml-tab", line: 4,
			want: `<dir>/compose.yaml:4: invalid YAML: found a tab character that violates indentation: indent with spaces, not tabs`},
		{fixture: "err-duplicate-key", line: 4,
			want: `<dir>/compose.yaml:4: invalid YAML: mapping key "image" already defined at line 3: keep only one of them`},
		{fixture: "err-override-yaml", line: 4,
			want: `<dir>/compose.override.yaml:4: invalid YAML: did not find expected ',' or ']': check the indentation and the brackets and quotes around that line`},
		{fixture: "err-unknown-dependency", service: "web", line: 6,
			want: `<dir>/compose.yaml:6:9: service "web" depends on undefined service "db": define "db" under services:, or remove it from web's depends_on`},
		{fixture: "err-disabled-dependency", service: "web", line: 4,
			want: "<dir>/compose.yaml:4:18: service \"web\" depends on \"debug\", which is not enabled (profiles: tools): enable it with --profile tools (or COMPOSE_PROFILES), or mark the dependency `required: false`"},
		{fixture: "err-cycle", service: "a", line: 4,
			want: `<dir>/compose.yaml:4:18: dependency cycle: a -> b -> c -> a: remove one of these depends_on entries (or a links:/network_mode: service: that implies it)`},
		{fixture: "err-extends-cycle", service: "a", line: 3,
			want: `<dir>/compose.yaml:3:5: services extend each other in a cycle: a -> b -> a: make one of them stop extending the other`},
		{fixture: "err-extends-missing", service: "web", line: 3,
			want: `<dir>/compose.yaml:3:5: service "web" cannot extend: service "base" not found: fix extends: (service, and file if the base is in another file)`},
		{fixture: "err-context-service", service: "web", line: 6,
			want: `<dir>/compose.yaml:6:9: service "web": build.additional_contexts.base names service "bsae", which is not defined: fix the name after service: (or use a directory or docker-image://REF)`},
		{fixture: "err-env-file", service: "web", line: 6,
			want: "<dir>/compose.yaml:6:9: service \"web\": env_file <dir>/missing.env does not exist: create it, fix the path, or make it optional with `env_file: [{path: ..., required: false}]`"},
		{fixture: "err-label-file", service: "web", line: 4,
			want: `<dir>/compose.yaml:4:17: service "web": label_file <dir>/web.labels does not exist: create it or fix the path`},
		{fixture: "err-interpolation", service: "web", line: 5,
			want: `<dir>/compose.yaml:5:7: invalid interpolation in services.web.environment.GREETING: "cost: ${": write a literal $ as $$, and close each ${...} expression`},
		{fixture: "err-required-variable", service: "web", line: 3,
			want: `<dir>/compose.yaml:3:5: services.web.image: the variable TAG is required and not set (set TAG to the release to run): set TAG in the environment, in .env or in an --env-file`},
		{fixture: "err-build-context", service: "web", line: 3,
			want: `<dir>/compose.yaml:3:5: service "web": build context <dir>/nope does not exist or is not a directory: fix build.context (relative paths start from the project directory)`},
		{fixture: "err-dockerfile", service: "web", line: 5,
			want: `<dir>/compose.yaml:5:7: service "web": Dockerfile <dir>/Dockerfile.dev does not exist: fix build.dockerfile (relative to the build context <dir>) or build.context`},
		{fixture: "err-schema-type", service: "web", line: 4,
			want: `<dir>/compose.yaml:4:5: services.web.ports must be an array: see the compose specification for the value this attribute takes`},
		{fixture: "err-unknown-attribute", service: "web", line: 4,
			want: `<dir>/compose.yaml:4:5: services.web: unknown attribute "imgae": check its spelling against the compose specification (extensions must start with x-)`},
		{fixture: "err-port", service: "web", line: 8,
			want: `<dir>/compose.yaml:8:9: services.web.ports: invalid proto: xtp: write a port as [HOST_IP:][HOST_PORT:]CONTAINER_PORT[/PROTOCOL], e.g. "127.0.0.1:8080:80" or "53:53/udp"`},
		{fixture: "err-not-a-number", service: "web", line: 5,
			want: `<dir>/compose.yaml:5:7: services.web.ulimits.nofile: "abc" is not a number: see the compose specification for the value this attribute takes`},
		{fixture: "err-not-a-bool", service: "web", line: 4,
			want: `<dir>/compose.yaml:4:5: services.web.read_only: "maybe" is not true or false: see the compose specification for the value this attribute takes`},
		{fixture: "err-duration", service: "web", line: 4,
			want: `<dir>/compose.yaml:4:5: services.web.stop_grace_period: invalid duration "soon": write a duration such as 500ms, 10s or 1m30s`},
		{fixture: "err-undefined-volume", service: "web", line: 6,
			want: `<dir>/compose.yaml:6:9: service "web" uses volume "data", which is not defined: declare it under the top-level volumes:, or fix the name`},
		{fixture: "err-undefined-network", service: "web", line: 4,
			want: `<dir>/compose.yaml:4:16: service "web" uses network "front", which is not defined: declare it under the top-level networks:, or fix the name`},
		{fixture: "err-secret-file", service: "web", line: 7,
			want: `<dir>/compose.yaml:7:5: secret "token" (used by service "web") reads <dir>/token.txt, which does not exist: create the file or fix secrets.token.file`},
		{fixture: "err-include-missing", line: 2,
			want: `<dir>/compose.yaml:2:5: included file <dir>/infra/compose.yaml does not exist: fix the include: entry`},
		{fixture: "err-include-yaml", line: 4,
			want: `<dir>/infra/compose.yaml:4:9: invalid YAML: mapping values are not allowed in this context: check the indentation and the brackets and quotes around that line`},
		{fixture: "err-include-interpolation", service: "cache", line: 3,
			want: `<dir>/infra/compose.yaml:3:5: invalid interpolation in services.cache.image: "cache:${": write a literal $ as $$, and close each ${...} expression`},
		{fixture: "err-no-image", service: "web", line: 2,
			want: `<dir>/compose.yaml:2:3: service "web" has neither an image nor a build section: add image: (the image to run) or build: (how to build it)`},
		{fixture: "err-empty",
			want: `<dir>/compose.yaml: the compose file is empty or not a mapping: it needs at least a services: section`},
		{fixture: "err-x-devstack-duration", line: 6,
			want: `<dir>/compose.yaml:6:5: x-devstack.scratch.every: "soon" is not a duration: write e.g. 10ms, 30s, 5m, 1h or 1d`},
		{fixture: "err-x-devstack-unknown-field", service: "web", line: 7,
			want: `<dir>/compose.yaml:7:9: services.web.x-devstack: unknown field "max_wiat": its fields are sync (initial, quiet, max_wait)`},
		{fixture: "err-x-devstack-check", line: 9,
			want: `<dir>/compose.yaml:9:9: x-devstack.scratch.checks[1]: service "api" is not defined: name a service of the project`},

		// Options rather than files.
		{fixture: "ok", o: Options{Files: []string{"nope.yaml"}},
			want: `compose file <dir>/nope.yaml (from -f) does not exist: fix the path`},
		{fixture: "ok", o: Options{Env: []string{"COMPOSE_FILE=compose.yaml:other.yaml"}},
			want: `compose file <dir>/other.yaml (from COMPOSE_FILE) does not exist: fix the path`},
		{fixture: "ok", o: Options{EnvFiles: []string{"nope.env"}},
			want: `env file <dir>/nope.env does not exist: fix the --env-file path`},
		{fixture: "ok", o: Options{ProjectDir: "nope"},
			want: `project directory <dir>/nope does not exist: fix --project-directory`},
		{fixture: "ok", o: Options{ProjectName: "Bad Name"},
			want: `invalid project name "Bad Name": use lower-case letters, digits, dashes and underscores, starting with a letter or digit`},
		{fixture: "ok", o: Options{Services: []string{"nope", "web"}},
			want: `no such service: "nope": the project has web`},
	}
	for _, c := range cases {
		name := c.fixture
		if c.o.Files != nil || c.o.Env != nil || c.o.EnvFiles != nil || c.o.ProjectDir != "" || c.o.ProjectName != "" || c.o.Services != nil {
			name += "/" + strings.SplitN(c.want, " ", 3)[1]
		}
		t.Run(name, func(t *testing.T) {
			dir := fixture(t, c.fixture)
			o := c.o
			o.WorkDir = dir
			if o.Env == nil {
				o.Env = []string{}
			}
			_, err := Load(context.Background(), o)
			if err == nil {
				t.Fatal("loaded without error")
			}
			if got := strings.ReplaceAll(err.Error(), dir, "<dir>"); got != c.want {
				t.Errorf("error text\n got %s\nwant %s", got, c.want)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("%T is not a *load.Error", err)
			}
			if e.Service != c.service || e.Line != c.line {
				t.Errorf("service %q line %d, want %q %d", e.Service, e.Line, c.service, c.line)
			}
		})
	}
}

func TestNoComposeFileSaysWhereItLooked(t *testing.T) {
	dir := t.TempDir()
	_, err := Load(context.Background(), Options{WorkDir: dir, Env: []string{}})
	var nf *NotFoundError
	if !errors.As(err, &nf) || nf.Dir != dir {
		t.Fatalf("got %v", err)
	}
	want := "no compose file found in " + dir + " or any parent directory (looked for compose.yaml, compose.yml, docker-compose.yml, docker-compose.yaml): create one with `devstack init`, or name it with -f"
	if err.Error() != want {
		t.Errorf("error text\n got %s\nwant %s", err, want)
	}
}

// Config, ShellVariables and Load explain the same way.
func TestEveryEntryPointExplains(t *testing.T) {
	dir := fixture(t, "err-yaml")
	o := Options{WorkDir: dir, Env: []string{}}
	_, _, errConfig := Config(context.Background(), o, "yaml")
	_, errVars := ShellVariables(context.Background(), o)
	for name, err := range map[string]error{"Config": errConfig, "ShellVariables": errVars} {
		var e *Error
		if !errors.As(err, &e) || e.Line != 3 {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, _, err := Config(context.Background(), Options{WorkDir: fixture(t, "ok"), Env: []string{}}, "toml"); err == nil {
		t.Error("Config accepted format toml")
	}
}
