package ignore

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"devstack/engine/model"
)

func write(t *testing.T, file, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestReadKeepsLineNumbersAndEngineNormalisation(t *testing.T) {
	content := "\ufeff# comment\n\n  /build/  \nnode_modules\n!node_modules/keep\r\n*.log\n"
	pats, err := Read(strings.NewReader(content), "/ctx/.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range pats {
		got = append(got, p.Source.String()+" "+p.String())
	}
	want := []string{
		"/ctx/.dockerignore:3 build",
		"/ctx/.dockerignore:4 node_modules",
		"/ctx/.dockerignore:5 !node_modules/keep",
		"/ctx/.dockerignore:6 *.log",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestReadNamesTheLineOfABadPattern(t *testing.T) {
	_, err := Read(strings.NewReader("ok\n[\n"), "/ctx/.dockerignore")
	if err == nil || !strings.Contains(err.Error(), "/ctx/.dockerignore:2") {
		t.Fatalf("want an error naming line 2, got %v", err)
	}
}

func TestListLastMatchWinsWithParents(t *testing.T) {
	pats, err := Read(strings.NewReader("node_modules\n!node_modules/keep\n*.log\n**/tmp\n"), "f")
	if err != nil {
		t.Fatal(err)
	}
	l := &List{Base: "/ctx", Patterns: pats}
	cases := []struct {
		rel  string
		ex   bool
		line int
	}{
		{"node_modules", true, 1},
		{"node_modules/a/b.js", true, 1},
		{"node_modules/keep", false, 2},
		{"node_modules/keep/x.js", false, 2},
		{"app.log", true, 3},
		{"sub/app.log", false, 0}, // *.log is anchored at the root, as in the engine
		{"a/b/tmp/x", true, 4},
		{"src/main.go", false, 0},
	}
	for _, c := range cases {
		ex, by := l.Match(c.rel)
		line := 0
		if by != nil {
			line = by.Source.Line
		}
		if ex != c.ex || line != c.line {
			t.Errorf("%s: excluded=%v by line %d, want %v by line %d", c.rel, ex, line, c.ex, c.line)
		}
	}
}

func rule(t *testing.T, svc model.Service) *Rule {
	t.Helper()
	r, err := ForRule(&svc, 0)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRuleCombinesBuiltinsDockerignoreIgnoreAndInclude(t *testing.T) {
	ctx := t.TempDir()
	write(t, filepath.Join(ctx, ".dockerignore"), "dist\n")
	write(t, filepath.Join(ctx, "src", "main.go"), "")
	src := filepath.Join(ctx, "src")
	r := rule(t, model.Service{Name: "web", Build: &model.Build{Context: ctx},
		Watch: []model.WatchRule{{Path: src, Action: model.WatchSync, Target: "/app",
			Ignore: []string{"gen/"}, Include: []string{"**/*.go", "static"}}}})

	cases := []struct {
		path   string
		synced bool
		why    string
	}{
		{"src/main.go", true, ""},
		{"src/pkg/x.go", true, ""},
		{"src/static/logo.png", true, ""},
		{"src/README.md", false, "not included"},
		{"src/.main.go.swp", false, "built-in: editor swap file"},
		{"src/main.go~", false, "built-in: editor backup file"},
		{"src/4913", false, "built-in: vim write test file"},
		{"src/.#main.go", false, "built-in: editor lock file"},
		{"src/.git/HEAD", false, "built-in: git directory"},
		{"src/gen/x.go", false, "develop.watch[0].ignore[0]"},
		{"dist/x.go", false, "not covered"},
		{"other/x.go", false, "not covered"},
	}
	for _, c := range cases {
		d := r.Decide(filepath.Join(ctx, filepath.FromSlash(c.path)))
		why := ""
		switch {
		case !d.Covered:
			why = "not covered"
		case d.NotIncluded:
			why = "not included"
		case d.By != nil:
			why = d.By.Source.String()
		}
		if d.Synced != c.synced || !strings.Contains(why, c.why) {
			t.Errorf("%s: synced=%v (%s), want %v (%s)", c.path, d.Synced, why, c.synced, c.why)
		}
	}
}

func TestDockerignoreIsRelativeToTheBuildContext(t *testing.T) {
	ctx := t.TempDir()
	write(t, filepath.Join(ctx, ".dockerignore"), "# header\nsrc/generated\n")
	r := rule(t, model.Service{Name: "web", Build: &model.Build{Context: ctx},
		Watch: []model.WatchRule{{Path: filepath.Join(ctx, "src"), Action: model.WatchSync, Target: "/app"}}})
	d := r.Decide(filepath.Join(ctx, "src", "generated", "a.go"))
	if d.Synced || d.By == nil || d.By.Source.File != filepath.Join(ctx, ".dockerignore") || d.By.Source.Line != 2 {
		t.Fatalf("want excluded by .dockerignore:2, got %+v", d)
	}
	if !r.Decide(filepath.Join(ctx, "src", "a.go")).Synced {
		t.Fatal("src/a.go should be synced")
	}
}

func TestDockerfileSpecificIgnoreFileWins(t *testing.T) {
	ctx := t.TempDir()
	write(t, filepath.Join(ctx, ".dockerignore"), "a\n")
	write(t, filepath.Join(ctx, "web.Dockerfile.dockerignore"), "b\n")
	b := &model.Build{Context: ctx, Dockerfile: "web.Dockerfile"}
	if got := IgnoreFile(b); got != filepath.Join(ctx, "web.Dockerfile.dockerignore") {
		t.Fatalf("IgnoreFile = %s", got)
	}
	r := rule(t, model.Service{Name: "web", Build: b,
		Watch: []model.WatchRule{{Path: ctx, Action: model.WatchSync, Target: "/app"}}})
	if !r.Decide(filepath.Join(ctx, "a")).Synced || r.Decide(filepath.Join(ctx, "b")).Synced {
		t.Fatal("the Dockerfile's own ignore file should replace .dockerignore")
	}
	if IgnoreFile(nil) != "" {
		t.Fatal("a service without build has no ignore file")
	}
}

func TestSkipDirFollowsTheEngineWalk(t *testing.T) {
	ctx := t.TempDir()
	write(t, filepath.Join(ctx, ".dockerignore"), "node_modules\nvendor\n!vendor/keep\n")
	r := rule(t, model.Service{Name: "web", Build: &model.Build{Context: ctx},
		Watch: []model.WatchRule{{Path: ctx, Action: model.WatchSync, Target: "/app", Include: []string{"*.go"}}}})
	cases := map[string]bool{
		"node_modules": true,
		"vendor":       false, // a negation may re-include below it
		"src":          false, // include never skips a directory
		".git":         true,
	}
	for dir, want := range cases {
		if got := r.SkipDir(filepath.Join(ctx, dir)); got != want {
			t.Errorf("SkipDir(%s) = %v, want %v", dir, got, want)
		}
	}
}

func TestSingleFileRule(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "config.yaml")
	write(t, file, "x")
	r := rule(t, model.Service{Name: "web",
		Watch: []model.WatchRule{{Path: file, Action: model.WatchSync, Target: "/etc/app.yaml"}}})
	if !r.File || !r.Decide(file).Synced {
		t.Fatalf("the file itself should be synced: %+v", r.Decide(file))
	}
	if r.Decide(filepath.Join(dir, "other.yaml")).Covered {
		t.Fatal("a sibling of a single-file rule is not covered")
	}
}

func TestBadRulePatternIsNamed(t *testing.T) {
	svc := model.Service{Name: "web", Watch: []model.WatchRule{{Path: t.TempDir(), Action: model.WatchSync, Target: "/app", Ignore: []string{"ok", "["}}}}
	_, err := ForRule(&svc, 0)
	if err == nil || !strings.Contains(err.Error(), "service web: develop.watch[0].ignore[1]") {
		t.Fatalf("want the pattern named, got %v", err)
	}
}

func TestRel(t *testing.T) {
	cases := []struct {
		base, path, rel string
		ok              bool
	}{
		{"/a", "/a", ".", true},
		{"/a", "/a/b/c", "b/c", true},
		{"/a", "/ab", "", false},
		{"/", "/x", "x", true},
	}
	for _, c := range cases {
		rel, ok := Rel(c.base, c.path)
		if rel != c.rel || ok != c.ok {
			t.Errorf("Rel(%s, %s) = %q %v", c.base, c.path, rel, ok)
		}
	}
}

// FuzzDecide: any pattern and path, no panic; a path outside the root is
// never covered, and an excluded path always names its pattern.
func FuzzDecide(f *testing.F) {
	for _, s := range [][2]string{{"*.log", "a/b.log"}, {"!x", "x"}, {"**/.git", ".git/HEAD"}, {"[", "a"}, {"a/../..", "../x"}, {"/abs", "abs/x"}} {
		f.Add(s[0], s[1])
	}
	root := "/w"
	f.Fuzz(func(t *testing.T, pattern, rel string) {
		svc := model.Service{Name: "s", Watch: []model.WatchRule{{Path: root, Action: model.WatchSync, Target: "/app", Ignore: []string{pattern}}}}
		r, err := ForRule(&svc, 0)
		if err != nil {
			return
		}
		abs := filepath.Join(root, rel)
		d := r.Decide(abs)
		if _, inside := Rel(root, abs); d.Covered != inside {
			t.Fatalf("%q covered=%v, inside=%v", abs, d.Covered, inside)
		}
		if d.Covered && !d.Synced && !d.NotIncluded && d.By == nil {
			t.Fatalf("%q excluded by no pattern", abs)
		}
		_ = r.SkipDir(abs)
	})
}
