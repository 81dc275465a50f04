package enginetest

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// tbRecorder hears how a helper ends a test: Fatalf or Skipf, each of
// which ends the goroutine, as the testing package's do.
type tbRecorder struct {
	testing.TB
	fatal, skip string
	cleanups    []func()
}

func (r *tbRecorder) Helper()          {}
func (r *tbRecorder) Cleanup(f func()) { r.cleanups = append(r.cleanups, f) }
func (r *tbRecorder) Fatalf(format string, args ...any) {
	r.fatal = fmt.Sprintf(format, args...)
	runtime.Goexit()
}
func (r *tbRecorder) Skipf(format string, args ...any) {
	r.skip = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// A tcp:// engine that cannot listen fails the test with the reason: a
// skip would let the tests that need it pass without running.
func TestTCPURLFailsWhenItCannotListen(t *testing.T) {
	h := &SSHHost{Dockerd: &Dockerd{netns: "devstack-no-such-netns"}, Addr: "127.0.0.1"}
	r := &tbRecorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.TCPURL(r)
	}()
	<-done
	for _, f := range r.cleanups {
		f()
	}
	if r.skip != "" {
		t.Fatalf("skipped: %s", r.skip)
	}
	if !strings.Contains(r.fatal, "devstack-no-such-netns") || !strings.Contains(r.fatal, "no such file") {
		t.Fatalf("failure %q does not say which namespace and why", r.fatal)
	}
}
