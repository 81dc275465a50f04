package main

import (
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
