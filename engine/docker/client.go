package docker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/client"

	"devstack/engine"
)

// Options choose the engine to talk to. Empty fields fall back to the
// environment the way the docker CLI does (see resolveHost).
type Options struct {
	Host    string // --host: unix://, tcp://, ssh://user@host[:port][/socket]
	Context string // --context: a docker CLI context name
	// Shared lets an ssh:// engine be reached through the connection
	// another devstack process shares (see Share), when one does.
	Shared bool
}

// Runtime is engine.Runtime on a Docker engine.
type Runtime struct {
	api   *client.Client
	host  string
	where string       // how the host was chosen, for error messages
	close func() error // releases the SSH connection, if any
	ssh   *sshDialer   // the SSH connection of an ssh:// engine, else nil
	clear bool         // tcp:// to another machine without TLS
	names sync.Map     // object name -> *sync.Mutex, see lockName

	// pullStall bounds how long a pull may go without a word from the
	// engine; tests shorten it.
	pullStall time.Duration

	auths authCache // registry credentials for builds

	// The connections of the creates written here (createRaw).
	rawOnce sync.Once
	rawHTTP *http.Client

	// Which builder builds use (see builder), decided at the first build.
	builderOnce sync.Once
	kit         bool
	legacyWhy   string
	legacyOnce  sync.Once // the legacy builder is said once
}

var _ engine.Runtime = (*Runtime)(nil)

// New connects to the engine the options (or the environment) name and
// checks that it answers. The API version is negotiated on that first
// call, so an older engine (API 1.41) is spoken to in its own version.
func New(ctx context.Context, o Options) (*Runtime, error) {
	ep, err := resolveHost(o)
	if err != nil {
		return nil, err
	}
	host, where := ep.host, ep.where
	if err := missingSocket(ep); err != nil {
		return nil, err
	}
	// Our own transport: the default keeps only 2 idle connections per
	// host, so Observe's parallel inspects would open and close
	// connections (an SSH channel each, on a remote engine).
	// HTTP/1 only (the engine speaks nothing else): preparing HTTP/2
	// would give the transport a TLS config, and the client would then
	// speak https to a plain socket.
	var http1 http.Protocols
	http1.SetHTTP1(true)
	httpClient := &http.Client{
		Transport:     &http.Transport{MaxIdleConns: 32, MaxIdleConnsPerHost: 32, IdleConnTimeout: 30 * time.Second, Protocols: &http1},
		CheckRedirect: client.CheckRedirect,
	}
	opts := []client.Opt{client.WithHTTPClient(httpClient)}
	closeFn := func() error { return nil }
	var sshd *sshDialer
	switch {
	case strings.HasPrefix(host, "ssh://"):
		d, err := newSSHDialer(ctx, host, o.Shared)
		if err != nil {
			return nil, fmt.Errorf("unable to reach the Docker engine at %s (%s): %w", host, where, err)
		}
		// A unix placeholder host keeps the transport free of HTTP proxy
		// settings; every connection, hijacked ones included, goes
		// through the SSH dialer.
		opts = append(opts, client.WithHost("unix:///var/run/docker.sock"), client.WithDialContext(d.DialContext))
		closeFn = d.Close
		sshd = d
	case ep.tls != nil:
		opts = append(opts, client.WithHost(host), client.WithTLSClientConfig(ep.tls[0], ep.tls[1], ep.tls[2]))
	case strings.HasPrefix(host, "tcp://") && os.Getenv("DOCKER_CERT_PATH") != "":
		opts = append(opts, client.WithHost(host), client.WithTLSClientConfigFromEnv())
	default:
		opts = append(opts, client.WithHost(host))
	}
	api, err := client.New(opts...)
	if err != nil {
		_ = closeFn()
		return nil, fmt.Errorf("unable to use the Docker engine at %s (%s): %w", host, where, err)
	}
	r := &Runtime{api: api, host: host, where: where, close: closeFn, ssh: sshd, pullStall: defaultPullStall,
		clear: cleartext(host, ep.tls != nil || os.Getenv("DOCKER_CERT_PATH") != "")}
	// A remote engine that does not answer is said so within 10 s (the
	// SSH login is bounded on its own); a local one may be slow to start.
	pingWait := 15 * time.Second
	if sshd != nil {
		pingWait = 8 * time.Second
	}
	pingCtx, cancel := context.WithTimeout(ctx, pingWait)
	defer cancel()
	if err := r.Ping(pingCtx); err != nil {
		_ = r.Close()
		return nil, err
	}
	return r, nil
}

// cleartext reports whether the engine is reached over the network
// without encryption: tcp:// to an address that is not loopback, without
// TLS.
func cleartext(host string, tls bool) bool {
	return !tls && (strings.HasPrefix(host, "tcp://") || strings.HasPrefix(host, "http://")) && RemoteHost(host)
}

// CleartextWarning is what to say on every command when the engine is
// reached in clear text ("" when it is not).
func (r *Runtime) CleartextWarning() string {
	if !r.clear {
		return ""
	}
	return fmt.Sprintf("the Docker engine at %s is reached without TLS: build secrets, registry credentials and everything else travel in clear text; "+
		"use ssh://user@host, or TLS (a docker context with TLS, or DOCKER_CERT_PATH and port 2376)", r.host)
}

// Remote reports whether the engine is on another machine (ssh://, or
// tcp:// to an address that is not loopback).
func (r *Runtime) Remote() bool { return RemoteHost(r.host) }

// RemoteHost reports whether an engine address is on another machine.
func RemoteHost(host string) bool {
	u, err := url.Parse(host)
	if err != nil {
		return false
	}
	switch u.Scheme {
	case "ssh":
		return true
	case "tcp", "http", "https":
		ip := net.ParseIP(u.Hostname())
		return u.Hostname() != "localhost" && (ip == nil || !ip.IsLoopback())
	}
	return false // unix, npipe: this machine
}

// DialEngineHost opens a TCP connection to addr as seen from the engine's
// machine: over the SSH connection of an ssh:// engine (a direct-tcpip
// channel, as `ssh -L` opens), straight to the machine's address for a
// tcp:// engine on another machine; it is nil for a local engine.
// Published ports are forwarded to this machine's loopback through it.
func (r *Runtime) DialEngineHost() func(ctx context.Context, network, addr string) (net.Conn, error) {
	if r.ssh != nil {
		return r.ssh.DialHost
	}
	u, err := url.Parse(r.host)
	if err != nil || u.Scheme != "tcp" || !RemoteHost(r.host) {
		return nil
	}
	// A tcp:// engine on another machine: its published ports are at its
	// address. A port the forwarder would reach on the machine's own
	// loopback (published on every address, as most are) is dialled
	// there; one published on a single address, at that address.
	machine := u.Hostname()
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
			host = machine
		}
		var d net.Dialer
		conn, err := d.DialContext(ctx, network, net.JoinHostPort(host, port))
		if err != nil {
			return nil, fmt.Errorf("unable to reach port %s on the engine's machine %s: %w", port, host, err)
		}
		return conn, nil
	}
}

// Host names the engine endpoint.
func (r *Runtime) Host() string { return r.host }

// Close releases the connections.
func (r *Runtime) Close() error {
	if r.rawHTTP != nil {
		r.rawHTTP.CloseIdleConnections()
	}
	err := r.api.Close()
	if cerr := r.close(); err == nil {
		err = cerr
	}
	return err
}

// EngineVersion is what `version` reports of the engine.
type EngineVersion struct {
	Version, APIVersion, OS, Arch string
}

// EngineVersion asks the engine for its version.
func (r *Runtime) EngineVersion(ctx context.Context) (EngineVersion, error) {
	v, err := r.api.ServerVersion(ctx, client.ServerVersionOptions{})
	if err != nil {
		return EngineVersion{}, r.unreachable(err)
	}
	return EngineVersion{Version: v.Version, APIVersion: v.APIVersion, OS: v.Os, Arch: v.Arch}, nil
}

// Ping checks that the engine answers, and says where it looked if not.
func (r *Runtime) Ping(ctx context.Context) error {
	if _, err := r.api.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		return r.unreachable(err)
	}
	return nil
}

// unreachable explains a failed connection: where we looked, and what to
// do about it.
func (r *Runtime) unreachable(err error) error {
	hint := "is the Docker engine running? " + startHint + ", or point devstack at another one with --host, DOCKER_HOST or --context"
	switch msg := err.Error(); {
	case strings.Contains(msg, "permission denied"):
		hint = "you may not use its socket: add yourself to the docker group (`sudo usermod -aG docker $USER`, then log in again) or run as root"
	case r.ssh != nil && (strings.Contains(msg, "over SSH") || strings.Contains(msg, "ssh:") || strings.Contains(msg, "EOF") ||
		// A request cut short when the keepalive found the link dead.
		strings.Contains(msg, "use of closed network connection") || strings.Contains(msg, "connection reset")):
		hint = fmt.Sprintf("the engine's machine (%s) is unreachable over SSH: check the network link; attached commands (up, watch, ui) reconnect by themselves once it is back", r.ssh.addr)
	case r.ssh != nil && errors.Is(err, context.DeadlineExceeded):
		hint = fmt.Sprintf("the engine's machine (%s) did not answer over SSH in time: it is unreachable or overloaded; check the network link; attached commands (up, watch, ui) reconnect by themselves once it is back", r.ssh.addr)
	case errors.Is(err, context.DeadlineExceeded):
		hint = "it did not answer in time: is it overloaded, or is the address right?"
	}
	return fmt.Errorf("the Docker engine at %s (%s) does not answer: %w; %s", r.host, r.where, err, hint)
}

// engineError explains an error that comes from not reaching the
// engine; other errors pass unchanged.
func (r *Runtime) engineError(err error) error {
	if err != nil && client.IsErrConnectionFailed(err) {
		return r.unreachable(err)
	}
	return err
}
