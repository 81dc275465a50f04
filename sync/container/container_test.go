package container_test

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"devstack/engine"
	"devstack/engine/docker"
	"devstack/engine/enginetest"
	"devstack/sync/container"
	"devstack/sync/manifest"
)

// api adapts the engine's runtime to what this package needs.
type api struct{ rt *docker.Runtime }

func (a api) CopyTo(ctx context.Context, id, dir string, r io.Reader) error {
	return a.rt.CopyTo(ctx, id, dir, r)
}
func (a api) CopyFrom(ctx context.Context, id, path string) (io.ReadCloser, error) {
	return a.rt.CopyFrom(ctx, id, path)
}
func (a api) Exec(ctx context.Context, id string, x container.ExecSpec) (int, error) {
	return a.rt.Exec(ctx, id, engine.ExecOptions{Cmd: x.Cmd, User: x.User, WorkDir: x.WorkDir, Env: x.Env, Stdin: x.Stdin, Stdout: x.Stdout, Stderr: x.Stderr})
}

func newAPI(t *testing.T) api {
	t.Helper()
	rt, err := docker.New(context.Background(), docker.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })
	return api{rt}
}

// run starts a container of image running args, labelled for cleanup.
func run(t *testing.T, image string, args ...string) string {
	t.Helper()
	return runWith(t, nil, image, args...)
}

// runWith is run with more options of docker run (mounts, user, tmpfs).
func runWith(t *testing.T, opts []string, image string, args ...string) string {
	t.Helper()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	project := "dssc" + hex.EncodeToString(b)
	t.Cleanup(func() { enginetest.RemoveProject(project) })
	cmd := append([]string{"run", "-d", "--label", "com.docker.compose.project=" + project}, opts...)
	cmd = append(append(cmd, image), args...)
	out, err := exec.Command("docker", cmd...).CombinedOutput()
	if err != nil {
		t.Fatalf("docker run: %v: %s", err, out)
	}
	return strings.TrimSpace(string(out))
}

func sh(t *testing.T, a api, id, script string) string {
	t.Helper()
	var out bytes.Buffer
	code, err := a.Exec(context.Background(), id, container.ExecSpec{Cmd: []string{"sh", "-c", script}, Stdout: &out, Stderr: &out})
	if err != nil || code != 0 {
		t.Fatalf("%s: %v %d %s", script, err, code, out.String())
	}
	return out.String()
}

// tarOf writes entries (name -> content; a trailing "/" makes a directory).
func tarOf(entries ...string) func(io.Writer) error {
	return func(w io.Writer) error {
		tw := tar.NewWriter(w)
		for i := 0; i+1 < len(entries); i += 2 {
			name, body := entries[i], entries[i+1]
			h := &tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg, ModTime: time.Unix(1700000000, 0), Uid: 1000, Gid: 1000}
			if strings.HasSuffix(name, "/") {
				h.Typeflag, h.Size, h.Mode = tar.TypeDir, 0, 0o755
			}
			if err := tw.WriteHeader(h); err != nil {
				return err
			}
			if _, err := io.WriteString(tw, body); err != nil {
				return err
			}
		}
		return tw.Close()
	}
}

func TestAgentAppliesListsAndSurvivesAFailedRequest(t *testing.T) {
	img := enginetest.Busybox(t)
	a := newAPI(t)
	id := run(t, img, "sleep", "3600")
	ctx := context.Background()
	ag, err := container.StartAgent(ctx, a, id)
	if err != nil {
		t.Fatal(err)
	}
	defer ag.Close()

	big := strings.Repeat("0123456789abcdef", 300_000) // 4.8 MB: several frames
	if err := ag.Apply(ctx, container.Batch{Parts: parts(tarOf("app/", "", "app/a.txt", "hello", "app/sub/", "", "app/sub/big.bin", big))}); err != nil {
		t.Fatal(err)
	}
	if got := sh(t, a, id, "cat /app/a.txt; stat -c '%u:%g %Y' /app/a.txt; wc -c < /app/sub/big.bin"); got != "hello1000:1000 1700000000\n4800000\n" {
		t.Fatalf("container holds %q", got)
	}

	// Digests for files whose mtime cannot tell: one request for all.
	if sums, err := ag.Digest(ctx, []string{"/app/a.txt", "/app/nothing"}); err != nil || len(sums) != 1 || sums["/app/a.txt"] != md5hello {
		t.Fatalf("digests %v %v", sums, err)
	}

	// A batch for a remote engine travels gzipped (busybox has gzip).
	if !ag.Gzip() {
		t.Fatal("the agent did not find busybox's gzip")
	}
	if err := ag.Apply(ctx, container.Batch{Parts: parts(tarOf("zip/c.txt", "zipped")), Compress: true}); err != nil {
		t.Fatal(err)
	}
	if got := sh(t, a, id, "cat /zip/c.txt"); got != "zipped" {
		t.Fatalf("compressed batch gave %q", got)
	}

	// A root-owned batch is extracted without setting owners: what the
	// headers say is not applied (they say 1000 here to show it).
	if err := ag.Apply(ctx, container.Batch{Parts: parts(tarOf("root/r.txt", "r")), RootOwned: true}); err != nil {
		t.Fatal(err)
	}
	if got := sh(t, a, id, "stat -c '%u:%g %Y' /root/r.txt"); got != "0:0 1700000000\n" {
		t.Fatalf("root-owned batch gave %q", got)
	}

	m, err := ag.List(ctx, "/app")
	if err != nil {
		t.Fatal(err)
	}
	if m["a.txt"].Size != 5 || m["a.txt"].MTime != 1700000000 || m["a.txt"].UID != 1000 || m["sub"].Kind != manifest.KindDir || len(m) != 3 {
		t.Fatalf("listing %+v", m)
	}
	if m, err := ag.List(ctx, "/no/such dir"); err != nil || len(m) != 0 {
		t.Fatalf("listing a missing dir: %v %v", m, err)
	}

	// A request that fails in the container (a file where a directory
	// must go) reports the error; the next request still works.
	err = ag.Apply(ctx, container.Batch{Parts: parts(tarOf("app/a.txt/x", "nope", "app/z.txt", "zz"))})
	if err == nil {
		t.Fatal("extracting below a file should fail")
	}
	if err := ag.Apply(ctx, container.Batch{Delete: []string{"/app/sub", "/app/-odd name"}, Parts: parts(tarOf("app/b.txt", "bee"))}); err != nil {
		t.Fatalf("the request after a failure: %v", err)
	}
	if got := sh(t, a, id, "ls /app"); got != "a.txt\nb.txt\n" { // tar stops at its first error
		t.Fatalf("after delete: %q", got)
	}
	if !ag.Alive() {
		t.Fatal("agent should still be alive")
	}

	// A directory the batch writes into, or deletes below, that is a
	// symlink in the container refuses the request before anything is
	// written or deleted: even with a newline in its name.
	sh(t, a, id, "mkdir -p /bait && echo keep > /bait/k && ln -s /bait /app/lnk && ln -s /bait \"/app/n\nl\"")
	for _, dir := range []string{"/app/lnk", "/app/n\nl"} {
		err = ag.Apply(ctx, container.Batch{Dirs: []string{dir}, Parts: parts(tarOf(dir[1:]+"/planted", "x"))})
		var se *manifest.SymlinkError
		if !errors.As(err, &se) || len(se.Paths) != 1 || se.Paths[0] != "/app/lnk" && dir == "/app/lnk" {
			t.Fatalf("writing through %q: %v", dir, err)
		}
		err = ag.Apply(ctx, container.Batch{Delete: []string{dir + "/k"}})
		if !errors.As(err, &se) {
			t.Fatalf("deleting through %q: %v", dir, err)
		}
	}
	if got := sh(t, a, id, "ls /bait"); got != "k\n" {
		t.Fatalf("the bait directory holds %q", got)
	}
	if err := ag.Apply(ctx, container.Batch{Dirs: []string{"/app"}, Parts: parts(tarOf("app/fine.txt", "f"))}); err != nil {
		t.Fatalf("a batch with no symlink in its way: %v", err)
	}
}

func TestAgentEndsWithTheContainer(t *testing.T) {
	img := enginetest.Busybox(t)
	a := newAPI(t)
	id := run(t, img, "sleep", "3600")
	ctx := context.Background()
	ag, err := container.StartAgent(ctx, a, id)
	if err != nil {
		t.Fatal(err)
	}
	defer ag.Close()
	if out, err := exec.Command("docker", "restart", "-t", "0", id).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	tctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := ag.Apply(tctx, container.Batch{Parts: parts(tarOf("app/x", "x"))}); err == nil {
		t.Fatal("applying through the exec of a restarted container should fail")
	}
	if ag.Alive() {
		t.Fatal("agent still alive after its container restarted")
	}
	// A new agent works.
	ag2, err := container.StartAgent(ctx, a, id)
	if err != nil {
		t.Fatal(err)
	}
	defer ag2.Close()
	if err := ag2.Apply(ctx, container.Batch{Parts: parts(tarOf("app/x", "x"))}); err != nil {
		t.Fatal(err)
	}
}

// noShellImage is an image with a busybox binary but no shell on PATH.
func noShellImage(t *testing.T) string {
	t.Helper()
	const tag = "devstack-test/nosh:1"
	if exec.Command("docker", "image", "inspect", tag).Run() == nil {
		return tag
	}
	bin, err := os.ReadFile(enginetest.BusyboxPath)
	if err != nil {
		t.Fatal(err)
	}
	ctxTar, err := enginetest.ContextTar(map[string][]byte{
		"Dockerfile": []byte("FROM scratch\nCOPY busybox /busybox\nCOPY passwd /etc/passwd\nCOPY group /etc/group\n"),
		"busybox":    bin,
		"passwd":     []byte("root:x:0:0:root:/:/nope\nnode:x:1000:1001::/home/node:/nope\n"),
		"group":      []byte("root:x:0:\nstaff:x:50:\n"),
	})
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

func TestWithoutAShellTheArchiveTransportStillWritesAndLists(t *testing.T) {
	enginetest.NeedDocker(t)
	img := noShellImage(t)
	a := newAPI(t)
	id := run(t, img, "/busybox", "sleep", "3600")
	ctx := context.Background()
	if _, err := container.StartAgent(ctx, a, id); !errors.Is(err, container.ErrNoAgent) {
		t.Fatalf("StartAgent without a shell: %v, want ErrNoAgent", err)
	}
	ar := &container.Archive{API: a, ID: id}
	if err := ar.Apply(ctx, container.Batch{Parts: parts(tarOf("app/", "", "app/a.txt", "hello"))}); err != nil {
		t.Fatal(err)
	}
	m, err := ar.List(ctx, "/app")
	if err != nil {
		t.Fatal(err)
	}
	if m["a.txt"].Size != 5 || m["a.txt"].MTime != 1700000000 || len(m) != 1 {
		t.Fatalf("listing through the archive API: %+v", m)
	}
	if m, err := ar.List(ctx, "/nothing"); err != nil || len(m) != 0 {
		t.Fatalf("missing dir: %v %v", m, err)
	}
	// No md5sum: the digest comes from the file read through the API.
	if sums, err := ar.Digest(ctx, []string{"/app/a.txt", "/app/nothing"}); err != nil || len(sums) != 1 || sums["/app/a.txt"] != md5hello {
		t.Fatalf("digests without a shell %v %v", sums, err)
	}
	if m["a.txt"].Digest != md5hello {
		t.Fatalf("the tar listing carries no digest: %+v", m["a.txt"])
	}
	if err := ar.Apply(ctx, container.Batch{Delete: []string{"/app/a.txt"}}); err == nil {
		t.Fatal("deleting without rm should report an error")
	}
	o, err := container.ResolveUser(ctx, a, id, "node:staff")
	if err != nil || o != (container.Owner{UID: 1000, GID: 50}) {
		t.Fatalf("node:staff = %+v, %v", o, err)
	}
	o, err = container.ResolveUser(ctx, a, id, "node")
	if err != nil || o != (container.Owner{UID: 1000, GID: 1001}) {
		t.Fatalf("node = %+v, %v", o, err)
	}
	o, err = container.ResolveUser(ctx, a, id, "1000")
	if err != nil || o != (container.Owner{UID: 1000, GID: 1001}) {
		t.Fatalf("1000 = %+v, %v", o, err)
	}
	o, err = container.ResolveUser(ctx, a, id, "4242:7")
	if err != nil || o != (container.Owner{UID: 4242, GID: 7}) {
		t.Fatalf("4242:7 = %+v, %v", o, err)
	}
	if _, err := container.ResolveUser(ctx, a, id, "ghost"); err == nil || !strings.Contains(err.Error(), "no such user") {
		t.Fatalf("ghost: %v", err)
	}
}

func TestArchiveTransportOnBusybox(t *testing.T) {
	img := enginetest.Busybox(t)
	a := newAPI(t)
	id := run(t, img, "sleep", "3600")
	ctx := context.Background()
	ar := &container.Archive{API: a, ID: id}
	if err := ar.Apply(ctx, container.Batch{Parts: parts(tarOf("app/", "", "app/a.txt", "hello", "app/b.txt", "b"))}); err != nil {
		t.Fatal(err)
	}
	if err := ar.Apply(ctx, container.Batch{Delete: []string{"/app/b.txt"}}); err != nil {
		t.Fatal(err)
	}
	m, err := ar.List(ctx, "/app")
	if err != nil || len(m) != 1 || m["a.txt"].UID != 1000 {
		t.Fatalf("listing %+v %v", m, err)
	}
	if sums, err := ar.Digest(ctx, []string{"/app/a.txt", "/app/b.txt"}); err != nil || len(sums) != 1 || sums["/app/a.txt"] != md5hello {
		t.Fatalf("digests %v %v", sums, err)
	}
	// Compression asked for (a remote engine): the stream still goes
	// uncompressed (see TestArchiveTransportNeverSendsCompressedArchives).
	if err := ar.Apply(ctx, container.Batch{Parts: parts(tarOf("app/z.txt", "zipped")), Compress: true}); err != nil {
		t.Fatal(err)
	}
	if m, err := ar.List(ctx, "/app"); err != nil || m["z.txt"].Size != 6 {
		t.Fatalf("after a gzipped batch: %+v %v", m, err)
	}
}

func BenchmarkApplyOneSmallFile(b *testing.B) {
	img := enginetest.Busybox(b)
	rt, err := docker.New(context.Background(), docker.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer rt.Close()
	a := api{rt}
	bb := make([]byte, 4)
	_, _ = rand.Read(bb)
	project := "dssb" + hex.EncodeToString(bb)
	defer enginetest.RemoveProject(project)
	out, err := exec.Command("docker", "run", "-d", "--label", "com.docker.compose.project="+project, img, "sleep", "3600").Output()
	if err != nil {
		b.Fatal(err)
	}
	id := strings.TrimSpace(string(out))
	ctx := context.Background()
	ag, err := container.StartAgent(ctx, a, id)
	if err != nil {
		b.Fatal(err)
	}
	defer ag.Close()
	ar := &container.Archive{API: a, ID: id}
	for _, tr := range []container.Transport{ag, ar} {
		b.Run(tr.Kind(), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if err := tr.Apply(ctx, container.Batch{Parts: parts(tarOf("app/a.txt", "hello"))}); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(tr.Kind()+"-delete", func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if err := tr.Apply(ctx, container.Batch{Delete: []string{"/app/nothing"}}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func parts(p ...func(io.Writer) error) []func(io.Writer) error { return p }

func TestPoolExtractsPartsAtOnce(t *testing.T) {
	img := enginetest.Busybox(t)
	a := newAPI(t)
	id := run(t, img, "sleep", "3600")
	ctx := context.Background()
	p, err := container.StartPool(ctx, a, id, 3)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var ps []func(io.Writer) error
	for i := 0; i < 5; i++ {
		d := "app/d" + string(rune('0'+i)) + "/"
		ps = append(ps, tarOf(d, "", d+"f", "part"+string(rune('0'+i))))
	}
	if err := p.Apply(ctx, container.Batch{Delete: []string{"/app/old"}, Parts: ps}); err != nil {
		t.Fatal(err)
	}
	if got := sh(t, a, id, "cat /app/d*/f"); got != "part0part1part2part3part4" {
		t.Fatalf("parts extracted: %q", got)
	}
	// Three execs run in the container now, two more than one-part batches need.
	if got := sh(t, a, id, "ps -o args | grep -c '^sh -c [M]=@@devstack-sync' || true"); strings.TrimSpace(got) != "3" {
		t.Fatalf("execs running: %s", got)
	}
	m, err := p.List(ctx, "/app")
	if err != nil || len(m) != 10 {
		t.Fatalf("list %v %v", m, err)
	}
}

// evilDecompressorImage is the test image plus an unpigz, pigz, gzip and
// xz that leave a marker wherever they run (the container's root, a
// bind-mounted host directory, the host's /tmp when run outside any
// chroot) and then decompress as asked, so a copy through them succeeds.
func evilDecompressorImage(t *testing.T) string {
	t.Helper()
	base := enginetest.Busybox(t)
	const tag = "devstack-test/evil-decompressor:1"
	if exec.Command("docker", "image", "inspect", tag).Run() == nil {
		return tag
	}
	script := []byte("#!/bin/busybox sh\n" +
		"for d in / /marks /tmp; do echo \"$0 ran as $(id -u)\" >> \"$d/" + evilMarker + "\" 2>/dev/null; done\n" +
		"case \"$0\" in *xz) exec /bin/busybox xz \"$@\";; *) exec /bin/busybox gzip \"$@\";; esac\n")
	ctxTar, err := enginetest.ContextTar(map[string][]byte{
		"Dockerfile": []byte("FROM " + base + "\nCOPY evil /usr/local/bin/evil\n" +
			"RUN [\"/bin/busybox\", \"sh\", \"-c\", \"mkdir -p /marks && for n in unpigz pigz gzip xz; do rm -f /bin/$n /usr/bin/$n; ln -s /usr/local/bin/evil /bin/$n; ln -s /usr/local/bin/evil /usr/bin/$n; done\"]\n"),
		"evil": script,
	})
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

const md5hello = "5d41402abc4b2a76b9719d911017c592"

const evilMarker = "devstack-evil-decompressor-ran"

// sniffer records how every stream sent to PUT archive begins.
type sniffer struct {
	api
	mu    sync.Mutex
	heads [][]byte
}

func (s *sniffer) CopyTo(ctx context.Context, id, dir string, r io.Reader) error {
	br := bufio.NewReader(r)
	head, _ := br.Peek(4)
	s.mu.Lock()
	s.heads = append(s.heads, append([]byte(nil), head...))
	s.mu.Unlock()
	return s.api.CopyTo(ctx, id, dir, br)
}

// Compression asked for on the archive transport (a remote engine) never
// reaches PUT archive: the engine would run the image's decompressor as
// root on its host. The batch goes uncompressed, and no decompressor of
// the image runs.
func TestArchiveTransportNeverSendsCompressedArchives(t *testing.T) {
	img := evilDecompressorImage(t)
	marks := t.TempDir()
	if err := os.Chmod(marks, 0o777); err != nil {
		t.Fatal(err)
	}
	hostMarker := filepath.Join(os.TempDir(), evilMarker)
	if _, err := os.Lstat(hostMarker); err == nil {
		t.Fatalf("%s exists before the test: remove it", hostMarker)
	}
	t.Cleanup(func() { os.Remove(hostMarker) }) // made by this test if at all
	a := &sniffer{api: newAPI(t)}
	id := runWith(t, []string{"-v", marks + ":/marks"}, img, "sleep", "3600")
	ctx := context.Background()
	// The image's gzip works (and leaves its marker) when run in the
	// container: the fixture is armed.
	if got := sh(t, a.api, id, "printf x | gzip -c | gzip -dc; rm -f /marks/"+evilMarker+" /"+evilMarker+" /tmp/"+evilMarker); got != "x" {
		t.Fatalf("the image's gzip gave %q", got)
	}

	ar := &container.Archive{API: a, ID: id}
	big := strings.Repeat("compressible ", 10_000)
	if err := ar.Apply(ctx, container.Batch{Parts: parts(tarOf("app/", "", "app/a.txt", big), tarOf("app/b.txt", "b")), Compress: true}); err != nil {
		t.Fatal(err)
	}
	if m, err := ar.List(ctx, "/app"); err != nil || m["a.txt"].Size != int64(len(big)) || m["b.txt"].Size != 1 {
		t.Fatalf("after the batch: %+v %v", m, err)
	}
	for i, h := range a.heads {
		if len(h) >= 2 && h[0] == 0x1f && h[1] == 0x8b {
			t.Errorf("stream %d sent to PUT archive is gzipped", i)
		}
	}
	if len(a.heads) != 2 {
		t.Errorf("%d streams sent, want 2", len(a.heads))
	}
	if got := sh(t, a.api, id, "cat /"+evilMarker+" /tmp/"+evilMarker+" 2>/dev/null; true"); got != "" {
		t.Errorf("a decompressor of the image ran: %q", got)
	}
	for _, p := range []string{filepath.Join(marks, evilMarker), hostMarker} {
		if b, err := os.ReadFile(p); err == nil {
			t.Errorf("a decompressor of the image ran where the host sees it (%s): %q", p, b)
		}
	}
}
