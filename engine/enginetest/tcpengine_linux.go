package enginetest

import (
	"net"
	"os"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"devstack/engine/splice"
)

// TCPURL serves the host's engine on tcp://Addr:2375 without TLS (an
// engine reached as tcp:// on another machine) until the test ends, and
// returns that address. The listener is made inside the host's network
// namespace (a thread joins it just for that), so it exists only at the
// host's address, as a remote engine's port would.
func (h *SSHHost) TCPURL(t testing.TB) string {
	t.Helper()
	addr := net.JoinHostPort(h.Addr, "2375")
	type result struct {
		ln  net.Listener
		err error
	}
	ch := make(chan result, 1)
	go func() {
		// The thread is left in the namespace and ends with this
		// goroutine (locked, never unlocked): no other goroutine runs on it.
		runtime.LockOSThread()
		f, err := os.Open("/run/netns/" + h.netns)
		if err != nil {
			ch <- result{err: err}
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			ch <- result{err: err}
			return
		}
		ln, err := net.Listen("tcp", addr)
		ch <- result{ln, err}
	}()
	r := <-ch
	if r.err != nil {
		// The host is up and its namespace is ours: a listener that
		// cannot be made there is a broken fixture, not a missing one.
		t.Fatalf("unable to serve the engine on %s in the SSH test host's network namespace %s: %v", addr, h.netns, r.err)
	}
	t.Cleanup(func() { r.ln.Close() })
	sock := strings.TrimPrefix(h.Host, "unix://")
	go func() {
		for {
			c, err := r.ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				e, err := net.Dial("unix", sock)
				if err != nil {
					return
				}
				splice.Conns(c, e)
			}()
		}
	}()
	return "tcp://" + addr
}
