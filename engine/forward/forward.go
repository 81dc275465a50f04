// Package forward brings the ports a stack publishes on a remote engine to
// this machine's loopback: one local listener per published TCP port, each
// accepted connection carried to the port on the engine's machine by a
// Dialer (a channel of the SSH connection the engine is reached through).
//
// A forward belongs to a service's replica and a container port, not to a
// container: when the container is recreated or restarted its forward
// stays on the same local port and follows the new container's engine
// port. It goes when the replica does (down, scale down).
//
// Design: a remote engine's published TCP ports on 127.0.0.1 here: one
// listener per replica's port, each connection a channel of the engine's SSH
// connection; follows the project's container events; a record in the state
// dir says who forwards what (`ps`, `port`, `down` read it).
package forward

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"time"

	"devstack/engine"
	"devstack/engine/event"
	"devstack/engine/model"
	"devstack/engine/splice"
)

// Dialer opens a connection to an address on the engine's machine.
type Dialer func(ctx context.Context, network, addr string) (net.Conn, error)

// Span is how many local ports are tried for one published port: its own
// number, then the next ones.
const Span = 100

// dialTimeout bounds the opening of one forwarded connection: a dead link
// fails the connection (the client sees it closed) instead of holding it.
const dialTimeout = 10 * time.Second

// Forwarder keeps one local listener per published TCP port of the
// containers it is given (Set). Its methods are safe for concurrent use.
type Forwarder struct {
	dial     Dialer
	sink     event.Sink
	bindHost string
	now      func() time.Time
	// OnChange, when set, is called with every forward after each change
	// (under no lock of the forwarder's): the state file is written there.
	OnChange func([]event.Forward)

	mu      sync.Mutex // guards fwds and closed
	fwds    map[key]*fwd
	closed  bool
	changes sync.Mutex // serialises OnChange calls, in order
}

// key names a forward: a replica's container port. The n-th binding of
// the same container port (published twice) has its own.
type key struct {
	service string
	replica int
	target  uint16
	proto   string
	n       int
}

// fwd is one forward. ln is nil when it is not forwarded (UDP, or no
// local port could be bound): then ev.Error says why.
type fwd struct {
	ev     event.Forward
	ln     net.Listener
	remote string // guarded by Forwarder.mu: the dial target, updated on recreate
	conns  sync.WaitGroup
}

// New returns a Forwarder listening on 127.0.0.1 that publishes its
// forwards to sink.
func New(dial Dialer, sink event.Sink) *Forwarder {
	if sink == nil {
		sink = event.Discard
	}
	return &Forwarder{dial: dial, sink: sink, bindHost: "127.0.0.1", now: time.Now, fwds: map[key]*fwd{}}
}

// Set makes the forwards match the containers: a running container's
// published ports are forwarded (and a recreated one's forward moved to
// its new engine port); a replica that still exists but is not running
// keeps its forward (it may start again); a replica that is gone loses it.
func (f *Forwarder) Set(cs []model.Container) {
	type want struct {
		c model.Container
		p model.PublishedPort
	}
	wanted := map[key]want{}
	exists := map[string]bool{}
	for _, c := range cs {
		if c.OneOff {
			continue
		}
		exists[replicaKey(c.Service, c.Number)] = true
		if c.State != model.StateRunning && c.State != model.StateRestarting {
			continue
		}
		n := map[string]int{}
		for _, p := range c.Ports {
			if p.HostPort == 0 {
				continue // exposed, not published
			}
			id := fmt.Sprintf("%d/%s", p.Target, p.Protocol)
			wanted[key{c.Service, c.Number, p.Target, p.Protocol, n[id]}] = want{c, p}
			n[id]++
		}
	}
	// New forwards claim local ports in the order of their engine ports,
	// so that 8080 and 8081 on the engine stay 8080 and 8081 here.
	keys := make([]key, 0, len(wanted))
	for k := range wanted {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return wanted[keys[i]].p.HostPort < wanted[keys[j]].p.HostPort })

	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return
	}
	var published []event.Forward
	var stopped []*fwd
	for k, fw := range f.fwds {
		if _, ok := wanted[k]; ok || exists[replicaKey(k.service, k.replica)] {
			continue
		}
		delete(f.fwds, k)
		stopped = append(stopped, fw)
		ev := fw.ev
		ev.Time, ev.Removed = f.now(), true
		published = append(published, ev)
	}
	for _, k := range keys {
		w := wanted[k]
		remote := remoteAddr(w.p)
		port := engine.FormatPort(w.p)
		if fw, ok := f.fwds[k]; ok {
			if fw.remote == remote && fw.ev.Container == w.c.Name && fw.ev.Port == port {
				continue
			}
			// Recreated, or restarted on another engine port: same local
			// port, new target.
			fw.remote = remote
			fw.ev.Container, fw.ev.Port, fw.ev.Remote, fw.ev.Time = w.c.Name, port, remote, f.now()
			published = append(published, fw.ev)
			continue
		}
		fw := &fwd{remote: remote, ev: event.Forward{Time: f.now(), Service: w.c.Service, Container: w.c.Name, Replica: w.c.Number,
			Port: port, Target: w.p.Target, Protocol: w.p.Protocol, Remote: remote}}
		if w.p.Protocol != "tcp" {
			fw.ev.Error = fmt.Sprintf("not forwarded: SSH carries TCP only; reach %s/%s at the engine's address", strconv.Itoa(int(w.p.HostPort)), w.p.Protocol)
		} else if ln, err := f.listen(w.p.HostPort); err != nil {
			fw.ev.Error = err.Error()
		} else {
			fw.ln, fw.ev.Local = ln, ln.Addr().String()
			go f.serve(fw)
		}
		f.fwds[k] = fw
		published = append(published, fw.ev)
	}
	all := f.listLocked()
	f.mu.Unlock()

	for _, fw := range stopped {
		if fw.ln != nil {
			fw.ln.Close()
		}
	}
	f.changed(published, all)
}

func (f *Forwarder) changed(published, all []event.Forward) {
	if len(published) == 0 {
		return
	}
	f.changes.Lock()
	defer f.changes.Unlock()
	for _, ev := range published {
		f.sink.Publish(ev)
	}
	if f.OnChange != nil {
		f.OnChange(all)
	}
}

func replicaKey(service string, n int) string { return service + "\x00" + strconv.Itoa(n) }

// remoteAddr is where a published port is dialled on the engine's
// machine: its loopback for a port bound on every address, else the
// address it is bound to.
func remoteAddr(p model.PublishedPort) string {
	ip := p.HostIP
	if ip == "" || ip == "0.0.0.0" || ip == "::" {
		ip = "127.0.0.1"
	}
	return net.JoinHostPort(ip, strconv.Itoa(int(p.HostPort)))
}

// listen binds the port's own number on the loopback, else the next free
// one within Span.
func (f *Forwarder) listen(port uint16) (net.Listener, error) {
	var first error
	last := min(int(port)+Span-1, 65535)
	for p := int(port); p <= last; p++ {
		ln, err := net.Listen("tcp", net.JoinHostPort(f.bindHost, strconv.Itoa(p)))
		if err == nil {
			return ln, nil
		}
		if first == nil {
			first = err
		}
	}
	why := "each is in use"
	if errors.Is(first, syscall.EACCES) {
		why = "ports below 1024 need root here"
	}
	return nil, fmt.Errorf("not forwarded: no local port in %s:%d-%d could be bound (%s: %v): free one, or reach it at the engine's address",
		f.bindHost, port, last, why, first)
}

// serve accepts connections on a forward's listener until it is closed.
func (f *Forwarder) serve(fw *fwd) {
	for {
		c, err := fw.ln.Accept()
		if err != nil {
			return
		}
		f.mu.Lock()
		remote := fw.remote
		f.mu.Unlock()
		fw.conns.Add(1)
		go func() {
			defer fw.conns.Done()
			f.pipe(c, remote)
		}()
	}
}

// pipe carries one connection to remote and back. A failed dial closes
// the client's connection: it sees the port refuse, as it would locally.
func (f *Forwarder) pipe(c net.Conn, remote string) {
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), dialTimeout)
	r, err := f.dial(ctx, "tcp", remote)
	cancel()
	if err != nil {
		return
	}
	defer r.Close()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	splice.Conns(c, r)
}

// List returns every forward, sorted by service, replica and port.
func (f *Forwarder) List() []event.Forward {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.listLocked()
}

func (f *Forwarder) listLocked() []event.Forward {
	out := make([]event.Forward, 0, len(f.fwds))
	for _, fw := range f.fwds {
		out = append(out, fw.ev)
	}
	Sort(out)
	return out
}

// Sort orders forwards by service, replica, container port and protocol.
func Sort(fs []event.Forward) {
	sort.Slice(fs, func(i, j int) bool {
		a, b := fs[i], fs[j]
		if a.Service != b.Service {
			return a.Service < b.Service
		}
		if a.Replica != b.Replica {
			return a.Replica < b.Replica
		}
		if a.Target != b.Target {
			return a.Target < b.Target
		}
		if a.Protocol != b.Protocol {
			return a.Protocol < b.Protocol
		}
		return a.Port < b.Port
	})
}

// Close closes every forward's listener (connections in flight run to
// their end, or the process's) and says so.
func (f *Forwarder) Close() {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return
	}
	f.closed = true
	fwds := f.fwds
	f.fwds = map[key]*fwd{}
	f.mu.Unlock()
	var published []event.Forward
	for _, fw := range fwds {
		if fw.ln != nil {
			fw.ln.Close()
		}
		ev := fw.ev
		ev.Time, ev.Removed = f.now(), true
		published = append(published, ev)
	}
	Sort(published)
	f.changed(published, nil)
}
