package sync_test

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"devstack/engine/event"
	devsync "devstack/sync"
)

const basic = `
services:
  app:
    image: $IMAGE
    command: ["sleep", "3600"]
    init: true
    develop:
      watch:
        - path: ./src
          action: sync
          target: /app
`

func TestSyncFollowsEditsNewDirectoriesRenamesAndDeletions(t *testing.T) {
	s := newStack(t, basic, map[string]string{
		"src/main.go":       "v1",
		"src/pkg/util.go":   "util",
		"src/old/a.txt":     "a",
		"src/old/b/c.txt":   "c",
		"src/rename-me.txt": "r",
	})
	src := filepath.Join(s.dir, "src")
	id := s.one("app").ID
	s.start(devsync.Options{})
	// The initial sync brought everything over.
	s.waitTree(id, "/app", hostTree(t, src, nil))

	writeFile(t, filepath.Join(src, "main.go"), "v2")                   // edit
	atomicSave(t, filepath.Join(src, "pkg", "util.go"), "util2")        // editor save
	writeFile(t, filepath.Join(src, "new", "deep", "dir", "x.go"), "x") // new directories
	must(t, os.Rename(filepath.Join(src, "rename-me.txt"), filepath.Join(src, "renamed.txt")))
	must(t, os.RemoveAll(filepath.Join(src, "old"))) // a whole directory
	s.waitTree(id, "/app", hostTree(t, src, nil))

	// A directory removed and made again is watched again.
	must(t, os.RemoveAll(filepath.Join(src, "new")))
	writeFile(t, filepath.Join(src, "new", "again.txt"), "again")
	s.waitTree(id, "/app", hostTree(t, src, nil))
	writeFile(t, filepath.Join(src, "new", "later.txt"), "later")
	s.waitTree(id, "/app", hostTree(t, src, nil))

	// Each batch reported what it did.
	var files, deleted int
	for _, e := range s.rec.Events() {
		if se, ok := e.(event.Sync); ok && se.Action == "sync" {
			if se.Error != "" {
				t.Fatalf("sync error: %s", se.Error)
			}
			files += se.Files
			deleted += se.Deleted
			if se.LatencyMS <= 0 || len(se.Containers) != 1 {
				t.Fatalf("event %+v", se)
			}
		}
	}
	if files < 5 || deleted < 2 {
		t.Fatalf("events counted %d files and %d deletions:\n%s", files, deleted, s.syncEvents())
	}
}

func TestIgnoreRulesAndInclude(t *testing.T) {
	s := newStack(t, `
services:
  web:
    build: .
    command: ["sleep", "3600"]
    init: true
    develop:
      watch:
        - path: .
          action: sync
          target: /srv
          ignore: ["logs/"]
        - path: ./conf
          action: sync
          target: /etc/web
          include: ["*.conf"]
`, map[string]string{
		"Dockerfile":       "FROM $IMAGE\n",
		".dockerignore":    "# build junk\nnode_modules\n*.tmp\n",
		"main.go":          "m",
		"node_modules/x":   "x",
		"logs/app.log":     "l",
		"conf/web.conf":    "c",
		"conf/README":      "r",
		"compose.override": "o",
	})
	id := s.one("web").ID
	s.start(devsync.Options{})
	skipSrv := func(rel string) bool {
		return rel == "node_modules" || rel == "logs" || strings.HasSuffix(rel, ".tmp") || strings.HasSuffix(rel, ".swp") || rel == ".git"
	}
	s.waitTree(id, "/srv", hostTree(t, s.dir, skipSrv))
	s.waitTree(id, "/etc/web", "web.conf F c\n")

	writeFile(t, filepath.Join(s.dir, "node_modules", "y"), "y")
	writeFile(t, filepath.Join(s.dir, "logs", "more.log"), "m")
	writeFile(t, filepath.Join(s.dir, "scratch.tmp"), "t")
	writeFile(t, filepath.Join(s.dir, ".main.go.swp"), "swap")
	writeFile(t, filepath.Join(s.dir, "4913"), "")
	writeFile(t, filepath.Join(s.dir, ".git", "HEAD"), "ref")
	writeFile(t, filepath.Join(s.dir, "conf", "other.txt"), "o")
	writeFile(t, filepath.Join(s.dir, "conf", "db.conf"), "d")
	writeFile(t, filepath.Join(s.dir, "main.go"), "m2")
	s.waitTree(id, "/etc/web", "db.conf F d\nweb.conf F c\n")
	s.waitTree(id, "/srv", hostTree(t, s.dir, func(rel string) bool {
		return skipSrv(rel) || rel == "4913"
	}))

	// A changed .dockerignore applies at once: what it no longer ignores
	// is sent, and watched from then on.
	writeFile(t, filepath.Join(s.dir, ".dockerignore"), "# build junk\n*.tmp\n")
	skipSrv2 := func(rel string) bool {
		return rel != "node_modules" && !strings.HasPrefix(rel, "node_modules/") && skipSrv(rel) || rel == "4913"
	}
	s.waitTree(id, "/srv", hostTree(t, s.dir, skipSrv2))
	writeFile(t, filepath.Join(s.dir, "node_modules", "z"), "z")
	s.waitTree(id, "/srv", hostTree(t, s.dir, skipSrv2))
	writeFile(t, filepath.Join(s.dir, ".dockerignore"), "# build junk\nnode_modules\n*.tmp\n")

	// Explain names the file and line that exclude a path.
	e, err := devsync.Explain(s.p, filepath.Join(s.dir, "node_modules", "y"))
	if err != nil {
		t.Fatal(err)
	}
	if e.Synced() || !strings.Contains(e.String(), filepath.Join(s.dir, ".dockerignore")+":2") {
		t.Fatalf("explain:\n%s", e)
	}
	e, _ = devsync.Explain(s.p, "conf/web.conf")
	if !e.Synced() || !strings.Contains(e.String(), "web:/etc/web/web.conf") || !strings.Contains(e.String(), "web:/srv/conf/web.conf") {
		t.Fatalf("explain:\n%s", e)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

var _ = context.Background

func TestInitialSyncSendsOnlyDifferencesAndKeepsContainerMadeFiles(t *testing.T) {
	s := newStack(t, basic, map[string]string{
		"src/a.txt":      "a",
		"src/b.txt":      "b",
		"src/gone.txt":   "g",
		"src/dir/d.txt":  "d",
		"src/dir/e.txt":  "e",
		"src/keep/k.txt": "k",
		"src/same.txt":   "same",
		"src/deleted/x":  "x",
	})
	src := filepath.Join(s.dir, "src")
	id := s.one("app").ID
	s.start(devsync.Options{})
	s.waitTree(id, "/app", hostTree(t, src, nil))
	first := s.waitSync(0, func(e event.Sync) bool { return e.Action == "initial" })
	if first.Files != 8 || first.Error != "" || first.Bytes != 11 {
		t.Fatalf("first initial sync: %+v", first)
	}

	// The container makes files of its own, in and beside synced dirs.
	s.sh(id, "echo made > /app/generated.pyc; echo made > /app/dir/cache.bin; mkdir -p /app/deleted/build && echo o > /app/deleted/build/out")
	s.stop()

	// While sync is off, the host changes.
	must(t, os.Remove(filepath.Join(src, "gone.txt")))
	must(t, os.RemoveAll(filepath.Join(src, "dir")))
	must(t, os.RemoveAll(filepath.Join(src, "deleted")))
	writeFile(t, filepath.Join(src, "a.txt"), "a2")
	writeFile(t, filepath.Join(src, "new.txt"), "n")

	// Check sees the drift without changing anything.
	d, err := devsync.Check(context.Background(), s.p, s.eng, "app", devsync.CheckOptions{StateDir: s.state})
	if err != nil {
		t.Fatal(err)
	}
	if d.Clean() || len(d.Targets) != 1 {
		t.Fatalf("check:\n%s", d)
	}
	td := d.Targets[0]
	join := func(p []string) string { return strings.Join(p, ",") }
	if join(td.Missing) != "/app/new.txt" || join(td.Differ) != "/app/a.txt" ||
		join(td.Deleted) != "/app/deleted/x,/app/dir/d.txt,/app/dir/e.txt,/app/gone.txt" ||
		join(td.ContainerOnly) != "/app/deleted/build,/app/deleted/build/out,/app/dir/cache.bin,/app/generated.pyc" {
		t.Fatalf("check:\n%s", d)
	}
	if got := s.sh(id, "cat /app/a.txt /app/gone.txt"); got != "ag" {
		t.Fatalf("check changed the container: %q", got)
	}

	// Sync again: only the differences go; host deletions are applied;
	// files the container made are kept.
	mark := s.mark()
	s.start(devsync.Options{})
	ev := s.waitSync(mark, func(e event.Sync) bool { return e.Action == "initial" })
	if ev.Files != 2 || ev.Error != "" {
		t.Fatalf("initial sync sent %d files, want 2 (a.txt, new.txt): %+v", ev.Files, ev)
	}
	want := hostTree(t, src, nil) + "deleted D\ndeleted/build D\ndeleted/build/out F o\ndir D\ndir/cache.bin F made\ngenerated.pyc F made\n"
	s.waitTree(id, "/app", sortLines(want))

	d, err = devsync.Check(context.Background(), s.p, s.eng, "app", devsync.CheckOptions{StateDir: s.state})
	if err != nil || !d.Clean() || len(d.Targets[0].ContainerOnly) != 4 {
		t.Fatalf("check after sync (%v):\n%s", err, d)
	}
}

func sortLines(s string) string {
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	sort.Strings(lines)
	return strings.Join(lines, "\n") + "\n"
}

func TestReplicasAndOwnership(t *testing.T) {
	s := newStack(t, `
services:
  app:
    image: $IMAGE
    command: ["sleep", "3600"]
    init: true
    user: "1000:1000"
    deploy:
      replicas: 2
    develop:
      watch:
        - path: ./src
          action: sync
          target: /home/app
  named:
    image: $IMAGE
    command: ["sleep", "3600"]
    init: true
    user: nobody
    develop:
      watch:
        - path: ./src
          action: sync
          target: /data
`, map[string]string{"src/a.txt": "a", "src/sub/b.txt": "b"})
	src := filepath.Join(s.dir, "src")
	s.start(devsync.Options{})
	cs := s.containers("app")
	if len(cs) != 2 {
		t.Fatalf("%d replicas", len(cs))
	}
	writeFile(t, filepath.Join(src, "sub", "c.sh"), "c")
	must(t, os.Chmod(filepath.Join(src, "sub", "c.sh"), 0o755))
	must(t, os.Remove(filepath.Join(src, "a.txt")))
	for _, c := range cs {
		s.waitTree(c.ID, "/home/app", hostTree(t, src, nil))
		if got := s.sh(c.ID, "stat -c '%n %u:%g %a' /home/app/sub /home/app/sub/b.txt /home/app/sub/c.sh"); got != "/home/app/sub 1000:1000 755\n/home/app/sub/b.txt 1000:1000 644\n/home/app/sub/c.sh 1000:1000 755\n" {
			t.Fatalf("%s: owners and modes:\n%s", c.Name, got)
		}
	}
	n := s.one("named")
	s.waitTree(n.ID, "/data", hostTree(t, src, nil))
	if got := s.sh(n.ID, "stat -c '%u:%g' /data/sub/c.sh"); got != "65534:65534\n" {
		t.Fatalf("a named user's files are owned by %s", got)
	}
}
