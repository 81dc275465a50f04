package enginetest

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh/knownhosts"
)

// LimitRate caps the link to the host at rate (tc's units: "10mbit") in
// both directions, with a token bucket on each end of the veth, until
// the test ends. It skips the test where tc is missing or refuses.
func (h *SSHHost) LimitRate(t testing.TB, rate string) {
	t.Helper()
	if _, err := exec.LookPath("tc"); err != nil {
		t.Skipf("a slow link needs tc: %v", err)
	}
	// A 400 ms queue: a burst waits for the bucket rather than being
	// dropped, as on a slow uplink.
	args := []string{"tc", "qdisc", "replace", "dev", "%s", "root", "tbf", "rate", rate, "burst", "32kbit", "latency", "400ms"}
	here := strings.Fields(fmt.Sprintf(strings.Join(args, " "), h.Veth))
	if out, err := exec.Command(here[0], here[1:]...).CombinedOutput(); err != nil {
		t.Skipf("tc cannot shape the link here: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("tc", "qdisc", "del", "dev", h.Veth, "root").Run() })
	there := strings.Fields(fmt.Sprintf(strings.Join(args, " "), h.Peer))
	if out, err := h.InNamespace(there...); err != nil {
		t.Skipf("tc cannot shape the link here: %v: %s", err, out)
	}
}

// UnlimitRate takes LimitRate's caps off.
func (h *SSHHost) UnlimitRate() {
	_ = exec.Command("tc", "qdisc", "del", "dev", h.Veth, "root").Run()
	_, _ = h.InNamespace("tc", "qdisc", "del", "dev", h.Peer, "root")
}

// SlowProxy is a TCP relay on this machine's loopback to the host's sshd
// that holds every chunk for a fixed delay in each direction (a link's
// latency: tc's netem is not in every kernel, this one's included) and
// counts the bytes sent towards the host.
type SlowProxy struct {
	// URL is the host's engine reached through the relay, for
	// DOCKER_HOST; the relay's address is in known_hosts.
	URL string
	// Sent counts the bytes this machine sent to the host through the
	// relay (SSH's, so everything devstack sent, encrypted).
	Sent atomic.Int64
	// Conns counts the connections made through the relay (SSH logins).
	Conns atomic.Int64
}

// Proxy starts a SlowProxy adding oneWay in each direction (a round trip
// of 2×oneWay more), until the test ends.
func (h *SSHHost) Proxy(t testing.TB, oneWay time.Duration) *SlowProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	p := &SlowProxy{}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.Conns.Add(1)
			go func() {
				defer c.Close()
				s, err := net.Dial("tcp", h.Addr+":22")
				if err != nil {
					return
				}
				defer s.Close()
				done := make(chan struct{}, 2)
				go func() { delayed(s, c, oneWay, &p.Sent); done <- struct{}{} }()
				go func() { delayed(c, s, oneWay, nil); done <- struct{}{} }()
				<-done
			}()
		}
	}()
	addr := ln.Addr().String()
	line := knownhosts.Line([]string{knownhosts.Normalize(addr)}, h.HostKey)
	if err := appendFile(h.Home+"/.ssh/known_hosts", line+"\n"); err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(addr)
	p.URL = strings.Replace(h.URL, h.Addr+":22", "127.0.0.1:"+port, 1)
	return p
}

// delayed copies src to dst, each chunk written delay after it was read;
// reading goes on meanwhile, so the delay adds latency, not a cap on
// throughput. A closed side closes the other's write half.
func delayed(dst, src net.Conn, delay time.Duration, count *atomic.Int64) {
	type chunk struct {
		b  []byte
		at time.Time
	}
	q := make(chan chunk, 4096)
	go func() {
		defer close(q)
		for {
			b := make([]byte, 32*1024)
			n, err := src.Read(b)
			if n > 0 {
				q <- chunk{b[:n], time.Now().Add(delay)}
			}
			if err != nil {
				return
			}
		}
	}()
	for c := range q {
		time.Sleep(time.Until(c.at)) // the link's latency: the emulation itself, not a wait for a result
		if _, err := dst.Write(c.b); err != nil {
			break
		}
		if count != nil {
			count.Add(int64(len(c.b)))
		}
	}
	if tc, ok := dst.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
	for range q { // let the reader finish
	}
}

func appendFile(name, s string) error {
	f, err := openAppend(name)
	if err != nil {
		return err
	}
	_, err = io.WriteString(f, s)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func openAppend(name string) (*os.File, error) {
	return os.OpenFile(name, os.O_APPEND|os.O_WRONLY, 0o600)
}
