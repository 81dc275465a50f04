package load

import (
	"os"
	"path/filepath"
	"testing"
)

// Bind mounts written the Windows way load as Compose loads them
// (compose-go does it): an absolute path with a drive letter stays as
// written, whichever system reads the file, in the short syntax and the
// long, and a relative path is the project directory's. (Compose's
// COMPOSE_CONVERT_WINDOWS_PATHS /c/... form applies on Windows only:
// compose-go converts through filepath.VolumeName.)
func TestWindowsPathsLoadAsComposeLoadsThem(t *testing.T) {
	dir := t.TempDir()
	compose := `services:
  api:
    image: devstack-test/busybox:1
    volumes:
      - 'C:\Users\me\src:/app'
      - 'd:\data\cache:/cache:ro'
      - type: bind
        source: 'C:\Users\me\My Documents\certs'
        target: /certs
      - ./relative:/rel
`
	if err := os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(compose), 0o644); err != nil {
		t.Fatal(err)
	}
	type mount struct {
		source, target string
		ro             bool
	}
	check := func(env []string, want []mount) {
		t.Helper()
		p := mustLoad(t, Options{WorkDir: dir, Env: env})
		svc := service(t, p, "api")
		if len(svc.Volumes) != len(want) {
			t.Fatalf("%v: %d mounts, want %d: %+v", env, len(svc.Volumes), len(want), svc.Volumes)
		}
		for i, m := range svc.Volumes {
			got := mount{m.Source, m.Target, m.ReadOnly}
			if got != want[i] || m.Type != "bind" {
				t.Errorf("%v: mount %d = %+v (%s), want %+v (bind)", env, i, got, m.Type, want[i])
			}
		}
	}
	rel := filepath.Join(dir, "relative")
	check([]string{}, []mount{
		{`C:\Users\me\src`, "/app", false},
		{`d:\data\cache`, "/cache", true},
		{`C:\Users\me\My Documents\certs`, "/certs", false},
		{rel, "/rel", false},
	})
}
