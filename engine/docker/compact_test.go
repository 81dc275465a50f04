package docker

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
)

// A compacted create body decodes to exactly what the full one does,
// pointer zeros and empty lists included, and is much smaller.
func TestCompactCreateBody(t *testing.T) {
	zero, no := int64(0), false
	req := container.CreateRequest{
		Config: &container.Config{
			Image: "busybox", Entrypoint: []string{}, Cmd: []string{"sh", "-c", ""}, Env: []string{"A="},
			Labels:      map[string]string{"com.docker.compose.project": "p", "empty": ""},
			Healthcheck: &container.HealthConfig{Test: []string{"CMD", "true"}, Interval: 2 * time.Second},
			StopTimeout: new(int),
		},
		HostConfig: &container.HostConfig{
			Init: &no, Resources: container.Resources{MemorySwappiness: &zero, PidsLimit: &zero},
			Mounts:        []mount.Mount{{Type: mount.TypeVolume, Source: "v", Target: "/app", VolumeOptions: &mount.VolumeOptions{NoCopy: false}}},
			RestartPolicy: container.RestartPolicy{Name: "no"}, CapAdd: []string{},
		},
		NetworkingConfig: &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{"p_default": {Aliases: []string{"app"}}}},
	}
	full, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	small, err := compactJSON(full, reflect.TypeOf(req))
	if err != nil {
		t.Fatal(err)
	}
	var a, b container.CreateRequest
	if err := json.Unmarshal(full, &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(small, &b); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) {
		t.Errorf("the compact body decodes differently:\nfull:    %s\ncompact: %s", full, small)
	}
	for _, keep := range []string{`"Entrypoint":[]`, `"MemorySwappiness":0`, `"Init":false`, `"StopTimeout":0`, `"CapAdd":[]`, `"VolumeOptions":{}`, `"empty":""`, `"Env":["A="]`} {
		if !strings.Contains(string(small), keep) {
			t.Errorf("the compact body lost %s: %s", keep, small)
		}
	}
	for _, drop := range []string{`"Hostname"`, `"CpuShares"`, `"ConsoleSize"`, `"LogConfig"`, `null`, `"ReadOnly"`} {
		if strings.Contains(string(small), drop) {
			t.Errorf("the compact body still has %s: %s", drop, small)
		}
	}
	if len(small)*2 > len(full) {
		t.Errorf("compact body %d bytes, full %d: not even half", len(small), len(full))
	}
	t.Logf("create body: %d bytes, compact %d", len(full), len(small))
}
