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

	mu     sync.Mutex
	conn   *ssh.Client   // nil until dialled, and after it broke
	via    []*ssh.Client // the jump hosts' connections under conn
	closed bool
	agent  net.Conn // the ssh-agent connection, if one is used
}

// hop is one SSH server on the way: where it is and how to log in.
type hop struct {
	addr string
	cfg  *ssh.ClientConfig
}

// keepAlive is how often the SSH connection is probed, and
// keepAliveTimeout how long an answer may take before the link is taken
// for dead: the connection is closed, every call on it fails at once
// ("the engine is unreachable") instead of hanging until TCP gives up
// (minutes), and the next call dials again. A dropped link (Wi-Fi change,
// a laptop waking up) is thus noticed within 8 s.
const (
	keepAlive        = 3 * time.Second
	keepAliveTimeout = 5 * time.Second
)

// dialTimeout bounds reaching each SSH server (TCP connect and
// handshake), so that a command on a dead link says so within 10 s.
const dialTimeout = 8 * time.Second

func newSSHDialer(ctx context.Context, host string) (*sshDialer, error) {
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
	identities := h.identities
	var jumps []sshHost
	for _, spec := range h.jumps {
		ju, err := url.Parse("ssh://" + spec)
		if err != nil || ju.Hostname() == "" {
			return nil, fmt.Errorf("invalid ProxyJump host %q in %s: use [user@]host[:port]", spec, filepath.Join(sshDir(), "config"))
		}
		j, err := resolveSSHHost(ju)
		if err != nil {
			return nil, err
		}
		jumps = append(jumps, j)
		identities = append(identities, j.identities...)
	}
	auths, agentConn, err := sshAuth(identities)
	if err != nil {
		return nil, err
	}
	d.agent = agentConn
	config := func(addr, user string) (*ssh.ClientConfig, error) {
		check, algos, err := hostKeyCheck(addr)
		if err != nil {
			return nil, err
		}
		return &ssh.ClientConfig{User: user, Auth: auths, HostKeyCallback: check, HostKeyAlgorithms: algos, Timeout: dialTimeout}, nil
	}
	for _, j := range jumps {
		cfg, err := config(j.addr, j.user)
		if err != nil {
			d.Close()
			return nil, err
		}
		d.jumps = append(d.jumps, hop{addr: j.addr, cfg: cfg})
	}
	if d.cfg, err = config(d.addr, h.user); err != nil {
		d.Close()
		return nil, err
	}
	if _, err := d.client(ctx); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

func sshDir() string {
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".ssh")
}

// sshHost is how to reach an ssh:// host, as ssh(1) would.
type sshHost struct {
	addr       string   // host:port to dial
	user       string   // who to log in as
	identities []string // the IdentityFile entries of ~/.ssh/config, ~ expanded
	jumps      []string // its ProxyJump hosts ([user@]host[:port] or aliases), in order
}

// resolveSSHHost reads what ~/.ssh/config says of the URL's host (an
// alias may have a HostName, User, Port and IdentityFile); what the URL
// itself says wins, as on ssh's command line. The docker CLI gets the
// same from the ssh binary it runs; here there is none to ask.
func resolveSSHHost(u *url.URL) (sshHost, error) {
	alias := u.Hostname()
	get := func(string) string { return "" }
	var identities []string
	path := filepath.Join(sshDir(), "config")
	if f, err := os.Open(path); err == nil {
		cfg, err := ssh_config.Decode(f)
		f.Close()
		if err != nil {
			return sshHost{}, fmt.Errorf("%s: %v: fix the file, or name the host in full (ssh://user@host:port)", path, err)
		}
		get = func(key string) string { v, _ := cfg.Get(alias, key); return v }
		all, _ := cfg.GetAll(alias, "IdentityFile")
		home, _ := os.UserHomeDir()
		for _, id := range all {
			if rest, ok := strings.CutPrefix(id, "~/"); ok {
				id = filepath.Join(home, rest)
			}
			identities = append(identities, id)
		}
	}
	h := sshHost{user: u.User.Username(), identities: identities}
	host, port := get("HostName"), u.Port()
	if host == "" {
		host = alias
	}
	if port == "" {
		port = get("Port")
	}
	if port == "" {
		port = "22"
	}
	if h.user == "" {
		h.user = get("User")
	}
	if h.user == "" {
		if cur, err := user.Current(); err == nil {
			h.user = cur.Username
		}
	}
	h.addr = net.JoinHostPort(host, port)
	if j := get("ProxyJump"); j != "" && j != "none" {
		for _, spec := range strings.Split(j, ",") {
			if spec = strings.TrimSpace(spec); spec != "" {
				h.jumps = append(h.jumps, spec)
			}
		}
	}
	return h, nil
}

// sshAuth offers the agent's keys (SSH_AUTH_SOCK), then the key files
// that need no passphrase: the IdentityFile entries of ~/.ssh/config,
// then ~/.ssh/id_*.
func sshAuth(identities []string) ([]ssh.AuthMethod, net.Conn, error) {
	var methods []ssh.AuthMethod
	var agentConn net.Conn
	if sock := os.Getenv("SSH_AUTH_SOCK"); sock != "" {
		if c, err := net.Dial("unix", sock); err == nil {
			agentConn = c
			methods = append(methods, ssh.PublicKeysCallback(agent.NewClient(c).Signers))
		}
	}
	defaults, _ := filepath.Glob(filepath.Join(sshDir(), "id_*"))
	sort.Strings(defaults)
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
		return nil, nil, fmt.Errorf("no SSH key to log in with: start ssh-agent and add a key (ssh-add), or create %s without a passphrase",
			filepath.Join(sshDir(), "id_ed25519"))
	}
	return methods, agentConn, nil
}

// hostKeyCheck checks host keys against ~/.ssh/known_hosts, refusing
// unknown hosts with an explanation. It also returns the key types
// known for addr: offering only those keeps the server from picking
// another type of its keys and failing a check that would pass.
func hostKeyCheck(addr string) (ssh.HostKeyCallback, []string, error) {
	known := filepath.Join(sshDir(), "known_hosts")
	var files []string
	if _, err := os.Stat(known); err == nil {
		files = append(files, known)
	}
	db, err := knownhosts.New(files...)
	if err != nil {
		return nil, nil, fmt.Errorf("unable to read %s: %w", known, err)
	}
	check := func(hostname string, remote net.Addr, key ssh.PublicKey) error {
		err := db(hostname, remote, key)
		var ke *knownhosts.KeyError
		switch {
		case err == nil:
			return nil
		case errors.As(err, &ke) && len(ke.Want) == 0:
			host, port, _ := net.SplitHostPort(hostname)
			return fmt.Errorf("unknown host key for %s (%s %s): devstack does not trust hosts on first use; "+
				"check the fingerprint and add the key to %s, e.g. `ssh-keyscan -p %s %s >> %s` or connect once with ssh",
				hostname, key.Type(), ssh.FingerprintSHA256(key), known, port, host, known)
		case errors.As(err, &ke):
			return fmt.Errorf("the host key of %s (%s) does not match the one in %s:%d: the host was reinstalled, or someone is in the middle; "+
				"check with the host's administrator before removing the old line", hostname, ssh.FingerprintSHA256(key), ke.Want[0].Filename, ke.Want[0].Line)
		default:
			return fmt.Errorf("host key of %s: %w", hostname, err)
		}
	}
	// Ask the database with a throwaway key: the error lists what it knows.
	var algos []string
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	if probe, err := ssh.NewSignerFromKey(priv); err == nil {
		var ke *knownhosts.KeyError
		if errors.As(db(addr, &net.TCPAddr{IP: net.IPv4zero}, probe.PublicKey()), &ke) {
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
	for _, h := range append(d.jumps, hop{addr: d.addr, cfg: d.cfg}) {
		var prev *ssh.Client
		if len(via) > 0 {
			prev = via[len(via)-1]
		}
		c, err := sshLogin(ctx, prev, h)
		if err != nil {
			closeVia()
			return nil, err
		}
		via = append(via, c)
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
					conn.Close() // no answer: the link is gone
					return
				case <-done:
					return
				}
			}
		}
	}()
	return conn, nil
}

// sshLogin opens an SSH connection to h: directly, or through prev.
func sshLogin(ctx context.Context, prev *ssh.Client, h hop) (*ssh.Client, error) {
	var raw net.Conn
	var err error
	if prev == nil {
		nd := net.Dialer{Timeout: h.cfg.Timeout}
		if raw, err = nd.DialContext(ctx, "tcp", h.addr); err == nil {
			raw = withQuickAck(raw)
		}
	} else {
		raw, err = prev.DialContext(ctx, "tcp", h.addr)
	}
	if err != nil {
		return nil, fmt.Errorf("unable to connect to %s: %w", h.addr, err)
	}
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
		return nil, fmt.Errorf("unable to log in to %s over SSH: %w", h.addr, err)
	}
	_ = raw.SetDeadline(time.Time{})
	return ssh.NewClient(c, chans, reqs), nil
}

// DialContext opens a channel to the remote engine's socket; it is the
// client's dialer, so network and addr (the placeholder host) are unused.
func (d *sshDialer) DialContext(ctx context.Context, _, _ string) (net.Conn, error) {
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
