package load

import (
	"path/filepath"
	"reflect"
	"testing"

	"devstack/engine/model"
)

// TestBuildKitFields: what only BuildKit builds honour reaches the model
// (paths absolute, secret ids from target:), and none of it is warned
// about any more.
func TestBuildKitFields(t *testing.T) {
	dir := fixture(t, "buildkit")
	p := mustLoad(t, Options{WorkDir: dir, Env: []string{"TOKEN=t0ken"}})
	b := service(t, p, "app").Build
	want := model.Build{
		Context: filepath.Join(dir, "ctx"), Dockerfile: "Dockerfile", Network: "host",
		Secrets:            []model.BuildSecret{{Source: "npmrc", ID: "npmrc"}, {Source: "token", ID: "api_token"}},
		SSH:                []model.SSHKey{{ID: "default"}, {ID: "deploy", Path: filepath.Join(dir, "keys", "deploy")}},
		AdditionalContexts: map[string]string{"shared": filepath.Join(dir, "shared"), "base": "service:base"},
		CacheFrom:          []string{"example/app:cache"}, CacheTo: []string{"type=inline"},
		Platforms: []string{"linux/amd64"}, NoCacheFilter: []string{"deps"},
		Entitlements: []string{"network.host"}, Ulimits: map[string]model.Ulimit{"nofile": {Soft: 1024, Hard: 2048}},
	}
	if !reflect.DeepEqual(*b, want) {
		t.Errorf("build:\n got %+v\nwant %+v", *b, want)
	}
	if len(p.Warnings) != 0 {
		t.Errorf("warnings: %v", p.Warnings)
	}
}
