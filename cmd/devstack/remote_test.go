package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"devstack/engine/model"
)

func TestRemoteBindWarnings(t *testing.T) {
	p := &model.Project{Services: []model.Service{
		{Name: "api", Volumes: []model.Mount{{Type: "bind", Source: "/home/me/api/src", Target: "/app"}, {Type: "volume", Source: "data", Target: "/data"}}},
		{Name: "db", Volumes: []model.Mount{{Type: "tmpfs", Target: "/tmp"}}},
	}}
	for host, n := range map[string]int{
		"unix:///var/run/docker.sock":  0,
		"tcp://127.0.0.1:2375":         0,
		"tcp://localhost:2376":         0,
		"ssh://me@box":                 1,
		"tcp://10.0.0.5:2376":          1,
		"tcp://build.example.com:2376": 1,
	} {
		got := remoteBindWarnings(p, host)
		if len(got) != n {
			t.Errorf("%s: %d warnings, want %d: %v", host, len(got), n, got)
		}
		if n == 1 && (!strings.Contains(got[0], "service api") || !strings.Contains(got[0], "/home/me/api/src") || !strings.Contains(got[0], "develop.watch")) {
			t.Errorf("%s: %s", host, got[0])
		}
	}
}

func TestSyncRemoteBinds(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{"src", "conf"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "one.conf"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := &model.Project{Name: "shop", WorkingDir: dir, Services: []model.Service{{Name: "api", Volumes: []model.Mount{
		{Type: "bind", Source: filepath.Join(dir, "src"), Target: "/app"},
		{Type: "bind", Source: filepath.Join(dir, "conf"), Target: "/conf", ReadOnly: true},
		{Type: "bind", Source: filepath.Join(dir, "one.conf"), Target: "/etc/one.conf"},
		{Type: "bind", Source: "/var/run/docker.sock", Target: "/var/run/docker.sock"},
	}}}}
	before := model.Hash(p.Services[0])
	if err := syncRemoteBinds(p); err != nil {
		t.Fatal(err)
	}
	api := p.Services[0]
	if api.Volumes[0].Type != "volume" || api.Volumes[0].ReadOnly || api.Volumes[1].Type != "volume" || !api.Volumes[1].ReadOnly {
		t.Errorf("project binds: %+v", api.Volumes[:2])
	}
	if api.Volumes[2].Type != "bind" || api.Volumes[3].Type != "bind" {
		t.Errorf("a file and a path outside the project stay binds: %+v", api.Volumes[2:4])
	}
	if len(api.Volumes) != 5 || api.Volumes[4].Source != api.Volumes[1].Source || api.Volumes[4].ReadOnly || !strings.HasPrefix(api.Volumes[4].Target, SyncedBindDir+"/") {
		t.Errorf("the read-only bind's writable mount for the sync: %+v", api.Volumes)
	}
	if len(api.Watch) != 2 || api.Watch[0].Target != "/app" || api.Watch[1].Target != api.Volumes[4].Target || api.Watch[0].IgnoreFile != filepath.Join(dir, "src", ".dockerignore") {
		t.Errorf("watch rules %+v", api.Watch)
	}
	if len(p.Volumes) != 2 || api.ConfigHash == before || api.ConfigHash != model.Hash(api) {
		t.Errorf("volumes %v, hash %s (before %s)", p.Volumes, api.ConfigHash, before)
	}
	if w := remoteBindWarnings(p, "ssh://box"); len(w) != 2 {
		t.Errorf("warnings for the binds left: %q", w)
	}

	p.Services[0].Volumes = []model.Mount{{Type: "bind", Source: filepath.Join(dir, "missing"), Target: "/m"}}
	err := syncRemoteBinds(p)
	if err == nil || !strings.Contains(err.Error(), "service api") || !strings.Contains(err.Error(), "does not exist on this machine") || !strings.Contains(err.Error(), "--no-remote-sync") {
		t.Errorf("missing source: %v", err)
	}
}
