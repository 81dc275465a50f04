//go:build unix

package docker

import (
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh/knownhosts"

	"devstack/engine"
	"devstack/engine/event"
)

// countingProxy forwards TCP connections to addr and counts the bytes
// that cross it, both ways.
func countingProxy(t *testing.T, addr string) (port int, bytes *atomic.Int64) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	bytes = &atomic.Int64{}
	count := func(dst io.Writer, src io.Reader) {
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				bytes.Add(int64(n)) // as it passes: the connection stays open
				if _, werr := dst.Write(buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				s, err := net.Dial("tcp", addr)
				if err != nil {
					return
				}
				defer s.Close()
				go count(s, c)
				count(c, s)
			}()
		}
	}()
	return l.Addr().(*net.TCPAddr).Port, bytes
}

// A BuildKit build over the SSH test host: the session goes through the
// one SSH connection, and a rebuild sends only what changed (nothing,
// when nothing did): measured on the wire, in front of sshd.
func TestBuildKitOverSSHSendsOnlyChanges(t *testing.T) {
	_, img := newTestRuntime(t)
	port, hostKey, home := testSSHD(t)
	proxyPort, wire := countingProxy(t, fmt.Sprintf("127.0.0.1:%d", port))
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	known := knownhosts.Line([]string{knownhosts.Normalize(fmt.Sprintf("127.0.0.1:%d", proxyPort))}, hostKey)
	if err := os.WriteFile(filepath.Join(home, ".ssh", "known_hosts"), []byte(known+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t, 4*time.Minute)
	remote, err := New(ctx, Options{Host: fmt.Sprintf("ssh://%s@127.0.0.1:%d", me.Username, proxyPort)})
	if err != nil {
		t.Fatal(err)
	}
	defer remote.Close()

	// 2 MiB of incompressible sources in 64 files.
	dir := t.TempDir()
	const files, size = 64, 32 << 10
	for i := range files {
		data := make([]byte, size)
		_, _ = rand.Read(data)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("src%02d.bin", i)), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p := newProject(t)
	svc := kitSvc(t, p, "app", dir, "FROM "+img+"\nCOPY . /src\nRUN --mount=type=cache,target=/cache ls /src | wc -l # "+p.Name+"\n")
	build := func(what string) int64 {
		before := wire.Load()
		rec := &event.Recorder{}
		if _, err := remote.Build(ctx, p, svc, engine.BuildOptions{}, rec); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		n := wire.Load() - before
		t.Logf("%s: %d KiB on the wire", what, n>>10)
		return n
	}
	ctxSize := int64(files * size)
	if cold := build("cold build"); cold < ctxSize {
		t.Errorf("the cold build sent %d bytes, less than the context (%d): the count misses the session", cold, ctxSize)
	}
	if same := build("rebuild, nothing changed"); same > ctxSize/10 {
		t.Errorf("a rebuild with nothing changed sent %d bytes, more than 10%% of the %d-byte context", same, ctxSize)
	}
	edit := make([]byte, size)
	_, _ = rand.Read(edit)
	if err := os.WriteFile(filepath.Join(dir, "src07.bin"), edit, 0o644); err != nil {
		t.Fatal(err)
	}
	if one := build("rebuild after one file changed"); one > ctxSize/4 {
		t.Errorf("a rebuild after one %d-byte edit sent %d bytes", size, one)
	}
}
