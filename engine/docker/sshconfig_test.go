//go:build unix

package docker

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// sshConfigCase is a real sshd on 127.0.0.1 and a ~/.ssh/config written
// for it; connect reaches the engine through ssh://devbox.
type sshConfigCase struct {
	t       *testing.T
	port    int
	hostKey ssh.PublicKey
	dotSSH  string
	me      string
}

func newSSHConfigCase(t *testing.T) *sshConfigCase {
	newTestRuntime(t)
	port, hostKey, home := testSSHD(t)
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	return &sshConfigCase{t: t, port: port, hostKey: hostKey, dotSSH: filepath.Join(home, ".ssh"), me: me.Username}
}

func (c *sshConfigCase) write(name, content string) {
	c.t.Helper()
	if err := os.WriteFile(filepath.Join(c.dotSSH, name), []byte(content), 0o600); err != nil {
		c.t.Fatal(err)
	}
}

// config writes ~/.ssh/config: Host devbox at the sshd, with extra lines.
func (c *sshConfigCase) config(extra ...string) {
	c.write("config", fmt.Sprintf("Host devbox\n  HostName 127.0.0.1\n  Port %d\n  User %s\n", c.port, c.me)+"  "+strings.Join(extra, "\n  ")+"\n")
}

func (c *sshConfigCase) knownLine(names ...string) string {
	return knownhosts.Line(names, c.hostKey) + "\n"
}

func (c *sshConfigCase) addr() string {
	return knownhosts.Normalize(fmt.Sprintf("127.0.0.1:%d", c.port))
}

func (c *sshConfigCase) connect() error {
	c.t.Helper()
	ctx := testCtx(c.t, 30*time.Second)
	r, err := New(ctx, Options{Host: "ssh://devbox"})
	if err != nil {
		return err
	}
	defer r.Close()
	_, err = r.api.Ping(ctx, client.PingOptions{})
	return err
}

// UserKnownHostsFile: the host key is looked up there (and not in
// ~/.ssh/known_hosts, which holds nothing here).
func TestSSHUserKnownHostsFile(t *testing.T) {
	c := newSSHConfigCase(t)
	c.config("UserKnownHostsFile ~/.ssh/team_known_hosts")
	if err := c.connect(); err == nil || !strings.Contains(err.Error(), "team_known_hosts") {
		t.Fatalf("unknown host, known hosts file named in the error: %v", err)
	}
	c.write("team_known_hosts", c.knownLine(c.addr()))
	if err := c.connect(); err != nil {
		t.Fatal(err)
	}
}

// HostKeyAlias: the key is recorded under the alias, not host:port.
func TestSSHHostKeyAlias(t *testing.T) {
	c := newSSHConfigCase(t)
	c.config("HostKeyAlias devbox-key")
	c.write("known_hosts", c.knownLine(c.addr())) // under host:port only: not good enough
	if err := c.connect(); err == nil || !strings.Contains(err.Error(), "devbox-key") {
		t.Fatalf("the key under host:port was taken for the alias's: %v", err)
	}
	c.write("known_hosts", c.knownLine("devbox-key"))
	if err := c.connect(); err != nil {
		t.Fatal(err)
	}
}

// StrictHostKeyChecking accept-new records a new host and still refuses
// a changed key; no is refused, with what to use instead.
func TestSSHStrictHostKeyChecking(t *testing.T) {
	c := newSSHConfigCase(t)
	c.config("StrictHostKeyChecking no")
	if err := c.connect(); err == nil || !strings.Contains(err.Error(), "StrictHostKeyChecking no") || !strings.Contains(err.Error(), "accept-new") {
		t.Fatalf("no: %v", err)
	}
	c.config("StrictHostKeyChecking accept-new")
	if err := c.connect(); err != nil {
		t.Fatalf("accept-new, new host: %v", err)
	}
	b, err := os.ReadFile(filepath.Join(c.dotSSH, "known_hosts"))
	if err != nil || !strings.Contains(string(b), c.addr()) || !strings.Contains(string(b), strings.TrimSpace(string(ssh.MarshalAuthorizedKey(c.hostKey)))) {
		t.Fatalf("the new host's key was not recorded: %q %v", b, err)
	}
	if err := c.connect(); err != nil {
		t.Fatalf("accept-new, known host: %v", err)
	}
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	otherSigner, _ := ssh.NewSignerFromKey(other)
	c.write("known_hosts", knownhosts.Line([]string{c.addr()}, otherSigner.PublicKey())+"\n")
	if err := c.connect(); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Fatalf("accept-new, changed key: %v", err)
	}
}

// ProxyCommand: the connection is the command's standard streams, with
// %h and %p expanded.
func TestSSHProxyCommand(t *testing.T) {
	c := newSSHConfigCase(t)
	if _, err := os.Stat("/bin/busybox"); err != nil {
		t.Skip("busybox (for its nc) is missing")
	}
	mark := filepath.Join(t.TempDir(), "proxied")
	c.config("ProxyCommand touch " + mark + " && exec /bin/busybox nc %h %p")
	c.write("known_hosts", c.knownLine(c.addr()))
	if err := c.connect(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(mark); err != nil {
		t.Fatal("the ProxyCommand did not run")
	}
}

// IdentitiesOnly: only the IdentityFile keys are offered, not
// ~/.ssh/id_* (the one key the server takes).
func TestSSHIdentitiesOnly(t *testing.T) {
	c := newSSHConfigCase(t)
	c.write("known_hosts", c.knownLine(c.addr()))
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	block, err := ssh.MarshalPrivateKey(other, "")
	if err != nil {
		t.Fatal(err)
	}
	c.write("other_key", string(pemEncode(block)))
	c.config("IdentityFile ~/.ssh/other_key")
	if err := c.connect(); err != nil {
		t.Fatalf("without IdentitiesOnly the default key is offered too: %v", err)
	}
	c.config("IdentityFile ~/.ssh/other_key", "IdentitiesOnly yes")
	if err := c.connect(); err == nil || !strings.Contains(err.Error(), "unable to authenticate") {
		t.Fatalf("with IdentitiesOnly the default key was offered: %v", err)
	}
}

// A jump host's own ProxyJump is followed: devbox through bastion2,
// which is itself reached through bastion1 (both counting proxies in
// front of the same sshd).
func TestSSHNestedProxyJump(t *testing.T) {
	c := newSSHConfigCase(t)
	proxy := func() (int, *atomic.Int32) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		var n atomic.Int32
		go func() {
			for {
				conn, err := l.Accept()
				if err != nil {
					return
				}
				n.Add(1)
				go func() {
					defer conn.Close()
					s, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", c.port))
					if err != nil {
						return
					}
					defer s.Close()
					go func() { _, _ = io.Copy(s, conn) }()
					_, _ = io.Copy(conn, s)
				}()
			}
		}()
		return l.Addr().(*net.TCPAddr).Port, &n
	}
	p1, n1 := proxy()
	p2, n2 := proxy()
	c.write("config", fmt.Sprintf("Host bastion1\n  HostName 127.0.0.1\n  Port %d\n  User %s\n\n"+
		"Host bastion2\n  HostName 127.0.0.1\n  Port %d\n  User %s\n  ProxyJump bastion1\n\n"+
		"Host devbox\n  HostName 127.0.0.1\n  Port %d\n  User %s\n  ProxyJump bastion2\n", p1, c.me, p2, c.me, c.port, c.me))
	c.write("known_hosts", c.knownLine(c.addr(), knownhosts.Normalize(fmt.Sprintf("127.0.0.1:%d", p1)), knownhosts.Normalize(fmt.Sprintf("127.0.0.1:%d", p2))))
	if err := c.connect(); err != nil {
		t.Fatal(err)
	}
	if n1.Load() == 0 || n2.Load() == 0 {
		t.Fatalf("connections through bastion1 %d, bastion2 %d", n1.Load(), n2.Load())
	}
	// A loop is refused, not followed for ever.
	c.write("config", fmt.Sprintf("Host bastion1\n  HostName 127.0.0.1\n  Port %d\n  ProxyJump devbox\n\nHost devbox\n  HostName 127.0.0.1\n  Port %d\n  ProxyJump bastion1\n", p1, c.port))
	if err := c.connect(); err == nil || !strings.Contains(err.Error(), "loop") {
		t.Fatalf("a ProxyJump loop: %v", err)
	}
}

func pemEncode(b *pem.Block) []byte { return pem.EncodeToMemory(b) }
