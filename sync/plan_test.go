package sync

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"devstack/engine/model"
	"devstack/sync/record"
)

func testRules(t *testing.T, svc *model.Service) []*rule {
	t.Helper()
	rules, err := newRules(svc)
	if err != nil {
		t.Fatal(err)
	}
	return rules
}

func putFile(t *testing.T, p, body string) {
	t.Helper()
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestMakePlan(t *testing.T) {
	dir := t.TempDir()
	putFile(t, filepath.Join(dir, "here.txt"), "x")
	putFile(t, filepath.Join(dir, "lib", "a.go"), "x")
	putFile(t, filepath.Join(dir, "gen", "x.go"), "x")
	svc := &model.Service{Name: "web", Watch: []model.WatchRule{
		{Path: dir, Action: model.WatchSync, Target: "/app", Ignore: []string{"gen"}},
		{Path: dir, Action: model.WatchSync, Target: "/go", Include: []string{"**/*.go"}},
	}}
	rules := testRules(t, svc)
	all, gosOnly := rules[0], rules[1]
	rec, _ := record.Open("", "x")
	rec.Put(map[string]byte{"/app/synced-gone.txt": 'f', "/app/olddir": 'd', "/app/olddir/f": 'f', "/go/pkg/x.go": 'f', "/go/pkg/README": 'f'})

	ch := changes{}
	ch.add(all, "here.txt", false)
	ch.add(all, "synced-gone.txt", false)
	ch.add(all, "olddir", false)
	ch.add(all, "olddir/f", false)
	ch.add(all, "tempfile", true) // created and gone within the batch, never synced
	ch.add(all, "image-file", false)
	ch.add(all, ".", false)       // the watched directory itself
	ch.add(gosOnly, "pkg", false) // a removed directory the include patterns do not match
	ch.add(gosOnly, "lib/a.go", false)
	rs := openRoots(ch.rules())
	defer rs.close()
	p := makePlan(ch, rec, rs)

	var puts []string
	for _, pu := range p.puts {
		puts = append(puts, pu.r.target+":"+pu.rel)
	}
	if got := strings.Join(puts, ","); got != "/app:here.txt,/go:lib/a.go" {
		t.Errorf("puts = %s", got)
	}
	if got := strings.Join(p.deletes, ","); got != "/app/image-file,/app/olddir,/app/synced-gone.txt,/go/pkg/x.go" {
		t.Errorf("deletes = %s", got)
	}
}

func TestTopmost(t *testing.T) {
	got := topmost([]string{"/a/b/c", "/a/b", "/a/bc", "/x", "/a/b/d", "/x"})
	if strings.Join(got, ",") != "/a/b,/a/bc,/x" {
		t.Fatalf("topmost = %v", got)
	}
}

func TestNewRulesRefusesBadRules(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		w    model.WatchRule
		want string
	}{
		{model.WatchRule{Path: dir, Action: "copy", Target: "/app"}, "unknown action"},
		{model.WatchRule{Path: dir, Action: model.WatchSync, Target: "app"}, "absolute container path"},
		{model.WatchRule{Path: dir, Action: model.WatchSync, Target: "/"}, "container's root"},
		{model.WatchRule{Path: dir, Action: model.WatchSyncExec, Target: "/app"}, "exec.command"},
		{model.WatchRule{Path: dir, Action: model.WatchRebuild}, "needs a build"},
	}
	for _, c := range cases {
		_, err := newRules(&model.Service{Name: "web", Watch: []model.WatchRule{c.w}})
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "service web: develop.watch[0]") {
			t.Errorf("%+v: %v", c.w, err)
		}
	}
}

func TestExplain(t *testing.T) {
	dir := t.TempDir()
	putFile(t, filepath.Join(dir, ".dockerignore"), "# comment\n\nnode_modules\n")
	p := &model.Project{Name: "demo", WorkingDir: dir, Services: []model.Service{
		{Name: "web", Build: &model.Build{Context: dir}, Watch: []model.WatchRule{
			{Path: filepath.Join(dir, "src"), Action: model.WatchSync, Target: "/app", Ignore: []string{"*.log"}},
			{Path: filepath.Join(dir, "package.json"), Action: model.WatchRebuild},
		}},
		{Name: "docs", Watch: []model.WatchRule{
			{Path: dir, Action: model.WatchSyncRestart, Target: "/docs", Include: []string{"**/*.md"}},
		}},
	}}
	cases := map[string]string{
		"src/main.go":                 "web:/app/main.go",
		"src/app.log":                 `develop.watch[0].ignore[0] (pattern "*.log")`,
		"src/node_modules/x.js":       "",                   // not ignored: .dockerignore patterns are relative to the context, so src/node_modules is not node_modules
		"node_modules/x.js":           "no include pattern", // only the docs rule covers it, and its include excludes it
		"package.json":                "triggers rebuild of web",
		"README.md":                   "docs:/docs/README.md",
		"/elsewhere/file":             "is not under any develop.watch path",
		filepath.Join("src", "a.swp"): "built-in: editor swap file",
	}
	for path, want := range cases {
		e, err := Explain(p, path)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(e.String(), want) {
			t.Errorf("%s:\n%s\nwant %q", path, e, want)
		}
	}
	e, _ := Explain(p, filepath.Join(dir, "src", "node_modules", "x.js"))
	if !e.Synced() {
		t.Errorf("src/node_modules/x.js: %s", e)
	}
}

func TestInitialSyncSetting(t *testing.T) {
	f, tr := false, true
	cases := []struct {
		project, service *bool
		rule             bool
		want             bool
	}{
		{nil, nil, false, true},
		{&f, nil, false, false},
		{&f, &tr, false, true},
		{nil, &f, false, false},
		{nil, &f, true, true}, // initial_sync: true on a rule wins
	}
	for i, c := range cases {
		p := &model.Project{Ext: model.Extension{Sync: model.SyncConfig{Initial: c.project}}}
		svc := &model.Service{Ext: model.ServiceExtension{Sync: model.SyncConfig{Initial: c.service}},
			Watch: []model.WatchRule{{InitialSync: c.rule}}}
		if got := initialSync(p, svc); got != c.want {
			t.Errorf("case %d: %v", i, got)
		}
	}
}
