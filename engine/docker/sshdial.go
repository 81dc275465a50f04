package docker

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/user"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kevinburke/ssh_config"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/crypto/ssh/knownhosts"
)

// sshDialer reaches a remote engine's socket through one SSH connection:
// every API connection is a direct-streamlocal channel on it. Neither an
// ssh binary here nor a docker CLI on the remote is needed, and parallel
// API calls do not each pay a handshake (or trip sshd's MaxStartups).
type sshDialer struct {
	cfg    *ssh.ClientConfig
	addr   string // host:port
	socket string // the engine's socket on the remote
	jumps  []hop  // ProxyJump hosts, in order, reached before addr
	// proxyCommand reaches addr when there are no jumps (ProxyCommand).
	proxyCommand string

	mu     sync.Mutex
	shared string        // the socket of a process sharing its connection (see Share); "" once it failed
	conn   *ssh.Client   // nil until dialled, and after it broke
	via    []*ssh.Client // the jump hosts' connections under conn
	closed bool
	agent  net.Conn // the ssh-agent connection, if one is used
}

// hop is one SSH server on the way: where it is and how to log in.
type hop struct {
	addr         string
	cfg          *ssh.ClientConfig
	proxyCommand string // the first hop's ProxyCommand: its stdin and stdout are the connection
}

// keepAlive is how often the SSH connection is probed, and
// keepAliveTimeout how long an answer may take before the link is taken
// for dead: the connection is closed, every call on it fails at once
// ("the engine is unreachable") instead of hanging until TCP gives up
// (minutes), and the next call dials again. A dropped link (Wi-Fi change,
// a laptop waking up) is thus noticed within 9 s.
const (
	keepAlive        = 3 * time.Second
	keepAliveTimeout = 6 * time.Second
)

// dialTimeout bounds reaching each SSH server (TCP connect and
// handshake), so that a command on a dead link says so within 10 s.
const dialTimeout = 8 * time.Second

func newSSHDialer(ctx context.Context, host string, shared bool) (*sshDialer, error) {
	u, err := url.Parse(host)
	if err != nil || u.Hostname() == "" {
		return nil, fmt.Errorf("invalid ssh host %q: use ssh://user@host[:port]", host)
	}
	h, err := resolveSSHHost(u)
	if err != nil {
		return nil, err
	}
	socket := u.Path
	if socket == "" || socket == "/" {
		socket = "/var/run/docker.sock"
	}
	d := &sshDialer{addr: h.addr, socket: socket}
	jumps, err := resolveJumps(h, map[string]bool{u.Hostname(): true})
	if err != nil {
		return nil, err
	}
	identities := h.identities
	for _, j := range jumps {
		identities = append(identities, j.identities...)
	}
	auths, agentConn, err := sshAuth(identities, h.identitiesOnly)
	if err != nil {
		return nil, err
	}
	d.agent = agentConn
	config := func(h sshHost) (*ssh.ClientConfig, error) {
		check, algos, err := hostKeyCheck(h)
		if err != nil {
			return nil, err
		}
		return &ssh.ClientConfig{User: h.user, Auth: auths, HostKeyCallback: check, HostKeyAlgorithms: algos, Timeout: dialTimeout}, nil
	}
	for i, j := range jumps {
		cfg, err := config(j)
		if err != nil {
			d.Close()
			return nil, err
		}
		hp := hop{addr: j.addr, cfg: cfg}
		if i == 0 {
			hp.proxyCommand = j.proxyCommand
		}
		d.jumps = append(d.jumps, hp)
	}
	if d.cfg, err = config(h); err != nil {
		d.Close()
		return nil, err
	}
	if len(jumps) == 0 {
		d.proxyCommand = h.proxyCommand
	}
	// Another process shares its connection: no handshake here (it is
	// dialled below, lazily, only if that process goes away).
	if path, err := SharePath(host); shared && err == nil {
		if fi, err := os.Stat(path); err == nil && fi.Mode()&os.ModeSocket != 0 {
			d.shared = path
			return d, nil
		}
	}
	if _, err := d.client(ctx); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// resolveJumps returns the hosts to go through before h, in order: each
// ProxyJump host's own ProxyJump hosts come before it, as with ssh -J.
// seen holds the hosts on the way, to refuse a loop.
func resolveJumps(h sshHost, seen map[string]bool) ([]sshHost, error) {
	var out []sshHost
	for _, spec := range h.jumps {
		ju, err := url.Parse("ssh://" + spec)
		if err != nil || ju.Hostname() == "" {
			return nil, fmt.Errorf("invalid ProxyJump host %q in %s: use [user@]host[:port]", spec, filepath.Join(sshDir(), "config"))
		}
		if seen[ju.Hostname()] {
			return nil, fmt.Errorf("the ProxyJump hosts of %s loop back to %s: fix %s", h.alias, ju.Hostname(), filepath.Join(sshDir(), "config"))
		}
		j, err := resolveSSHHost(ju)
		if err != nil {
			return nil, err
		}
		inner := map[string]bool{ju.Hostname(): true}
		for k := range seen {
			inner[k] = true
		}
		before, err := resolveJumps(j, inner)
		if err != nil {
			return nil, err
		}
		out = append(append(out, before...), j)
	}
	return out, nil
}

func sshDir() string {
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".ssh")
}

// sshHost is how to reach an ssh:// host, as ssh(1) would.
type sshHost struct {
	alias          string   // the host as named (%n)
	host, port     string   // what to dial (%h, %p)
	addr           string   // host:port
	user           string   // who to log in as (%r)
	identities     []string // the IdentityFile entries of ~/.ssh/config, ~ expanded
	identitiesOnly bool     // IdentitiesOnly yes: only those, no agent and no default keys
	jumps          []string // its ProxyJump hosts ([user@]host[:port] or aliases), in order
	proxyCommand   string   // ProxyCommand, its % tokens expanded; "" for none
	knownHosts     []string // UserKnownHostsFile, ~ expanded (default ~/.ssh/known_hosts)
	strict         string   // StrictHostKeyChecking: yes or accept-new
	hostKeyAlias   string   // HostKeyAlias: the name its key is recorded under
}

// resolveSSHHost reads what ~/.ssh/config says of the URL's host (an
// alias may have a HostName, User, Port and IdentityFile); what the URL
// itself says wins, as on ssh's command line. The docker CLI gets the
// same from the ssh binary it runs; here there is none to ask.
func resolveSSHHost(u *url.URL) (sshHost, error) {
	alias := u.Hostname()
	get := func(string) string { return "" }
	getAll := func(string) []string { return nil }
	path := filepath.Join(sshDir(), "config")
	home, _ := os.UserHomeDir()
	expand := func(p string) string {
		if rest, ok := strings.CutPrefix(p, "~/"); ok {
			return filepath.Join(home, rest)
		}
		return p
	}
	if f, err := os.Open(path); err == nil {
		cfg, err := ssh_config.Decode(f)
		f.Close()
		if err != nil {
			return sshHost{}, fmt.Errorf("%s: %v: fix the file, or name the host in full (ssh://user@host:port)", path, err)
		}
		get = func(key string) string { v, _ := cfg.Get(alias, key); return v }
		getAll = func(key string) []string { v, _ := cfg.GetAll(alias, key); return v }
	}
	h := sshHost{alias: alias, user: u.User.Username()}
	for _, id := range getAll("IdentityFile") {
		h.identities = append(h.identities, expand(id))
	}
	h.host, h.port = get("HostName"), u.Port()
	if h.host == "" {
		h.host = alias
	}
	if h.port == "" {
		h.port = get("Port")
	}
	if h.port == "" {
		h.port = "22"
	}
	if h.user == "" {
		h.user = get("User")
	}
	if h.user == "" {
		if cur, err := user.Current(); err == nil {
			h.user = cur.Username
		}
	}
	h.addr = net.JoinHostPort(h.host, h.port)
	if j := get("ProxyJump"); j != "" && j != "none" {
		for _, spec := range strings.Split(j, ",") {
			if spec = strings.TrimSpace(spec); spec != "" {
				h.jumps = append(h.jumps, spec)
			}
		}
	}
	h.identitiesOnly = strings.EqualFold(get("IdentitiesOnly"), "yes")
	if pc := get("ProxyCommand"); pc != "" && pc != "none" && len(h.jumps) == 0 {
		h.proxyCommand = expandTokens(pc, h)
	}
	for _, f := range strings.Fields(get("UserKnownHostsFile")) {
		if f != "none" && f != "/dev/null" {
			h.knownHosts = append(h.knownHosts, expand(f))
		}
	}
	if len(h.knownHosts) == 0 {
		h.knownHosts = []string{filepath.Join(sshDir(), "known_hosts")}
	}
	h.hostKeyAlias = get("HostKeyAlias")
	switch v := strings.ToLower(get("StrictHostKeyChecking")); v {
	case "", "yes", "ask":
		h.strict = "yes" // ask: there is no one to ask, so as yes
	case "accept-new":
		h.strict = v
	case "no", "off":
		return sshHost{}, fmt.Errorf("%s: StrictHostKeyChecking %s for %s is refused: devstack checks every host key (anyone between here and %s could read your secrets and run containers); "+
			"use `StrictHostKeyChecking accept-new` to trust a new host on first use and still refuse a changed key", path, v, alias, h.host)
	default:
		return sshHost{}, fmt.Errorf("%s: StrictHostKeyChecking %q for %s: use yes or accept-new", path, v, alias)
	}
	return h, nil
}

// expandTokens expands ProxyCommand's %h, %p, %r, %n and %%.
func expandTokens(s string, h sshHost) string {
	r := strings.NewReplacer("%%", "%", "%h", h.host, "%p", h.port, "%r", h.user, "%n", h.alias)
	return r.Replace(s)
}

// sshAuth offers the agent's keys (SSH_AUTH_SOCK), then the key files
// that need no passphrase: the IdentityFile entries of ~/.ssh/config,
// then ~/.ssh/id_*. With only set (IdentitiesOnly), the IdentityFile
// entries alone.
func sshAuth(identities []string, only bool) ([]ssh.AuthMethod, net.Conn, error) {
	var methods []ssh.AuthMethod
	var agentConn net.Conn
	if sock := os.Getenv("SSH_AUTH_SOCK"); sock != "" && !only {
		if c, err := net.Dial("unix", sock); err == nil {
			agentConn = c
			methods = append(methods, ssh.PublicKeysCallback(agent.NewClient(c).Signers))
		}
	}
	var defaults []string
	if !only {
		defaults, _ = filepath.Glob(filepath.Join(sshDir(), "id_*"))
		sort.Strings(defaults)
	}
	files := append(append([]string(nil), identities...), defaults...)
	var signers []ssh.Signer
	tried := map[string]bool{}
	for _, f := range files {
		if strings.HasSuffix(f, ".pub") || tried[f] {
			continue
		}
		tried[f] = true
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		// A key with a passphrase is skipped: load it into ssh-agent.
		if s, err := ssh.ParsePrivateKey(b); err == nil {
			signers = append(signers, s)
		}
	}
	if len(signers) > 0 {
		methods = append(methods, ssh.PublicKeys(signers...))
	}
	if len(methods) == 0 {
		if only {
			return nil, nil, fmt.Errorf("IdentitiesOnly is set and no IdentityFile of %s could be read without a passphrase: name a key file there",
				filepath.Join(sshDir(), "config"))
		}
		return nil, nil, fmt.Errorf("no SSH key to log in with: start ssh-agent and add a key (ssh-add), or create %s without a passphrase",
			filepath.Join(sshDir(), "id_ed25519"))
	}
	return methods, agentConn, nil
}

// hostKeyCheck checks host keys against the host's known hosts files
// (UserKnownHostsFile, by default ~/.ssh/known_hosts), under its
// HostKeyAlias when it has one, refusing unknown hosts with an
// explanation, or with StrictHostKeyChecking accept-new recording them.
// It also returns the key types known for the host: offering only those
// keeps the server from picking another type of its keys and failing a
// check that would pass.
func hostKeyCheck(h sshHost) (ssh.HostKeyCallback, []string, error) {
	var files []string
	for _, f := range h.knownHosts {
		if _, err := os.Stat(f); err == nil {
			files = append(files, f)
		}
	}
	known := h.knownHosts[0]
	db, err := knownhosts.New(files...)
	if err != nil {
		return nil, nil, fmt.Errorf("unable to read %s: %w", strings.Join(files, ", "), err)
	}
	// The name the key is recorded under: host:port ("[host]:port" in the
	// file unless the port is 22), or the alias as it is written.
	name := h.addr
	if h.hostKeyAlias != "" {
		name = net.JoinHostPort(h.hostKeyAlias, "22")
	}
	anywhere := &net.TCPAddr{IP: net.IPv4zero}
	var mu sync.Mutex
	check := func(_ string, _ net.Addr, key ssh.PublicKey) error {
		mu.Lock()
		defer mu.Unlock()
		err := db(name, anywhere, key)
		var ke *knownhosts.KeyError
		switch {
		case err == nil:
			return nil
		case errors.As(err, &ke) && len(ke.Want) == 0 && h.strict == "accept-new":
			return acceptNew(known, name, key)
		case errors.As(err, &ke) && len(ke.Want) == 0:
			host, port, _ := net.SplitHostPort(h.addr)
			return fmt.Errorf("unknown host key for %s (%s %s): devstack does not trust hosts on first use; "+
				"check the fingerprint and add the key to %s, e.g. `ssh-keyscan -p %s %s >> %s` or connect once with ssh "+
				"(or set `StrictHostKeyChecking accept-new` for this host in %s)",
				name, key.Type(), ssh.FingerprintSHA256(key), known, port, host, known, filepath.Join(sshDir(), "config"))
		case errors.As(err, &ke):
			return fmt.Errorf("the host key of %s (%s) does not match the one in %s:%d: the host was reinstalled, or someone is in the middle; "+
				"check with the host's administrator before removing the old line", name, ssh.FingerprintSHA256(key), ke.Want[0].Filename, ke.Want[0].Line)
		default:
			return fmt.Errorf("host key of %s: %w", name, err)
		}
	}
	// Ask the database with a throwaway key: the error lists what it knows.
	var algos []string
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	if probe, err := ssh.NewSignerFromKey(priv); err == nil {
		var ke *knownhosts.KeyError
		if errors.As(db(name, anywhere, probe.PublicKey()), &ke) {
			for _, k := range ke.Want {
				switch t := k.Key.Type(); t {
				case ssh.KeyAlgoRSA:
					algos = append(algos, ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA)
				default:
					algos = append(algos, t)
				}
			}
		}
	}
	return check, algos, nil
}

// acceptNew records a new host's key (StrictHostKeyChecking accept-new),
// as ssh does: appended to the known hosts file, made 0600 if new.
func acceptNew(file, name string, key ssh.PublicKey) error {
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return fmt.Errorf("unable to record the host key of %s: %w", name, err)
	}
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("unable to record the host key of %s: %w", name, err)
	}
	_, err = fmt.Fprintln(f, knownhosts.Line([]string{knownhosts.Normalize(name)}, key))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("unable to record the host key of %s in %s: %w", name, file, err)
	}
	return nil
}

// client returns the SSH connection, dialling it when there is none.
func (d *sshDialer) client(ctx context.Context) (*ssh.Client, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, errors.New("the SSH connection is closed")
	}
	if d.conn != nil {
		return d.conn, nil
	}
	// Through the ProxyJump hosts, each reached over the one before.
	var via []*ssh.Client
	closeVia := func() {
		for i := len(via) - 1; i >= 0; i-- {
			via[i].Close()
		}
	}
	var lastRead *atomic.Int64 // the engine's connection: when it last received anything
	for _, h := range append(d.jumps, hop{addr: d.addr, cfg: d.cfg, proxyCommand: d.proxyCommand}) {
		var prev *ssh.Client
		if len(via) > 0 {
			prev = via[len(via)-1]
		}
		c, read, err := sshLogin(ctx, prev, h)
		if err != nil {
			closeVia()
			return nil, err
		}
		via = append(via, c)
		lastRead = read
	}
	conn := via[len(via)-1]
	d.conn, d.via = conn, via[:len(via)-1]
	done := make(chan struct{})
	go func() {
		_ = conn.Wait()
		close(done)
		d.mu.Lock()
		if d.conn == conn {
			d.conn, d.via = nil, nil // the next dial reconnects
		}
		d.mu.Unlock()
		closeVia() // the jump hosts' connections served only this one
	}()
	go func() {
		t := time.NewTicker(keepAlive)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				answered := make(chan error, 1)
				go func() {
					_, _, err := conn.SendRequest("keepalive@openssh.com", true, nil)
					answered <- err
				}()
				select {
				case err := <-answered:
					if err != nil {
						conn.Close()
						return
					}
				case <-time.After(keepAliveTimeout):
					// No answer, and nothing else received meanwhile
					// (a busy machine may answer late, never nothing):
					// the link is gone.
					if time.Since(time.Unix(0, lastRead.Load())) >= keepAliveTimeout {
						conn.Close()
						return
					}
				case <-done:
					return
				}
			}
		}
	}()
	return conn, nil
}

// sshLogin opens an SSH connection to h: directly, or through prev.
func sshLogin(ctx context.Context, prev *ssh.Client, h hop) (*ssh.Client, *atomic.Int64, error) {
	var raw net.Conn
	var err error
	if prev == nil && h.proxyCommand != "" {
		raw, err = dialProxyCommand(h.proxyCommand)
	} else if prev == nil {
		nd := net.Dialer{Timeout: h.cfg.Timeout}
		if raw, err = nd.DialContext(ctx, "tcp", h.addr); err == nil {
			raw = withQuickAck(raw)
		}
	} else {
		raw, err = prev.DialContext(ctx, "tcp", h.addr)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("unable to connect to %s: %w", h.addr, err)
	}
	read := &readClock{Conn: raw}
	read.last.Store(time.Now().UnixNano())
	raw = read
	// The handshake has no context of its own: bound it with one, and
	// with dialTimeout (a link that drops mid-handshake sends no reset).
	_ = raw.SetDeadline(time.Now().Add(h.cfg.Timeout))
	stop := context.AfterFunc(ctx, func() { raw.SetDeadline(time.Now()) })
	c, chans, reqs, err := ssh.NewClientConn(raw, h.addr, h.cfg)
	if !stop() {
		err = errors.Join(err, ctx.Err())
	}
	if err != nil {
		raw.Close()
		if c != nil {
			c.Close()
		}
		return nil, nil, fmt.Errorf("unable to log in to %s over SSH: %w", h.addr, err)
	}
	_ = raw.SetDeadline(time.Time{})
	return ssh.NewClient(c, chans, reqs), &read.last, nil
}

// readClock notes when its connection last received anything, so that
// the keepalive tells a slow answer on a live link from a dead link.
type readClock struct {
	net.Conn
	last atomic.Int64 // unix nanoseconds
}

func (c *readClock) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 {
		c.last.Store(time.Now().UnixNano())
	}
	return n, err
}

// DialContext opens a channel to the remote engine's socket; it is the
// client's dialer, so network and addr (the placeholder host) are unused.
func (d *sshDialer) DialContext(ctx context.Context, _, _ string) (net.Conn, error) {
	d.mu.Lock()
	shared := d.shared
	d.mu.Unlock()
	if shared != "" {
		conn, err := sharedDial(ctx, shared)
		if err == nil {
			return conn, nil
		}
		d.mu.Lock()
		d.shared = "" // gone: our own connection from now on
		d.mu.Unlock()
	}
	return d.sshDial(ctx)
}

// sshDial opens a channel to the remote engine's socket on this
// process's own SSH connection.
func (d *sshDialer) sshDial(ctx context.Context) (net.Conn, error) {
	c, err := d.client(ctx)
	if err != nil {
		return nil, err
	}
	conn, err := c.DialContext(ctx, "unix", d.socket)
	if err != nil {
		return nil, fmt.Errorf("unable to open %s on %s over SSH (is the engine running there, and may %s use its socket?): %w",
			d.socket, d.addr, d.cfg.User, err)
	}
	return conn, nil
}

// DialHost opens a connection to addr on the engine's machine (a
// direct-tcpip channel; sshd must allow TCP forwarding, as it does by
// default).
func (d *sshDialer) DialHost(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := d.client(ctx)
	if err != nil {
		return nil, err
	}
	conn, err := c.DialContext(ctx, network, addr)
	if err != nil {
		return nil, fmt.Errorf("unable to reach %s on %s over SSH (does its sshd allow TCP forwarding?): %w", addr, d.addr, err)
	}
	return conn, nil
}

// Close ends the SSH connection.
func (d *sshDialer) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	if d.agent != nil {
		d.agent.Close()
		d.agent = nil
	}
	if d.conn == nil {
		return nil
	}
	err := d.conn.Close()
	for i := len(d.via) - 1; i >= 0; i-- {
		d.via[i].Close()
	}
	d.conn, d.via = nil, nil
	return err
}
