package engine_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"devstack/engine"
	"devstack/engine/enginetest"
	"devstack/engine/model"
)

// volumeAt returns the name of the volume mounted at target in container id.
func volumeAt(t *testing.T, id, target string) string {
	t.Helper()
	out, err := exec.Command("docker", "inspect", "-f", "{{json .Mounts}}", id).Output()
	if err != nil {
		t.Fatalf("docker inspect %s: %v", id, err)
	}
	var mounts []struct{ Type, Name, Destination string }
	if err := json.Unmarshal(out, &mounts); err != nil {
		t.Fatal(err)
	}
	for _, m := range mounts {
		if m.Destination == target && m.Type == "volume" {
			return m.Name
		}
	}
	t.Fatalf("container %s has no volume at %s: %s", id, target, out)
	return ""
}

func volumeExists(name string) bool {
	return exec.Command("docker", "volume", "inspect", name).Run() == nil
}

// setEnv changes one environment value of a service, as an edit of the
// compose file would, so that its containers must be recreated.
func (s *stack) setEnv(service, key, value string) {
	s.t.Helper()
	svc, ok := s.p.Service(service)
	if !ok {
		s.t.Fatalf("no service %s", service)
	}
	if svc.Environment == nil {
		svc.Environment = map[string]*string{}
	}
	svc.Environment[key] = &value
	svc.ConfigHash = model.Hash(*svc)
}

// newAnonVolumeStack is a stack of two services with an anonymous volume
// at /var/lib/data: anon's from its volumes:, img's from its image's
// VOLUME.
func newAnonVolumeStack(t *testing.T) *stack {
	t.Helper()
	s := newStack(t, `
services:
  anon:
    image: $IMAGE
    command: `+idle+`
    init: true
    volumes: ["/var/lib/data"]
  img:
    build: ./img
    command: `+idle+`
    init: true
`, map[string]string{
		"img/Dockerfile": "FROM " + enginetest.BusyboxImage + "\nVOLUME /var/lib/data\n",
	})
	return s
}

// writeKept writes "kept" into /var/lib/data/file of each service's
// container.
func (s *stack) writeKept(services ...string) {
	s.t.Helper()
	for _, svc := range services {
		if out, code := s.exec(svc, "sh", "-c", "echo kept > /var/lib/data/file"); code != 0 {
			s.t.Fatalf("%s: write failed: %s", svc, out)
		}
	}
}

// TestRecreateKeepsAnonymousVolumes: a config change recreates the
// container the way Compose does, and the data in its anonymous volumes
// (one from the service's volumes:, one from the image's VOLUME) is still
// there; -V asks for fresh ones; a replacement the engine refuses leaves
// the old container running; only down -v removes anonymous volumes.
func TestRecreateKeepsAnonymousVolumes(t *testing.T) {
	s := newAnonVolumeStack(t)
	services := []string{"anon", "img"}
	s.up(engine.UpOptions{Wait: true})
	first := s.containers(false)
	vols := map[string]string{}
	s.writeKept(services...)
	for _, svc := range services {
		vols[svc] = volumeAt(t, first[svc+"-1"].ID, "/var/lib/data")
	}

	// A config change: new containers, same names, same volumes, same data.
	for _, svc := range services {
		s.setEnv(svc, "MODE", "two")
	}
	s.up(engine.UpOptions{Wait: true})
	second := s.containers(false)
	for _, svc := range services {
		old, now := first[svc+"-1"], second[svc+"-1"]
		if now.ID == "" || now.ID == old.ID {
			t.Fatalf("%s: not recreated (before %s, after %s)", svc, old.ID, now.ID)
		}
		if now.Name != old.Name {
			t.Fatalf("%s: renamed from %s to %s", svc, old.Name, now.Name)
		}
		if out, _ := s.exec(svc, "cat", "/var/lib/data/file"); strings.TrimSpace(out) != "kept" {
			t.Fatalf("%s: anonymous volume data lost on recreate: %q", svc, out)
		}
		if got := volumeAt(t, now.ID, "/var/lib/data"); got != vols[svc] {
			t.Fatalf("%s: the new container mounts volume %s, not the old one's %s", svc, got, vols[svc])
		}
		if now.Labels[model.LabelReplace] != old.ID {
			t.Fatalf("%s: %s label is %q, want the replaced container's ID", svc, model.LabelReplace, now.Labels[model.LabelReplace])
		}
		if out, _ := s.exec(svc, "sh", "-c", "echo $MODE"); strings.TrimSpace(out) != "two" {
			t.Fatalf("%s: runs the old config: MODE=%q", svc, out)
		}
	}
	if n := len(s.containers(true)); n != 2 {
		t.Fatalf("%d containers after recreate, want 2: %v", n, s.containers(true))
	}

}

// TestRefusedReplacementLeavesTheOldContainerRunning: the replacement is
// created while the old container still runs, so when the engine refuses
// it (here a bind mount of a path that does not exist) nothing was
// stopped or removed.
func TestRefusedReplacementLeavesTheOldContainerRunning(t *testing.T) {
	s := newStack(t, `
services:
  anon:
    image: $IMAGE
    command: `+idle+`
    init: true
    volumes: ["/var/lib/data"]
`, nil)
	ctx := context.Background()
	s.up(engine.UpOptions{Wait: true})
	before := s.containers(false)["anon-1"]
	s.writeKept("anon")
	anon, _ := s.p.Service("anon")
	missing := filepath.Join(s.dir, "no-such-dir")
	anon.Volumes = append(anon.Volumes, model.Mount{Type: model.MountBind, Source: missing, Target: "/x"})
	anon.ConfigHash = model.Hash(*anon)
	upCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	err := s.e.Up(upCtx, s.p, engine.UpOptions{Wait: true})
	cancel()
	if err == nil {
		t.Fatal("up with a bind mount of a missing path succeeded")
	}
	after := s.containers(true)
	if c := after["anon-1"]; c.ID != before.ID || c.State != model.StateRunning {
		t.Fatalf("the refused replacement touched the old container: %+v (want %s running); error: %v", c, before.ID, err)
	}
	if len(after) != 1 {
		t.Fatalf("the refused replacement left %d containers, want 1: %v", len(after), after)
	}
	if out, _ := s.exec("anon", "cat", "/var/lib/data/file"); strings.TrimSpace(out) != "kept" {
		t.Fatalf("data lost after a refused replacement: %q", out)
	}
	if _, err := os.Stat(missing); err == nil {
		t.Fatal("the engine created the missing bind source")
	}
}

// TestRenewAnonVolumesAndOnlyDownVRemovesThem: -V gives recreated
// containers fresh anonymous volumes and leaves the old ones alone; down
// keeps every volume; down -v removes them all, those a replacement took
// over (which the engine no longer counts as anonymous) included.
func TestRenewAnonVolumesAndOnlyDownVRemovesThem(t *testing.T) {
	s := newAnonVolumeStack(t)
	ctx := context.Background()
	services := []string{"anon", "img"}
	var all []string // every anonymous volume the stack had
	volumes := func() map[string]string {
		out := map[string]string{}
		for _, svc := range services {
			out[svc] = volumeAt(t, s.containers(false)[svc+"-1"].ID, "/var/lib/data")
			all = append(all, out[svc])
		}
		return out
	}

	s.up(engine.UpOptions{Wait: true})
	s.writeKept(services...)
	first := volumes()
	for _, svc := range services {
		s.setEnv(svc, "MODE", "two")
	}
	s.up(engine.UpOptions{Wait: true, RenewAnonVolumes: true})
	renewed := volumes()
	for _, svc := range services {
		if renewed[svc] == first[svc] {
			t.Fatalf("%s: -V kept volume %s", svc, first[svc])
		}
		if out, code := s.exec(svc, "ls", "/var/lib/data"); code != 0 || strings.TrimSpace(out) != "" {
			t.Fatalf("%s: -V volume not fresh: %q", svc, out)
		}
		if !volumeExists(first[svc]) {
			t.Fatalf("%s: recreate removed the old anonymous volume %s", svc, first[svc])
		}
	}

	// A recreate that keeps the volumes, so that the containers mount them
	// by name, then down: nothing goes.
	for _, svc := range services {
		s.setEnv(svc, "MODE", "three")
	}
	s.up(engine.UpOptions{Wait: true})
	if kept := volumes(); kept["anon"] != renewed["anon"] || kept["img"] != renewed["img"] {
		t.Fatalf("recreate changed volumes %v to %v", renewed, kept)
	}
	s.down(engine.DownOptions{})
	for _, v := range all {
		if !volumeExists(v) {
			t.Fatalf("down without -v removed anonymous volume %s", v)
		}
	}

	// What is left is only volumes: down -v -p NAME, without the file,
	// finds and removes them.
	found, err := engine.Discover(ctx, s.rt, s.p.Name)
	if err != nil {
		t.Fatalf("a project with only anonymous volumes left: %v", err)
	}
	if err := s.e.Down(ctx, found, engine.DownOptions{Volumes: true}); err != nil {
		t.Fatal(err)
	}
	for _, v := range all {
		if volumeExists(v) {
			t.Fatalf("down -v -p %s left anonymous volume %s", s.p.Name, v)
		}
	}

	// down -v while the containers still mount what they took over.
	s.up(engine.UpOptions{Wait: true})
	all = nil
	volumes()
	for _, svc := range services {
		s.setEnv(svc, "MODE", "four")
	}
	s.up(engine.UpOptions{Wait: true})
	volumes()
	s.down(engine.DownOptions{Volumes: true})
	for _, v := range all {
		if volumeExists(v) {
			t.Fatalf("down -v left anonymous volume %s", v)
		}
	}
	out, err := exec.Command("docker", "volume", "ls", "-q", "--filter", "label="+model.LabelProject+"="+s.p.Name).Output()
	if err != nil || strings.TrimSpace(string(out)) != "" {
		t.Fatalf("down -v left volumes of the project: %q (%v)", out, err)
	}
}
