package main

import (
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"devstack/engine/load"
	"devstack/templates"
)

// Every template, as written by init, loads without an error or a
// warning, and what it builds and watches is there.
func TestTemplatesLoadCleanly(t *testing.T) {
	all := templates.All()
	if len(all) < 4 {
		t.Fatalf("templates: %v", all)
	}
	for _, tpl := range all {
		t.Run(tpl.Name, func(t *testing.T) {
			if tpl.Description == "" {
				t.Error("compose.yaml does not open with a description comment")
			}
			dir := filepath.Join(t.TempDir(), tpl.Name)
			if _, err := writeTemplate(tpl, dir); err != nil {
				t.Fatal(err)
			}
			p, err := load.Load(context.Background(), load.Options{WorkDir: dir, ProjectName: "tpl" + tpl.Name, Env: []string{}})
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range p.Warnings {
				t.Errorf("warning: %s", w)
			}
			watched := 0
			for _, s := range p.Services {
				if s.Build != nil {
					df := s.Build.Dockerfile
					if !filepath.IsAbs(df) {
						df = filepath.Join(s.Build.Context, df)
					}
					if _, err := os.Stat(df); err != nil {
						t.Errorf("%s: %v", s.Name, err)
					}
				}
				for _, r := range s.Watch {
					watched++
					if _, err := os.Stat(r.Path); err != nil {
						t.Errorf("%s: develop.watch path: %v", s.Name, err)
					}
				}
			}
			if watched == 0 {
				t.Error("no develop.watch rule: the template shows no live sync")
			}
			checkSources(t, dir)
		})
	}
}

// checkSources checks a written template's sources with the toolchains
// this machine has (the images they build with cannot be pulled here).
func checkSources(t *testing.T, dir string) {
	t.Helper()
	var checks [][]string
	walk := func(ext string) []string {
		var out []string
		_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && strings.HasSuffix(p, ext) {
				out = append(out, p)
			}
			return err
		})
		return out
	}
	if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
		checks = append(checks, []string{"go", "vet", "./..."})
	}
	for _, js := range walk(".js") {
		checks = append(checks, []string{"node", "--check", js})
	}
	if py := walk(".py"); len(py) > 0 {
		// Compiled in memory: no __pycache__ is written.
		checks = append(checks, append([]string{"python3", "-c", "import sys\nfor f in sys.argv[1:]: compile(open(f).read(), f, 'exec')"}, py...))
	}
	for _, c := range checks {
		if _, err := exec.LookPath(c[0]); err != nil {
			t.Logf("%s is not installed: %s not checked", c[0], strings.Join(c, " "))
			continue
		}
		cmd := exec.Command(c[0], c[1:]...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s: %v\n%s", strings.Join(c, " "), err, out)
		}
	}
}
