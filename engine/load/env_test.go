package load

import (
	"context"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
)

func TestInterpolationSources(t *testing.T) {
	dir := fixture(t, "env")
	cases := []struct {
		name        string
		o           Options
		image, who  string
		passed      *string
		environment map[string]string // a subset of Project.Environment
	}{
		{name: ".env", o: Options{}, image: "img:from-dotenv", who: "nobody", passed: ptr("from-dotenv")},
		{name: "--env-file replaces .env", o: Options{EnvFiles: []string{"other.env"}}, image: "img:from-env-file", who: "nobody"},
		{name: "several --env-file, the last wins", o: Options{EnvFiles: []string{"other.env", "second.env"}}, image: "img:from-second-env-file", who: "nobody"},
		{name: "the shell over .env", o: Options{Env: []string{"TAG=from-shell", "WHO=me", "PASSED=shell"}},
			image: "img:from-shell", who: "me", passed: ptr("shell"), environment: map[string]string{"TAG": "from-shell"}},
		{name: "NoShellEnv: only the files", o: Options{Env: []string{"TAG=from-shell", "WHO=me", "PASSED=shell", "HOME=/root"}, NoShellEnv: true},
			image: "img:from-dotenv", who: "nobody", passed: ptr("from-dotenv"), environment: map[string]string{"TAG": "from-dotenv"}},
		{name: "COMPOSE_DISABLE_ENV_FILE", o: Options{Env: []string{"COMPOSE_DISABLE_ENV_FILE=1"}}, image: "img:", who: "nobody"},
		{name: "NoShellEnv with --env-file", o: Options{Env: []string{"TAG=from-shell"}, EnvFiles: []string{"other.env"}, NoShellEnv: true},
			image: "img:from-env-file", who: "nobody"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := c.o
			o.WorkDir = dir
			p := mustLoad(t, o)
			a := service(t, p, "a")
			if a.Image != c.image || *a.Environment["WHO"] != c.who {
				t.Errorf("image %q WHO %q, want %q %q", a.Image, *a.Environment["WHO"], c.image, c.who)
			}
			if got := a.Environment["PASSED"]; !reflect.DeepEqual(got, c.passed) {
				t.Errorf("PASSED = %v, want %v", deref(got), deref(c.passed))
			}
			for k, v := range c.environment {
				if p.Environment[k] != v {
					t.Errorf("Project.Environment[%s] = %q, want %q", k, p.Environment[k], v)
				}
			}
			if o.NoShellEnv {
				if _, leaked := p.Environment["HOME"]; leaked {
					t.Error("NoShellEnv: the shell's HOME reached the project environment")
				}
			}
		})
	}
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

func TestComposeVariables(t *testing.T) {
	dir := fixture(t, "discovery")
	cases := []struct {
		name     string
		o        Options
		project  string
		services []string
		files    []string
	}{
		{name: "discovery with the override file", o: Options{},
			project: "discovery", services: []string{"a"}, files: []string{"compose.yaml", "compose.override.yaml"}},
		{name: "COMPOSE_FILE", o: Options{Env: []string{"COMPOSE_FILE=alt.yaml"}},
			project: "discovery", services: []string{"c"}, files: []string{"alt.yaml"}},
		{name: "COMPOSE_FILE with the path separator", o: Options{Env: []string{"COMPOSE_FILE=alt.yaml" + string(filepath.ListSeparator) + "other.yaml"}},
			project: "discovery", services: []string{"c", "d"}, files: []string{"alt.yaml", "other.yaml"}},
		{name: "COMPOSE_PATH_SEPARATOR", o: Options{Env: []string{"COMPOSE_FILE=alt.yaml,other.yaml", "COMPOSE_PATH_SEPARATOR=,"}},
			project: "discovery", services: []string{"c", "d"}, files: []string{"alt.yaml", "other.yaml"}},
		{name: "-f over COMPOSE_FILE", o: Options{Files: []string{"other.yaml"}, Env: []string{"COMPOSE_FILE=alt.yaml"}},
			project: "discovery", services: []string{"d"}, files: []string{"other.yaml"}},
		{name: "COMPOSE_PROJECT_NAME", o: Options{Env: []string{"COMPOSE_PROJECT_NAME=fromenv"}},
			project: "fromenv", services: []string{"a"}, files: []string{"compose.yaml", "compose.override.yaml"}},
		{name: "-p over COMPOSE_PROJECT_NAME", o: Options{ProjectName: "flag", Env: []string{"COMPOSE_PROJECT_NAME=fromenv"}},
			project: "flag", services: []string{"a"}, files: []string{"compose.yaml", "compose.override.yaml"}},
		{name: "COMPOSE_PROFILES", o: Options{Env: []string{"COMPOSE_PROFILES=extra"}},
			project: "discovery", services: []string{"a", "b"}, files: []string{"compose.yaml", "compose.override.yaml"}},
		{name: "--profile over COMPOSE_PROFILES", o: Options{Profiles: []string{"none"}, Env: []string{"COMPOSE_PROFILES=extra"}},
			project: "discovery", services: []string{"a"}, files: []string{"compose.yaml", "compose.override.yaml"}},
		{name: "NoShellEnv keeps COMPOSE_ variables", o: Options{NoShellEnv: true, Env: []string{"COMPOSE_PROFILES=extra", "COMPOSE_PROJECT_NAME=fromenv"}},
			project: "fromenv", services: []string{"a", "b"}, files: []string{"compose.yaml", "compose.override.yaml"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := c.o
			o.WorkDir = dir
			p := mustLoad(t, o)
			var files []string
			for _, f := range p.ConfigFiles {
				files = append(files, filepath.Base(f))
			}
			if p.Name != c.project || !slices.Equal(p.ServiceNames(), c.services) || !slices.Equal(files, c.files) {
				t.Errorf("got project %q services %v files %v, want %q %v %v", p.Name, p.ServiceNames(), files, c.project, c.services, c.files)
			}
		})
	}
}

func TestComposeVariablesFromDotEnv(t *testing.T) {
	p := mustLoad(t, Options{WorkDir: fixture(t, "dotenv-compose")})
	if p.Name != "fromdotenv" || !slices.Equal(p.ServiceNames(), []string{"a", "b"}) {
		t.Errorf("COMPOSE_PROJECT_NAME/COMPOSE_PROFILES in .env: project %q services %v", p.Name, p.ServiceNames())
	}
}

func TestDiscoveryWalksUp(t *testing.T) {
	dir := fixture(t, "discovery")
	p := mustLoad(t, Options{WorkDir: filepath.Join(dir, "deep", "er")})
	if p.WorkingDir != dir || len(p.ConfigFiles) != 2 || p.ConfigFiles[0] != filepath.Join(dir, "compose.yaml") {
		t.Fatalf("from deep/er: dir %q files %v", p.WorkingDir, p.ConfigFiles)
	}
	if _, ok := service(t, p, "a").Environment["OVERRIDDEN"]; !ok {
		t.Error("compose.override.yaml not merged")
	}
	// --project-directory is where discovery starts, and the project's
	// directory, whatever the current one.
	p = mustLoad(t, Options{WorkDir: t.TempDir(), ProjectDir: dir})
	if p.WorkingDir != dir || p.Name != "discovery" {
		t.Errorf("--project-directory: dir %q name %q", p.WorkingDir, p.Name)
	}
	// -f names files relative to the current directory; the project
	// directory is the first file's.
	p = mustLoad(t, Options{WorkDir: filepath.Join(dir, "deep"), Files: []string{"../alt.yaml"}})
	if p.WorkingDir != dir || p.ConfigFiles[0] != filepath.Join(dir, "alt.yaml") {
		t.Errorf("-f ../alt.yaml: dir %q files %v", p.WorkingDir, p.ConfigFiles)
	}
}

func TestProfilesAndSelection(t *testing.T) {
	dir := fixture(t, "profiles")
	cases := []struct {
		name               string
		o                  Options
		services, disabled []string
	}{
		{"no profile", Options{}, []string{"web"}, []string{"debug", "tools"}},
		{"one profile", Options{Profiles: []string{"debug"}}, []string{"debug", "web"}, []string{"tools"}},
		{"every profile", Options{Profiles: []string{"*"}}, []string{"debug", "tools", "web"}, nil},
		{"selecting a service behind a profile enables it, with its dependencies", Options{Services: []string{"tools"}}, []string{"tools", "web"}, []string{"debug"}},
		{"selection: the others are not orphans", Options{Services: []string{"web"}}, []string{"web"}, []string{"debug", "tools"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := c.o
			o.WorkDir = dir
			p := mustLoad(t, o)
			if !slices.Equal(p.ServiceNames(), c.services) || !slices.Equal(p.Disabled, c.disabled) {
				t.Errorf("services %v disabled %v, want %v %v", p.ServiceNames(), p.Disabled, c.services, c.disabled)
			}
		})
	}
}

func TestExtendsAndInclude(t *testing.T) {
	dir := fixture(t, "extends-include")
	p := mustLoad(t, Options{WorkDir: dir})
	web := service(t, p, "web")
	if *web.Environment["SHARED"] != "1" || *web.Environment["OWN"] != "1" || web.Labels["from"] != "base" || web.Image != "x" {
		t.Errorf("extends in the same file: %+v", web)
	}
	worker := service(t, p, "worker")
	if worker.Image != "worker:1" || !slices.Equal(worker.Command, []string{"run"}) {
		t.Errorf("extends from another file: image %q command %v", worker.Image, worker.Command)
	}
	cache := service(t, p, "cache")
	if cache.Image != "cache:7" {
		t.Errorf("include: the included project's .env: image %q", cache.Image)
	}
	if got := cache.Volumes[0].Source; got != filepath.Join(dir, "infra", "data") {
		t.Errorf("include: paths relative to the included file: %q", got)
	}
	p = mustLoad(t, Options{WorkDir: dir, Services: []string{"web"}})
	if !slices.Equal(p.ServiceNames(), []string{"cache", "web"}) || !slices.Equal(p.Disabled, []string{"base", "lone", "worker"}) {
		t.Errorf("selection keeps the dependencies: %v, left out %v", p.ServiceNames(), p.Disabled)
	}
}

func TestShellVariables(t *testing.T) {
	dir := fixture(t, "shellvars")
	env := []string{"TAG=shell", "PORT=8080", "WHO=me", "AWS_PROFILE=dev", "TOKEN=t", "FROM_DOTENV=shell",
		"INFRA_TAG=2", "NOT_A_VARIABLE=x", "UNUSED=1", "HOME=/root"}
	got, err := ShellVariables(context.Background(), Options{WorkDir: dir, Env: env})
	if err != nil {
		t.Fatal(err)
	}
	// TAG and FROM_DOTENV come from .env; NOT_A_VARIABLE is escaped ($$);
	// UNUSED and HOME are not read.
	want := []string{"AWS_PROFILE", "INFRA_TAG", "PORT", "TOKEN", "WHO"}
	if !slices.Equal(got, want) {
		t.Errorf("ShellVariables = %v, want %v", got, want)
	}
	// What the shell does not set is not reported.
	got, err = ShellVariables(context.Background(), Options{WorkDir: dir, Env: []string{"WHO=me"}})
	if err != nil || !slices.Equal(got, []string{"WHO"}) {
		t.Errorf("ShellVariables = %v, %v; want [WHO]", got, err)
	}
	// With --env-file instead of .env, TAG comes from the shell.
	got, err = ShellVariables(context.Background(), Options{WorkDir: dir, Env: []string{"TAG=shell"}, EnvFiles: []string{"infra/compose.yaml"}})
	if err != nil || !slices.Equal(got, []string{"TAG"}) {
		t.Errorf("with --env-file: ShellVariables = %v, %v; want [TAG]", got, err)
	}
}
