package sync_test

import (
	"context"
	"os"
	"path/filepath"
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

	writeFile(t, filepath.Join(src, "main.go"), "v2")                  // edit
	atomicSave(t, filepath.Join(src, "pkg", "util.go"), "util2")       // editor save
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
