package forward

import (
	"context"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"devstack/engine/event"
	"devstack/engine/model"
)

// echoServer answers each connection with its name and then echoes.
func echoServer(t *testing.T, name string) uint16 {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.WriteString(c, name+"\n")
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	return uint16(l.Addr().(*net.TCPAddr).Port)
}

// engineHost dials "the engine's machine": here, this one, with the
// addresses rewritten to the echo servers' (the port numbers the
// "engine" publishes are made up, so that they are free here).
type engineHost struct{ ports map[string]uint16 }

func (h *engineHost) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, network, net.JoinHostPort("127.0.0.1", strconv.Itoa(int(h.ports[addr]))))
}

func freePort(t *testing.T) uint16 {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return uint16(l.Addr().(*net.TCPAddr).Port)
}

func greet(t *testing.T, addr string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	b := make([]byte, 64)
	n, err := c.Read(b)
	if err != nil {
		t.Fatalf("read from %s: %v", addr, err)
	}
	return strings.TrimSpace(string(b[:n]))
}

func container(id, service string, n int, state string, ports ...model.PublishedPort) model.Container {
	return model.Container{ID: id, Name: service + "-" + strconv.Itoa(n) + "-" + id, Service: service, Number: n, State: state, Ports: ports}
}

// Forwards land on the engine port's own number when it is free here,
// on the next one when it is not, follow a recreated container to its
// new engine port on the same local port, say UDP is not forwarded, and
// go with the replica.
func TestForwarderFollowsContainers(t *testing.T) {
	p1, p2 := freePort(t), freePort(t)
	// p2 is taken here by another program: its forward moves on.
	taken, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(int(p2))))
	if err != nil {
		t.Skipf("port %d vanished: %v", p2, err)
	}
	defer taken.Close()
	h := &engineHost{ports: map[string]uint16{}}
	h.ports["127.0.0.1:"+strconv.Itoa(int(p1))] = echoServer(t, "web-old")
	h.ports["10.9.9.9:"+strconv.Itoa(int(p2))] = echoServer(t, "api")
	var rec event.Recorder
	f := New(h.dial, &rec)
	var records [][]event.Forward
	f.OnChange = func(all []event.Forward) { records = append(records, all) }
	defer f.Close()

	f.Set([]model.Container{
		container("a1", "web", 1, model.StateRunning, model.PublishedPort{HostPort: p1, Target: 80, Protocol: "tcp"},
			model.PublishedPort{HostPort: 5353, Target: 53, Protocol: "udp"}),
		container("b1", "api", 1, model.StateRunning, model.PublishedPort{HostIP: "10.9.9.9", HostPort: p2, Target: 8080, Protocol: "tcp"}),
	})
	byPort := map[string]event.Forward{}
	for _, fw := range f.List() {
		byPort[fw.Port] = fw
	}
	web := byPort["0.0.0.0:"+strconv.Itoa(int(p1))+"->80/tcp"]
	if web.Local != "127.0.0.1:"+strconv.Itoa(int(p1)) {
		t.Fatalf("web forwarded to %q, want its own port %d: %+v", web.Local, p1, f.List())
	}
	api := byPort["10.9.9.9:"+strconv.Itoa(int(p2))+"->8080/tcp"]
	if api.Local == "" || api.Local == "127.0.0.1:"+strconv.Itoa(int(p2)) || api.Remote != "10.9.9.9:"+strconv.Itoa(int(p2)) {
		t.Fatalf("api: %+v (its port is taken here: want another, dialled at its bound address)", api)
	}
	udp := byPort["0.0.0.0:5353->53/udp"]
	if udp.Local != "" || !strings.Contains(udp.Error, "not forwarded") || !strings.Contains(udp.Error, "TCP only") {
		t.Fatalf("udp: %+v", udp)
	}
	if got := greet(t, web.Local); got != "web-old" {
		t.Fatalf("through %s: %q", web.Local, got)
	}
	if got := greet(t, api.Local); got != "api" {
		t.Fatalf("through %s: %q", api.Local, got)
	}

	// Recreated: a new container on another engine port; the local port stays.
	p3 := freePort(t)
	h.ports["127.0.0.1:"+strconv.Itoa(int(p3))] = echoServer(t, "web-new")
	f.Set([]model.Container{
		container("a2", "web", 1, model.StateRunning, model.PublishedPort{HostPort: p3, Target: 80, Protocol: "tcp"}),
		container("b1", "api", 1, model.StateRunning, model.PublishedPort{HostIP: "10.9.9.9", HostPort: p2, Target: 8080, Protocol: "tcp"}),
	})
	if got := greet(t, web.Local); got != "web-new" {
		t.Fatalf("after the recreate, through %s: %q", web.Local, got)
	}
	// Stopped: the forward stays (it may start again). Removed: it goes.
	f.Set([]model.Container{
		container("a2", "web", 1, model.StateExited),
		container("b1", "api", 1, model.StateRunning, model.PublishedPort{HostIP: "10.9.9.9", HostPort: p2, Target: 8080, Protocol: "tcp"}),
	})
	if len(f.List()) != 3 {
		t.Fatalf("after a stop: %+v", f.List())
	}
	f.Set([]model.Container{
		container("b1", "api", 1, model.StateRunning, model.PublishedPort{HostIP: "10.9.9.9", HostPort: p2, Target: 8080, Protocol: "tcp"}),
	})
	if l := f.List(); len(l) != 1 || l[0].Service != "api" {
		t.Fatalf("after web went: %+v", l)
	}
	if c, err := net.DialTimeout("tcp", web.Local, time.Second); err == nil {
		c.Close()
		t.Fatalf("%s still listens after web went", web.Local)
	}
	removed := 0
	for _, e := range rec.Events() {
		if fw, ok := e.(event.Forward); ok && fw.Removed && fw.Service == "web" {
			removed++
		}
	}
	if removed != 2 || len(records) == 0 || len(records[len(records)-1]) != 1 {
		t.Fatalf("removed events %d, last record %+v", removed, records)
	}
}

// A port nothing here can bind (all Span ports taken) is reported, not
// skipped.
func TestForwarderNoFreePort(t *testing.T) {
	var held []net.Listener
	defer func() {
		for _, l := range held {
			l.Close()
		}
	}()
	base := freePort(t)
	for p := int(base); p < int(base)+Span && p <= 65535; p++ {
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			continue // taken already: as good
		}
		held = append(held, l)
	}
	f := New((&engineHost{}).dial, nil)
	defer f.Close()
	f.Set([]model.Container{container("a", "web", 1, model.StateRunning, model.PublishedPort{HostPort: base, Target: 80, Protocol: "tcp"})})
	l := f.List()
	if len(l) != 1 || l[0].Local != "" || !strings.Contains(l[0].Error, "could be bound") || !strings.Contains(l[0].Error, strconv.Itoa(int(base))) {
		t.Fatalf("%+v", l)
	}
}
