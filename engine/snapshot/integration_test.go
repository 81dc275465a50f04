package snapshot

import (
	"archive/tar"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"devstack/engine"
	"devstack/engine/docker"
	"devstack/engine/enginetest"
	"devstack/engine/event"
	"devstack/engine/model"
)

func newRuntime(t testing.TB, host string) *docker.Runtime {
	t.Helper()
	enginetest.Busybox(t)
	rt, err := docker.New(context.Background(), docker.Options{Host: host})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })
	return rt
}

func testCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// twoVolumes is a stack of two services, each writing into its own named
// volume (db also shares the second one), kept running.
func twoVolumes(t *testing.T, image string) *model.Project {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	name := "snap" + strings.ToLower(strings.NewReplacer("/", "", "_", "").Replace(t.Name())) + hex.EncodeToString(b)
	if len(name) > 50 {
		name = name[len(name)-50:]
	}
	t.Cleanup(func() { enginetest.RemoveProject(name) })
	yes := true
	idle := []string{"sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1; done"}
	p := &model.Project{Name: name, WorkingDir: t.TempDir(),
		Networks: map[string]model.Network{"default": {Name: name + "_default"}},
		Volumes: map[string]model.Volume{
			"db":    {Name: name + "_db"},
			"files": {Name: name + "_files"},
		},
		Services: []model.Service{
			{Name: "db", Image: image, Command: idle, Replicas: 1, Init: &yes,
				Networks: map[string]model.ServiceNetwork{"default": {}},
				Volumes:  []model.Mount{{Type: model.MountVolume, Source: "db", Target: "/data"}, {Type: model.MountVolume, Source: "files", Target: "/files"}}},
			{Name: "web", Image: image, Command: idle, Replicas: 1, Init: &yes,
				Networks: map[string]model.ServiceNetwork{"default": {}},
				Volumes:  []model.Mount{{Type: model.MountVolume, Source: "files", Target: "/srv"}}},
		},
	}
	for i := range p.Services {
		p.Services[i].ConfigHash = model.Hash(p.Services[i])
	}
	return p
}

func sh(t *testing.T, rt engine.Runtime, p *model.Project, service, script string) string {
	t.Helper()
	obs, err := rt.Observe(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range obs.Containers {
		if c.Service == service && !c.OneOff {
			var out strings.Builder
			code, err := rt.Exec(context.Background(), c.ID, engine.ExecOptions{Cmd: []string{"sh", "-c", script}, Stdout: &out, Stderr: &out})
			if err != nil || code != 0 {
				t.Fatalf("%s: %q: %d %v: %s", service, script, code, err, out.String())
			}
			return out.String()
		}
	}
	t.Fatalf("no container of %s", service)
	return ""
}

// checksum lists every file with its content's digest, owner and mode.
const checksum = `cd "$1" && find . -type f | sort | while read f; do echo "$f $(md5sum < "$f" | cut -c1-32) $(stat -c '%u:%g %a' "$f")"; done; stat -c 'root %u:%g %a' .`

func sums(t *testing.T, rt engine.Runtime, p *model.Project, service, dir string) string {
	return sh(t, rt, p, service, strings.Replace(checksum, `"$1"`, dir, 1))
}

// helpersGone waits until the restore's helper, handed the removal of
// the volumes' old entries, has removed them and itself.
func helpersGone(t *testing.T, rt engine.Runtime, p *model.Project) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		obs, err := rt.Observe(context.Background(), p)
		if err != nil {
			t.Fatal(err)
		}
		var left []string
		for _, c := range obs.Containers {
			if c.Service == helperService {
				left = append(left, c.Name+" "+string(c.State))
			}
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("helpers left a minute after the restore: %v", left)
		}
		time.Sleep(50 * time.Millisecond) // polling with a deadline
	}
}

func TestSnapshotSaveChangeRestore(t *testing.T) {
	rt := newRuntime(t, "")
	snapshotRoundTrip(t, rt, false, func(args ...string) (string, error) {
		out, err := exec.Command("docker", args...).CombinedOutput()
		return string(out), err
	})
}

// The same on a remote engine over SSH: read and written through the
// API alone, stored compressed here.
func TestSnapshotOverSSH(t *testing.T) {
	h := enginetest.StartSSHHost(t)
	h.LoadImage(enginetest.Busybox(t))
	rt := newRuntime(t, h.URL)
	if !rt.Remote() {
		t.Fatal("not a remote runtime")
	}
	snapshotRoundTrip(t, rt, true, h.Docker)
}

func snapshotRoundTrip(t *testing.T, rt *docker.Runtime, compress bool, docker func(args ...string) (string, error)) {
	ctx := testCtx(t, 3*time.Minute)
	p := twoVolumes(t, enginetest.BusyboxImage)
	e := engine.New(rt, event.Discard)
	if err := e.Up(ctx, p, engine.UpOptions{}); err != nil {
		t.Fatal(err)
	}
	sh(t, rt, p, "db", `mkdir -p /data/pg/base && for i in $(seq 1 200); do echo row $i > /data/pg/base/$i; done && chown -R 65534:65534 /data/pg && chmod 700 /data/pg && chmod 750 /data && dd if=/dev/urandom of=/data/big bs=1k count=3000 2>/dev/null && ln -s pg/base /data/link`)
	sh(t, rt, p, "web", `echo "<h1>v1</h1>" > /srv/index.html && mkdir /srv/empty`)
	dbBefore, webBefore := sums(t, rt, p, "db", "/data"), sums(t, rt, p, "web", "/srv")

	store := Store{Root: t.TempDir()}
	m, err := Save(ctx, SaveOptions{Runtime: rt, Store: store, Project: p, Name: "before", Compress: compress, Log: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Volumes) != 2 || m.Volumes[0].Key != "db" || m.Volumes[0].Files < 203 || len(m.Services) != 2 {
		t.Fatalf("manifest: %+v", m)
	}
	if compress != (m.Volumes[0].Encoding == encTarZstd) || (compress && m.Volumes[0].Stored >= m.Volumes[0].Bytes) {
		t.Errorf("compress %v: volume stored as %s, %d of %d bytes", compress, m.Volumes[0].Encoding, m.Volumes[0].Stored, m.Volumes[0].Bytes)
	}
	if _, err := Save(ctx, SaveOptions{Runtime: rt, Store: store, Project: p, Name: "before"}); err == nil || !strings.Contains(err.Error(), "already has a snapshot") {
		t.Fatalf("saving over a snapshot: %v", err)
	}

	// The migration gone wrong.
	sh(t, rt, p, "db", `rm -rf /data/pg/base/1* && echo broken > /data/pg/base/2 && echo new > /data/new && chmod 777 /data`)
	sh(t, rt, p, "web", `echo "<h1>v2</h1>" > /srv/index.html && rmdir /srv/empty`)
	if sums(t, rt, p, "db", "/data") == dbBefore {
		t.Fatal("the change changed nothing")
	}
	obs, _ := rt.Observe(ctx, p)
	ids := map[string]string{}
	for _, c := range obs.Containers {
		ids[c.Service] = c.ID
	}

	asked := ""
	if _, err := Restore(ctx, RestoreOptions{Runtime: rt, Store: store, Project: p, Name: "before", Log: t.Logf,
		Confirm: func(s string) (bool, error) { asked = s; return true, nil }}); err != nil {
		t.Fatal(err)
	}
	// A save right away waits for the helper removing the old entries:
	// it holds what the restore put back, no more.
	m2, err := Save(ctx, SaveOptions{Runtime: rt, Store: store, Project: p, Name: "after", Compress: compress, Log: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	for i := range m.Volumes {
		if m2.Volumes[i].Files != m.Volumes[i].Files || m2.Volumes[i].Bytes != m.Volumes[i].Bytes {
			t.Errorf("volume %s saved after the restore: %d entries, %d bytes; want the restored %d, %d", m.Volumes[i].Name, m2.Volumes[i].Files, m2.Volumes[i].Bytes, m.Volumes[i].Files, m.Volumes[i].Bytes)
		}
	}
	if err := store.Remove(p.Name, "after"); err != nil {
		t.Fatal(err)
	}
	helpersGone(t, rt, p)
	if !strings.Contains(asked, p.Name+"_db") || !strings.Contains(asked, "stops and starts again") {
		t.Errorf("the question: %q", asked)
	}
	if got := sums(t, rt, p, "db", "/data"); got != dbBefore {
		t.Errorf("db after restore:\n%s\nwant:\n%s", got, dbBefore)
	}
	if got := sums(t, rt, p, "web", "/srv"); got != webBefore {
		t.Errorf("web after restore:\n%s\nwant:\n%s", got, webBefore)
	}
	if got := sh(t, rt, p, "db", `readlink /data/link; test -d /files/empty && echo shared`); got != "pg/base\nshared\n" {
		t.Errorf("link and shared volume: %q", got)
	}
	obs, _ = rt.Observe(ctx, p)
	for _, c := range obs.Containers {
		if c.OneOff || c.State != model.StateRunning || ids[c.Service] != c.ID {
			t.Errorf("after restore: %s %s (%s), want the same containers running", c.Name, c.State, c.ID[:12])
		}
	}
	// No staging volume, helper or journal is left.
	out, _ := docker("volume", "ls", "-q", "--filter", "name="+p.Name)
	if n := len(strings.Fields(out)); n != 2 {
		t.Errorf("volumes left: %s", out)
	}
	if _, err := os.Stat(store.journalPath(p.Name)); !os.IsNotExist(err) {
		t.Errorf("journal left: %v", err)
	}

	list, err := store.List("")
	if err != nil || len(list) != 1 || list[0].Name != "before" || list[0].Size() == 0 {
		t.Fatalf("list: %+v %v", list, err)
	}
	if err := store.Remove(p.Name, "before"); err != nil {
		t.Fatal(err)
	}
	var nf *NotFoundError
	if err := store.Remove(p.Name, "before"); !errors.As(err, &nf) {
		t.Fatalf("second rm: %v", err)
	}
	if _, err := Restore(ctx, RestoreOptions{Runtime: rt, Store: store, Project: p, Name: "before"}); !errors.As(err, &nf) {
		t.Fatalf("restore of a removed snapshot: %v", err)
	}
}

func TestSnapshotCorruptedIsRefused(t *testing.T) {
	rt := newRuntime(t, "")
	ctx := testCtx(t, 2*time.Minute)
	p := twoVolumes(t, enginetest.BusyboxImage)
	if err := engine.New(rt, event.Discard).Up(ctx, p, engine.UpOptions{}); err != nil {
		t.Fatal(err)
	}
	sh(t, rt, p, "db", `for i in $(seq 1 50); do echo row $i > /data/$i; done`)
	store := Store{Root: t.TempDir()}
	m, err := Save(ctx, SaveOptions{Runtime: rt, Store: store, Project: p, Name: "s1"})
	if err != nil {
		t.Fatal(err)
	}
	sh(t, rt, p, "db", `echo changed > /data/7`)
	after := sums(t, rt, p, "db", "/data")
	// One byte of a file's content flipped, the size unchanged.
	f := filepath.Join(store.dir(p.Name, "s1"), m.Volumes[0].File)
	b, _ := os.ReadFile(f)
	i := strings.Index(string(b), "row 7\n")
	b[i+4] = '8'
	if err := os.WriteFile(f, b, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Restore(ctx, RestoreOptions{Runtime: rt, Store: store, Project: p, Name: "s1",
		Confirm: func(string) (bool, error) { t.Error("asked to confirm a corrupted snapshot"); return true, nil }})
	var ce *CorruptedError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "checksum") || ce.Volume != p.Name+"_db" {
		t.Fatalf("restore of a corrupted snapshot: %v", err)
	}
	if got := sums(t, rt, p, "db", "/data"); got != after {
		t.Errorf("the volume changed:\n%s", got)
	}
	out, _ := exec.Command("docker", "volume", "ls", "-q", "--filter", "name="+p.Name).Output()
	if n := len(strings.Fields(string(out))); n != 2 {
		t.Errorf("volumes left: %s", out)
	}
	// A truncated file is named before anything is written.
	if err := os.Truncate(f, int64(len(b)-100)); err != nil {
		t.Fatal(err)
	}
	if _, err = Restore(ctx, RestoreOptions{Runtime: rt, Store: store, Project: p, Name: "s1"}); !errors.As(err, &ce) || !strings.Contains(err.Error(), "manifest says") {
		t.Fatalf("truncated: %v", err)
	}
}

// A volume another project's container mounts is refused.
func TestSnapshotSharedVolumeRefused(t *testing.T) {
	rt := newRuntime(t, "")
	ctx := testCtx(t, 2*time.Minute)
	p := twoVolumes(t, enginetest.BusyboxImage)
	if err := engine.New(rt, event.Discard).Up(ctx, p, engine.UpOptions{}); err != nil {
		t.Fatal(err)
	}
	other := p.Name + "x"
	t.Cleanup(func() { enginetest.RemoveProject(other) })
	if out, err := exec.Command("docker", "create", "--label", model.LabelProject+"="+other, "--name", other+"-peek", "-v", p.Name+"_files:/x", enginetest.BusyboxImage).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	_, err := Save(ctx, SaveOptions{Runtime: rt, Store: Store{Root: t.TempDir()}, Project: p, Name: "s"})
	if err == nil || !strings.Contains(err.Error(), "in use by container "+other+"-peek (project "+other+")") {
		t.Fatalf("save: %v", err)
	}
}

// A disk that fills while saving: the error says so, and nothing of the
// partial snapshot is left.
func TestSnapshotDiskFull(t *testing.T) {
	rt := newRuntime(t, "")
	if os.Geteuid() != 0 {
		t.Skip("a small filesystem to fill needs root (mount -t tmpfs)")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m", "devstack-test", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", dir).Run() })
	ctx := testCtx(t, 2*time.Minute)
	p := twoVolumes(t, enginetest.BusyboxImage)
	if err := engine.New(rt, event.Discard).Up(ctx, p, engine.UpOptions{}); err != nil {
		t.Fatal(err)
	}
	sh(t, rt, p, "db", `dd if=/dev/urandom of=/data/big bs=1k count=3000 2>/dev/null`)
	store := Store{Root: filepath.Join(dir, "snapshots")}
	_, err := Save(ctx, SaveOptions{Runtime: rt, Store: store, Project: p, Name: "full"})
	if err == nil || !strings.Contains(err.Error(), "no space left") || !strings.Contains(err.Error(), "partial snapshot was removed") {
		t.Fatalf("save onto a full disk: %v", err)
	}
	entries, _ := os.ReadDir(store.projectDir(p.Name))
	for _, e := range entries {
		if e.Name() != ".lock" {
			t.Errorf("left in the store: %s", e.Name())
		}
	}
	if list, _ := store.List(p.Name); len(list) != 0 {
		t.Errorf("listed: %+v", list)
	}
}

// --containers: a container's own filesystem changes come back with the
// volumes, in a container made from the saved filesystem.
func TestSnapshotContainers(t *testing.T) {
	rt := newRuntime(t, "")
	ctx := testCtx(t, 4*time.Minute)
	p := twoVolumes(t, enginetest.BusyboxImage)
	e := engine.New(rt, event.Discard)
	if err := e.Up(ctx, p, engine.UpOptions{}); err != nil {
		t.Fatal(err)
	}
	sh(t, rt, p, "web", `echo one > /etc/motd && echo v1 > /srv/page`)
	store := Store{Root: t.TempDir()}
	m, err := Save(ctx, SaveOptions{Runtime: rt, Store: store, Project: p, Name: "c1", Services: []string{"web"}, Containers: true, Log: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = exec.Command("docker", "rmi", "-f", m.Images[0].Ref).Run() })
	if len(m.Images) != 1 || m.Images[0].Service != "web" || len(m.Volumes) != 1 {
		t.Fatalf("manifest: %+v", m)
	}
	sh(t, rt, p, "web", `echo two > /etc/motd && echo v2 > /srv/page`)
	if _, err := Restore(ctx, RestoreOptions{Runtime: rt, Store: store, Project: p, Name: "c1", Log: t.Logf}); err != nil {
		t.Fatal(err)
	}
	helpersGone(t, rt, p)
	if got := sh(t, rt, p, "web", `cat /etc/motd /srv/page`); got != "one\nv1\n" {
		t.Errorf("after restore: %q", got)
	}
	obs, _ := rt.Observe(ctx, p)
	for _, c := range obs.Containers {
		if c.State != model.StateRunning {
			t.Errorf("%s is %s", c.Name, c.State)
		}
		if c.Service == "web" && c.Image != m.Images[0].Ref {
			t.Errorf("web runs %s, want the saved filesystem %s", c.Image, m.Images[0].Ref)
		}
	}
}

// A restore's clean-up cut short (its helper killed) leaves the old
// entries in .devstack-restore-old.* at the volume's root: a later save
// leaves them out, whether tar writes the file itself (shared) or the
// volume is streamed (compressed, as for a remote engine).
func TestSnapshotSaveLeavesOutARestoresLeftovers(t *testing.T) {
	rt := newRuntime(t, "")
	ctx := testCtx(t, 2*time.Minute)
	p := twoVolumes(t, enginetest.BusyboxImage)
	if err := engine.New(rt, event.Discard).Up(ctx, p, engine.UpOptions{}); err != nil {
		t.Fatal(err)
	}
	sh(t, rt, p, "db", `echo live > /data/a && mkdir -p /data/.devstack-restore-old.0bad/pg && echo stale > /data/.devstack-restore-old.0bad/pg/1`)
	store := Store{Root: t.TempDir()}
	for _, compress := range []bool{false, true} {
		name := fmt.Sprintf("compress-%v", compress)
		m, err := Save(ctx, SaveOptions{Runtime: rt, Store: store, Project: p, Name: name, Compress: compress})
		if err != nil {
			t.Fatal(err)
		}
		v := m.Volumes[0]
		rc, err := openFile(store.dir(p.Name, name), v.File, v.Encoding)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			names = append(names, h.Name)
		}
		rc.Close()
		if got := strings.Join(names, " "); got != "./ a" || v.Files != 1 {
			t.Errorf("%s: volume db saved as %q (%d entries), want \"./ a\" (1)", name, got, v.Files)
		}
	}
}
