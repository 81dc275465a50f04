package docker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/crypto/ssh/knownhosts"
)

// sshDialer reaches a remote engine's socket through one SSH connection:
// every API connection is a direct-streamlocal channel on it. No ssh
// binary and no docker CLI are needed on either side.
type sshDialer struct {
	mu     sync.Mutex
	cfg    *ssh.ClientConfig
	addr   string
	socket string
	conn   *ssh.Client
}

func newSSHDialer(ctx context.Context, host string) (*sshDialer, error) {
	u, err := url.Parse(host)
	if err != nil {
		return nil, fmt.Errorf("invalid ssh host %q: %w", host, err)
	}
	user := u.User.Username()
	if user == "" {
		user = os.Getenv("USER")
	}
	port := u.Port()
	if port == "" {
		port = "22"
	}
	socket := u.Path
	if socket == "" || socket == "/" {
		socket = "/var/run/docker.sock"
	}
	auths, err := sshAuth()
	if err != nil {
		return nil, err
	}
	home, _ := os.UserHomeDir()
	known := filepath.Join(home, ".ssh", "known_hosts")
	if v := os.Getenv("DEVSTACK_SSH_KNOWN_HOSTS"); v != "" {
		known = v
	}
	check, err := knownhosts.New(known)
	if err != nil {
		return nil, fmt.Errorf("unable to read %s to check the host key: %w (connect once with `ssh %s` to record it)", known, err, u.Host)
	}
	d := &sshDialer{
		cfg: &ssh.ClientConfig{User: user, Auth: auths, HostKeyCallback: func(hostname string, remote net.Addr, key ssh.PublicKey) error {
			if err := check(hostname, remote, key); err != nil {
				var ke *knownhosts.KeyError
				if errors.As(err, &ke) && len(ke.Want) == 0 {
					return fmt.Errorf("unknown host key for %s: add it to %s (e.g. connect once with `ssh %s`)", hostname, known, hostname)
				}
				return fmt.Errorf("host key of %s does not match %s: %w", hostname, known, err)
			}
			return nil
		}},
		addr:   net.JoinHostPort(u.Hostname(), port),
		socket: socket,
	}
	if _, err := d.client(ctx); err != nil {
		return nil, err
	}
	return d, nil
}

// sshAuth offers the agent's keys, then the usual key files.
func sshAuth() ([]ssh.AuthMethod, error) {
	var methods []ssh.AuthMethod
	if sock := os.Getenv("SSH_AUTH_SOCK"); sock != "" {
		if c, err := net.Dial("unix", sock); err == nil {
			methods = append(methods, ssh.PublicKeysCallback(agent.NewClient(c).Signers))
		}
	}
	home, _ := os.UserHomeDir()
	var signers []ssh.Signer
	for _, name := range []string{"id_ed25519", "id_ecdsa", "id_rsa"} {
		b, err := os.ReadFile(filepath.Join(home, ".ssh", name))
		if err != nil {
			continue
		}
		if s, err := ssh.ParsePrivateKey(b); err == nil {
			signers = append(signers, s)
		}
	}
	if len(signers) > 0 {
		methods = append(methods, ssh.PublicKeys(signers...))
	}
	if len(methods) == 0 {
		return nil, errors.New("no SSH key: start ssh-agent with a key or create ~/.ssh/id_ed25519")
	}
	return methods, nil
}

func (d *sshDialer) client(ctx context.Context) (*ssh.Client, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.conn != nil {
		return d.conn, nil
	}
	var nd net.Dialer
	raw, err := nd.DialContext(ctx, "tcp", d.addr)
	if err != nil {
		return nil, fmt.Errorf("unable to connect to %s: %w", d.addr, err)
	}
	c, chans, reqs, err := ssh.NewClientConn(raw, d.addr, d.cfg)
	if err != nil {
		raw.Close()
		return nil, fmt.Errorf("ssh to %s: %w", d.addr, err)
	}
	d.conn = ssh.NewClient(c, chans, reqs)
	go func(conn *ssh.Client) {
		_ = conn.Wait()
		d.mu.Lock()
		if d.conn == conn {
			d.conn = nil // reconnect on the next dial
		}
		d.mu.Unlock()
	}(d.conn)
	return d.conn, nil
}

// DialContext opens a channel to the remote engine's socket.
func (d *sshDialer) DialContext(ctx context.Context, _, _ string) (net.Conn, error) {
	c, err := d.client(ctx)
	if err != nil {
		return nil, err
	}
	conn, err := c.Dial("unix", d.socket)
	if err != nil {
		return nil, fmt.Errorf("unable to reach %s on %s: %w", d.socket, d.addr, err)
	}
	return conn, nil
}

// Close ends the SSH connection.
func (d *sshDialer) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.conn == nil {
		return nil
	}
	err := d.conn.Close()
	d.conn = nil
	return err
}
