package sync_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"devstack/engine/enginetest"
	"devstack/engine/event"
	"devstack/engine/model"
	devsync "devstack/sync"
	"devstack/sync/record"
)

// check runs sync check on a service of the stack.
func (s *stack) check(service string) devsync.Drift {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	d, err := devsync.Check(ctx, s.p, s.eng, service, devsync.CheckOptions{StateDir: s.state})
	if err != nil {
		s.t.Fatalf("sync check: %v", err)
	}
	return d
}

// A same-size edit within the second its previous version was synced in
// (devstack not running meanwhile) is seen by sync check and sent by the
// next initial sync: size and mtime second alone cannot tell it.
func TestSameSecondEditIsSeenAndSent(t *testing.T) {
	s := newStack(t, basic, map[string]string{"src/a.txt": "aaaa", "src/old.txt": "old"})
	src := filepath.Join(s.dir, "src")
	c := s.one("app")
	// The mtime is a few seconds ahead, so the sync below writes the
	// container's copy within that second whatever the load.
	sec := time.Now().Add(5 * time.Second).Truncate(time.Second)
	must(t, os.Chtimes(filepath.Join(src, "a.txt"), sec, sec.Add(250*time.Millisecond)))
	s.start(devsync.Options{})
	s.waitTree(c.ID, "/app", "a.txt F aaaa\nold.txt F old\n")
	if d := s.check("app"); !d.Clean() {
		t.Fatalf("not clean after the sync:\n%s", d)
	}
	s.stop()

	writeFile(t, filepath.Join(src, "a.txt"), "bbbb")
	must(t, os.Chtimes(filepath.Join(src, "a.txt"), sec, sec.Add(750*time.Millisecond)))
	d := s.check("app")
	if d.Clean() || len(d.Targets) != 1 || strings.Join(d.Targets[0].Differ, ",") != "/app/a.txt" {
		t.Fatalf("sync check missed the same-second edit:\n%s", d)
	}
	s.start(devsync.Options{})
	s.waitTree(c.ID, "/app", "a.txt F bbbb\nold.txt F old\n")
	if d := s.check("app"); !d.Clean() {
		t.Fatalf("not clean after the second sync:\n%s", d)
	}
}

// A develop.watch path that is a symlink (to a directory or a file) is
// watched where it points: edits there reach the container. One that
// leads nowhere is refused with the service and path, never accepted
// and then left idle.
func TestSymlinkedWatchPathIsWatched(t *testing.T) {
	s := newStack(t, `
services:
  app:
    image: $IMAGE
    command: ["sleep", "3600"]
    init: true
    develop:
      watch:
        - path: ./link
          action: sync
          target: /app
        - path: ./cfg-link
          action: sync
          target: /cfg/settings.txt
`, map[string]string{"real/a.txt": "a", "real/sub/b.txt": "b", "settings.txt": "s1", "outside.txt": "out"})
	must(t, os.Symlink("real", filepath.Join(s.dir, "link")))
	must(t, os.Symlink("settings.txt", filepath.Join(s.dir, "cfg-link")))
	must(t, os.Symlink("../outside.txt", filepath.Join(s.dir, "real", "escape")))
	c := s.one("app")
	s.start(devsync.Options{})
	s.waitTree(c.ID, "/app", "a.txt F a\nescape L ../outside.txt\nsub D\nsub/b.txt F b\n")
	s.waitTree(c.ID, "/cfg", "settings.txt F s1\n")

	writeFile(t, filepath.Join(s.dir, "real", "a.txt"), "a2")
	writeFile(t, filepath.Join(s.dir, "real", "sub", "new", "c.txt"), "c")
	must(t, os.Remove(filepath.Join(s.dir, "real", "sub", "b.txt")))
	atomicSave(t, filepath.Join(s.dir, "settings.txt"), "s2")
	s.waitTree(c.ID, "/app", "a.txt F a2\nescape L ../outside.txt\nsub D\nsub/new D\nsub/new/c.txt F c\n")
	s.waitTree(c.ID, "/cfg", "settings.txt F s2\n")
	if d := s.check("app"); !d.Clean() {
		t.Fatalf("not clean:\n%s", d)
	}
	s.stop()

	must(t, os.Symlink("nowhere", filepath.Join(s.dir, "dangling")))
	p := *s.p
	p.Services = append([]model.Service(nil), s.p.Services...)
	p.Services[0].Watch = append(p.Services[0].Watch[:0:0], p.Services[0].Watch[0])
	p.Services[0].Watch[0].Path = filepath.Join(s.dir, "dangling")
	_, err := devsync.New(devsync.Options{Project: &p, Engine: s.eng})
	if err == nil || !strings.Contains(err.Error(), "service app: develop.watch[0]") || !strings.Contains(err.Error(), "dangling") {
		t.Fatalf("a watch path leading nowhere: %v", err)
	}
}

// gnuTarImage is the test image with GNU tar (this machine's, with the
// libraries it loads) in place of busybox's, and dash as sh: busybox's
// shell would run its own tar applet whatever PATH says.
func gnuTarImage(t *testing.T) string {
	t.Helper()
	base := enginetest.Busybox(t)
	const tag = "devstack-test/gnutar:2"
	if exec.Command("docker", "image", "inspect", tag).Run() == nil {
		return tag
	}
	tarPath, err := exec.LookPath("tar")
	if err != nil {
		t.Fatalf("GNU tar: %v", err)
	}
	out, err := exec.Command("ldd", tarPath).Output()
	if err != nil {
		t.Fatalf("ldd %s: %v", tarPath, err)
	}
	files := map[string][]byte{}
	dockerfile := "FROM " + base + "\nRUN [\"/bin/busybox\", \"rm\", \"-f\", \"/bin/tar\", \"/usr/bin/tar\", \"/bin/sh\"]\n"
	add := func(host, ctr string) {
		b, err := os.ReadFile(host)
		if err != nil {
			t.Fatal(err)
		}
		name := "f" + strconv.Itoa(len(files))
		files[name] = b
		dockerfile += "COPY " + name + " " + ctr + "\n"
	}
	add(tarPath, "/bin/tar")
	add("/bin/dash", "/bin/sh")
	dash, err := exec.Command("ldd", "/bin/dash").Output()
	if err != nil {
		t.Fatalf("ldd dash: %v", err)
	}
	seen := map[string]bool{}
	for _, l := range strings.Split(string(out)+string(dash), "\n") {
		for _, f := range strings.Fields(l) {
			if strings.HasPrefix(f, "/") && !seen[f] {
				seen[f] = true
				add(f, f) // the library, or the loader, at the path asked for
			}
		}
	}
	files["Dockerfile"] = []byte(dockerfile)
	ctxTar, err := enginetest.ContextTar(files)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("docker", "build", "-q", "-t", tag, "-")
	cmd.Stdin = bytes.NewReader(ctxTar)
	cmd.Env = append(os.Environ(), "DOCKER_BUILDKIT=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v %s", tag, err, out)
	}
	return tag
}

// shAs runs a script in a container as user ("0:0", "1000:1000").
func (s *stack) shAs(id, user, script string) string {
	s.t.Helper()
	var out bytes.Buffer
	code, err := s.eng.Exec(context.Background(), id, devsync.ExecSpec{Cmd: []string{"sh", "-c", script}, User: user, Stdout: &out, Stderr: &out})
	if err != nil || code != 0 {
		s.t.Fatalf("exec %q as %s: %v %d %s", script, user, err, code, out.String())
	}
	return out.String()
}

// A process of the container, running as its ordinary user, swaps a
// synced directory for a symlink to a root-owned one: sync, which writes
// as root where the image made the target as root, must neither write
// nor delete through the link. The conflict shows in the sync events and
// in sync check; everything else still syncs. With busybox tar and GNU
// tar (which treat an existing link differently).
func TestSymlinkMadeInTheContainerIsNotFollowed(t *testing.T) {
	for _, flavour := range []string{"busybox", "gnu-tar"} {
		t.Run(flavour, func(t *testing.T) {
			compose := `
services:
  app:
    image: $IMAGE
    command: ["sleep", "3600"]
    init: true
    user: "1000:1000"
    develop:
      watch:
        - path: ./src
          action: sync
          target: /app
`
			if flavour == "gnu-tar" {
				compose = strings.ReplaceAll(compose, "$IMAGE", gnuTarImage(t))
			}
			s := newStack(t, compose, map[string]string{"src/sub/inner/x.txt": "x", "src/sub/inner/keep.txt": "k"})
			src := filepath.Join(s.dir, "src")
			c := s.one("app")
			if flavour == "gnu-tar" && !strings.Contains(s.sh(c.ID, "tar --version"), "GNU tar") {
				t.Fatal("the image's tar is not GNU tar")
			}
			s.start(devsync.Options{})
			s.waitTree(c.ID, "/app", "sub D\nsub/inner D\nsub/inner/keep.txt F k\nsub/inner/x.txt F x\n")

			s.shAs(c.ID, "0:0", "mkdir -m 755 /secure && echo root > /secure/x.txt")
			s.shAs(c.ID, "1000:1000", "mv /app/sub/inner /app/sub/moved && ln -s /secure /app/sub/inner")
			mark := s.mark()
			writeFile(t, filepath.Join(src, "sub", "inner", "new.txt"), "planted")
			must(t, os.Remove(filepath.Join(src, "sub", "inner", "x.txt")))
			ev := s.waitSync(mark, func(e event.Sync) bool { return strings.Contains(e.Error, "conflict") })
			if !strings.Contains(ev.Error, "/app/sub/inner") {
				t.Fatalf("the conflict does not name the link: %s", ev.Error)
			}
			// Other paths still sync.
			writeFile(t, filepath.Join(src, "other.txt"), "o")
			s.waitTree(c.ID, "/app", "other.txt F o\nsub D\nsub/inner L /secure\nsub/moved D\nsub/moved/keep.txt F k\nsub/moved/x.txt F x\n")
			if got := s.shAs(c.ID, "0:0", "ls -A /secure; cat /secure/x.txt; stat -c '%u %a' /secure"); got != "x.txt\nroot\n0 755\n" {
				t.Fatalf("sync went through the link into /secure: %q", got)
			}
			d := s.check("app")
			if len(d.Targets) != 1 || strings.Join(d.Targets[0].Conflicts, ",") != "/app/sub/inner" {
				t.Fatalf("sync check does not report the link:\n%s", d)
			}
			if !strings.Contains(d.String(), "conflict") {
				t.Fatalf("sync check output:\n%s", d)
			}
		})
	}
}

// Where the target belongs to the container's user, sync acts as that
// user: its exec runs with the user's uid, so even a link planted between
// its check and its write leads nowhere the user could not write.
func TestSyncActsAsTheContainersUserWhereItOwnsTheTarget(t *testing.T) {
	s := newStack(t, `
services:
  app:
    image: $IMAGE
    command: ["sh", "-c", "mkdir -p /tmp/app && exec sleep 3600"]
    init: true
    user: "1000:1000"
    develop:
      watch:
        - path: ./src
          action: sync
          target: /tmp/app
`, map[string]string{"src/sub/a.txt": "a"})
	src := filepath.Join(s.dir, "src")
	c := s.one("app")
	s.start(devsync.Options{})
	s.waitTree(c.ID, "/tmp/app", "sub D\nsub/a.txt F a\n")
	uids := s.shAs(c.ID, "0:0", `for p in /proc/[0-9]*; do grep -q "@@devstack-sy""nc" $p/cmdline 2>/dev/null && stat -c %u $p; done | sort -u`)
	if uids != "1000\n" {
		t.Fatalf("the sync execs run as %q, want the container's user 1000", uids)
	}
	if got := s.shAs(c.ID, "0:0", "stat -c '%u:%g' /tmp/app/sub /tmp/app/sub/a.txt"); got != "1000:1000\n1000:1000\n" {
		t.Fatalf("owners %q", got)
	}

	s.shAs(c.ID, "0:0", "mkdir -m 755 /secure")
	s.shAs(c.ID, "1000:1000", "rm -rf /tmp/app/sub && ln -s /secure /tmp/app/sub")
	mark := s.mark()
	writeFile(t, filepath.Join(src, "sub", "b.txt"), "planted")
	ev := s.waitSync(mark, func(e event.Sync) bool { return strings.Contains(e.Error, "conflict") })
	if !strings.Contains(ev.Error, "/tmp/app/sub") {
		t.Fatalf("conflict: %s", ev.Error)
	}
	if got := s.shAs(c.ID, "0:0", "ls -A /secure"); got != "" {
		t.Fatalf("written through the link: %q", got)
	}
}

// The container's disk fills up while a file is synced (a 64 KiB tmpfs
// target, mostly taken by a file the container made): the sync event
// says the disk is full, sync check says so and lists the file as not in
// sync (the part written is not taken for the file), and once there is
// room again sync sends it whole by itself.
func TestDiskFullInTheContainer(t *testing.T) {
	s := newStack(t, `
services:
  app:
    image: $IMAGE
    command: ["sleep", "3600"]
    init: true
    tmpfs:
      - /app:size=64k
    develop:
      watch:
        - path: ./src
          action: sync
          target: /app
`, map[string]string{"src/a.txt": "a"})
	src := filepath.Join(s.dir, "src")
	c := s.one("app")
	s.start(devsync.Options{})
	s.waitTree(c.ID, "/app", "a.txt F a\n")
	s.sh(c.ID, "dd if=/dev/zero of=/app/.filler bs=1024 count=44 2>/dev/null")

	big := strings.Repeat("0123456789abcdef", 3*1024) // 48 KiB
	mark := s.mark()
	writeFile(t, filepath.Join(src, "big.txt"), big)
	ev := s.waitSync(mark, func(e event.Sync) bool { return e.Error != "" })
	if !strings.Contains(ev.Error, "disk is full") {
		t.Fatalf("the sync error does not say the disk is full: %s", ev.Error)
	}
	d := s.check("app")
	if d.Clean() || !strings.Contains(d.String(), "/app/big.txt") || !strings.Contains(d.String(), "disk full") {
		t.Fatalf("sync check while the disk is full:\n%s", d)
	}
	rec, err := record.Read(s.state, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Has("/app/big.txt") {
		t.Fatal("the record claims the file cut short was synced")
	}

	// Room again: the retries send it whole, with no help.
	s.sh(c.ID, "rm /app/.filler")
	eventually(t, "big.txt whole in the container", func() (bool, string) {
		got := s.sh(c.ID, "md5sum < /app/big.txt 2>&1 || true")
		return strings.HasPrefix(got, md5hex(big)), got
	})
	if d := s.check("app"); !d.Clean() || strings.Contains(d.String(), "disk full") {
		t.Fatalf("sync check once there is room:\n%s", d)
	}
}

func md5hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}
