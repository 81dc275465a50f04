package tui

import (
	"testing"

	"devstack/engine/event"
)

// The ports column shows where a remote engine's port landed here.
func TestPortsColumnShowsForwards(t *testing.T) {
	p := &servicesPane{}
	r := &row{Service: "web", Replica: 1, Ports: []string{"0.0.0.0:8080->80/tcp", "0.0.0.0:5353->53/udp"}}
	if got := p.portsText(r); got != "8080->80/tcp,5353->53/udp" {
		t.Fatalf("before any forward: %q", got)
	}
	p.Update(event.Forward{Service: "web", Replica: 1, Port: "0.0.0.0:8080->80/tcp", Target: 80, Protocol: "tcp", Local: "127.0.0.1:8081"})
	p.Update(event.Forward{Service: "web", Replica: 1, Port: "0.0.0.0:5353->53/udp", Target: 53, Protocol: "udp", Error: "not forwarded"})
	if got := p.portsText(r); got != "127.0.0.1:8081->80/tcp,5353->53/udp (not fwd)" {
		t.Fatalf("forwarded: %q", got)
	}
	p.Update(event.Forward{Service: "web", Replica: 1, Port: "0.0.0.0:8080->80/tcp", Removed: true})
	if got := p.portsText(r); got != "8080->80/tcp,5353->53/udp (not fwd)" {
		t.Fatalf("after the forward went: %q", got)
	}
}
