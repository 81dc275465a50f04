package load

import (
	"path/filepath"
	"strings"
	"testing"

	"devstack/engine/model"
)

func TestParseVolumeFlag(t *testing.T) {
	dir := t.TempDir()
	for spec, want := range map[string]model.Mount{
		"./data:/data:ro": {Type: model.MountBind, Source: filepath.Join(dir, "data"), Target: "/data", ReadOnly: true, CreateHostPath: true},
		"/abs:/x":         {Type: model.MountBind, Source: "/abs", Target: "/x", CreateHostPath: true},
		"cache:/var/c":    {Type: model.MountVolume, Source: "cache", Target: "/var/c"},
		"/anon":           {Type: model.MountVolume, Target: "/anon"},
	} {
		got, err := ParseVolumeFlag(spec, dir)
		if err != nil || got != want {
			t.Errorf("%s: got %+v, %v; want %+v", spec, got, err, want)
		}
	}
	for _, bad := range []string{":/x", "data:relative", "a:b:c:d", ""} {
		if _, err := ParseVolumeFlag(bad, dir); err == nil || !strings.Contains(err.Error(), "invalid --volume") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func TestParsePublishFlag(t *testing.T) {
	got, err := ParsePublishFlag("127.0.0.1:8080:80/udp")
	if err != nil || len(got) != 1 || got[0] != (model.Port{Target: 80, Published: "8080", HostIP: "127.0.0.1", Protocol: "udp"}) {
		t.Fatalf("got %+v, %v", got, err)
	}
	if _, err := ParsePublishFlag("80:x"); err == nil || !strings.Contains(err.Error(), `invalid --publish "80:x"`) {
		t.Errorf("a bad spec: %v", err)
	}
}
