package main

import (
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
)

// debugAddrEnv names a loopback address where devstack serves Go's pprof
// handlers while it runs. The soak benchmark reads the goroutine count
// there; a developer chasing a leak reads the rest. Unset, nothing listens.
const debugAddrEnv = "DEVSTACK_DEBUG_ADDR"

// serveDebug starts the pprof listener when DEVSTACK_DEBUG_ADDR asks for
// one. Only loopback addresses are accepted: the profiles name files,
// containers and hosts.
func serveDebug() error {
	addr := os.Getenv(debugAddrEnv)
	if addr == "" {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%s=%q: want host:port on loopback (127.0.0.1:6060): %w", debugAddrEnv, addr, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%s=%q: only a loopback address is allowed (127.0.0.1:6060)", debugAddrEnv, addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("unable to serve %s: %w", debugAddrEnv, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	go func() { _ = http.Serve(ln, mux) }()
	return nil
}
