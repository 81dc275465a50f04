//go:build unix

package docker

import (
	"devstack/engine/enginetest"

	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"devstack/engine"
	"devstack/engine/event"
	"devstack/engine/model"
)

const sshdPath = "/usr/sbin/sshd"

// testSSHD runs a real sshd on 127.0.0.1 that lets the current user in
// with a fresh key; it returns the server's host key. HOME is pointed at
// a temporary directory holding the user's key, as ~/.ssh/id_ed25519.
func testSSHD(t *testing.T) (port int, hostKey ssh.PublicKey, home string) {
	t.Helper()
	if _, err := os.Stat(sshdPath); err != nil {
		t.Skipf("%s is missing (apt-get install openssh-server): the SSH dialer is not tested", sshdPath)
	}
	// sshd refuses to start without its privilege separation directory.
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		t.Skipf("sshd needs /run/sshd, which cannot be made here: %v", err)
	}
	dir := t.TempDir()
	home = filepath.Join(dir, "home")
	if err := os.MkdirAll(filepath.Join(home, ".ssh"), 0o700); err != nil {
		t.Fatal(err)
	}
	writeKey := func(path string) ssh.PublicKey { return enginetest.WriteSSHKey(t, path) }
	hostKey = writeKey(filepath.Join(dir, "host_ed25519"))
	userKey := writeKey(filepath.Join(home, ".ssh", "id_ed25519"))
	if err := os.WriteFile(filepath.Join(dir, "authorized_keys"), ssh.MarshalAuthorizedKey(userKey), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port = l.Addr().(*net.TCPAddr).Port
	l.Close()
	cfg := fmt.Sprintf(`Port %d
ListenAddress 127.0.0.1
HostKey %s
AuthorizedKeysFile %s
PidFile none
UsePAM no
StrictModes no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin prohibit-password
AllowStreamLocalForwarding yes
LogLevel ERROR
`, port, filepath.Join(dir, "host_ed25519"), filepath.Join(dir, "authorized_keys"))
	cfgPath := filepath.Join(dir, "sshd_config")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	cmd := exec.Command(sshdPath, "-D", "-e", "-f", cfgPath)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	// sshd forks a child per connection: the group is killed at the end,
	// and Wait does not wait for a child that still holds the output.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
		if t.Failed() {
			t.Logf("sshd said:\n%s", logs.String())
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err == nil {
			c.Close()
			break
		}
		select {
		case err := <-exited:
			t.Fatalf("sshd exited: %v\n%s", err, logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("sshd does not listen on %d: %s", port, logs.String())
		}
		time.Sleep(20 * time.Millisecond) // polling for the listener, bounded by the deadline
	}
	t.Setenv("HOME", home)
	t.Setenv("SSH_AUTH_SOCK", "")
	return port, hostKey, home
}

func TestSSHDialerReachesTheEngine(t *testing.T) {
	r, img := newTestRuntime(t) // the local runtime, to compare with
	port, hostKey, home := testSSHD(t)
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	host := fmt.Sprintf("ssh://%s@127.0.0.1:%d", me.Username, port)
	ctx := testCtx(t, 60*time.Second)

	// No known_hosts: refused, with the fingerprint and what to do.
	_, err = New(ctx, Options{Host: host})
	if err == nil || !strings.Contains(err.Error(), "unknown host key") || !strings.Contains(err.Error(), ssh.FingerprintSHA256(hostKey)) ||
		!strings.Contains(err.Error(), "ssh-keyscan") {
		t.Fatalf("unknown host: %v", err)
	}
	known := filepath.Join(home, ".ssh", "known_hosts")
	addr := knownhosts.Normalize(fmt.Sprintf("127.0.0.1:%d", port))

	// Another key on record: refused as a mismatch.
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	otherSigner, _ := ssh.NewSignerFromKey(other)
	if err := os.WriteFile(known, []byte(knownhosts.Line([]string{addr}, otherSigner.PublicKey())+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err = New(ctx, Options{Host: host}); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Fatalf("changed host key: %v", err)
	}

	if err := os.WriteFile(known, []byte(knownhosts.Line([]string{addr}, hostKey)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	remote, err := New(ctx, Options{Host: host})
	if err != nil {
		t.Fatal(err)
	}
	defer remote.Close()
	t.Logf("connected and pinged over SSH in %v", time.Since(start).Round(time.Millisecond))
	if remote.Host() != host {
		t.Errorf("host = %s", remote.Host())
	}

	// The same engine answers through both.
	p := newProject(t)
	svc := model.Service{Name: "remote", Image: img, Command: idle}
	id, err := remote.CreateContainer(ctx, p, &svc, 1, engine.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	viaSSH, err := remote.api.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: projectFilter(p.Name)})
	if err != nil {
		t.Fatal(err)
	}
	local, err := r.api.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: projectFilter(p.Name)})
	if err != nil {
		t.Fatal(err)
	}
	if len(viaSSH.Items) != 1 || len(local.Items) != 1 || viaSSH.Items[0].ID != id || local.Items[0].ID != id {
		t.Fatalf("listed over SSH %d, locally %d", len(viaSSH.Items), len(local.Items))
	}

	// Hijacked connections (exec with stdin) go through SSH too.
	if err := remote.StartContainer(ctx, id); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	code, err := remote.Exec(ctx, id, engine.ExecOptions{Cmd: []string{"sh", "-c", "cat; exit 4"}, Stdin: strings.NewReader("over ssh"), Stdout: &out})
	if err != nil || code != 4 || out.String() != "over ssh" {
		t.Errorf("exec over SSH = %q %d %v", out.String(), code, err)
	}

	// Many calls in parallel share the one SSH connection.
	start = time.Now()
	obsCtx := testCtx(t, 30*time.Second)
	for range 5 {
		if _, err := remote.Observe(obsCtx, p); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("observe over SSH: %v each", (time.Since(start) / 5).Round(100*time.Microsecond))
	if err := remote.RemoveContainer(ctx, id, true); err != nil {
		t.Fatal(err)
	}

	// A build over SSH sends its context gzipped: the engine unpacks it.
	if !remote.Remote() || r.Remote() {
		t.Fatalf("Remote(): over SSH %v, local %v", remote.Remote(), r.Remote())
	}
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"hello.txt": "hello", "Dockerfile": "FROM " + img + "\nCOPY hello.txt /hello.txt\nRUN test \"$(cat /hello.txt)\" = hello\n"})
	tag := "devstack-test/" + p.Name + ":ssh"
	t.Cleanup(func() {
		_, _ = r.api.ImageRemove(context.Background(), tag, client.ImageRemoveOptions{Force: true, PruneChildren: true})
	})
	if _, err := remote.Build(ctx, p, &model.Service{Name: "app", Image: tag, Build: &model.Build{Context: dir}}, engine.BuildOptions{}, event.Discard); err != nil {
		t.Fatalf("build over SSH: %v", err)
	}
}

// An alias of ~/.ssh/config is reached as ssh(1) would: its HostName,
// Port, User and IdentityFile (here the only key there is).
func TestSSHConfigAlias(t *testing.T) {
	newTestRuntime(t)
	port, hostKey, home := testSSHD(t)
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	dotSSH := filepath.Join(home, ".ssh")
	if err := os.Rename(filepath.Join(dotSSH, "id_ed25519"), filepath.Join(dotSSH, "work_key")); err != nil {
		t.Fatal(err)
	}
	config := fmt.Sprintf("Host devbox\n  HostName 127.0.0.1\n  Port %d\n  User %s\n  IdentityFile ~/.ssh/work_key\n", port, me.Username)
	if err := os.WriteFile(filepath.Join(dotSSH, "config"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := knownhosts.Normalize(fmt.Sprintf("127.0.0.1:%d", port))
	if err := os.WriteFile(filepath.Join(dotSSH, "known_hosts"), []byte(knownhosts.Line([]string{addr}, hostKey)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t, 30*time.Second)
	remote, err := New(ctx, Options{Host: "ssh://devbox"})
	if err != nil {
		t.Fatalf("ssh://devbox: %v", err)
	}
	defer remote.Close()
	if _, err := remote.api.Ping(ctx, client.PingOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestSSHHostFromConfig(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	if err := os.MkdirAll(filepath.Join(home, ".ssh"), 0o700); err != nil {
		t.Fatal(err)
	}
	config := "Host box\n  HostName 10.1.2.3\n  Port 2222\n  User deploy\n  IdentityFile ~/.ssh/a\n  IdentityFile /keys/b\n  ProxyJump gw1, ops@gw2:2200\n" +
		"Host direct\n  ProxyJump none\n"
	if err := os.WriteFile(filepath.Join(home, ".ssh", "config"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ url, addr, user string }{
		{"ssh://box", "10.1.2.3:2222", "deploy"},
		{"ssh://me@box:22", "10.1.2.3:22", "me"}, // the URL wins
		{"ssh://me@other", "other:22", "me"},     // no entry: as written
	} {
		u, _ := url.Parse(c.url)
		h, err := resolveSSHHost(u)
		if err != nil || h.addr != c.addr || h.user != c.user {
			t.Errorf("%s: %+v %v", c.url, h, err)
		}
	}
	u, _ := url.Parse("ssh://box")
	h, _ := resolveSSHHost(u)
	if len(h.identities) != 2 || h.identities[0] != filepath.Join(home, ".ssh", "a") || h.identities[1] != "/keys/b" {
		t.Errorf("identities %v", h.identities)
	}
	if len(h.jumps) != 2 || h.jumps[0] != "gw1" || h.jumps[1] != "ops@gw2:2200" {
		t.Errorf("jumps %q", h.jumps)
	}
	u, _ = url.Parse("ssh://direct")
	if h, _ := resolveSSHHost(u); len(h.jumps) != 0 {
		t.Errorf("ProxyJump none gave %q", h.jumps)
	}
}

// ProxyJump: the engine's host is reached through a jump host, as ssh -J
// does. The jump host is the same sshd behind a counting TCP proxy, so
// the test sees that the connection went through it.
func TestSSHProxyJump(t *testing.T) {
	newTestRuntime(t)
	port, hostKey, home := testSSHD(t)
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	proxy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	accepted := make(chan struct{}, 16)
	go func() {
		for {
			c, err := proxy.Accept()
			if err != nil {
				return
			}
			accepted <- struct{}{}
			go func() {
				defer c.Close()
				s, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
				if err != nil {
					return
				}
				defer s.Close()
				go func() { _, _ = io.Copy(s, c) }()
				_, _ = io.Copy(c, s)
			}()
		}
	}()
	jumpPort := proxy.Addr().(*net.TCPAddr).Port
	dotSSH := filepath.Join(home, ".ssh")
	config := fmt.Sprintf("Host bastion\n  HostName 127.0.0.1\n  Port %d\n  User %s\n\nHost devbox\n  HostName 127.0.0.1\n  Port %d\n  User %s\n  ProxyJump bastion\n",
		jumpPort, me.Username, port, me.Username)
	if err := os.WriteFile(filepath.Join(dotSSH, "config"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	known := knownhosts.Line([]string{knownhosts.Normalize(fmt.Sprintf("127.0.0.1:%d", port)), knownhosts.Normalize(fmt.Sprintf("127.0.0.1:%d", jumpPort))}, hostKey)
	if err := os.WriteFile(filepath.Join(dotSSH, "known_hosts"), []byte(known+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t, 30*time.Second)
	remote, err := New(ctx, Options{Host: "ssh://devbox"})
	if err != nil {
		t.Fatalf("ssh://devbox through bastion: %v", err)
	}
	defer remote.Close()
	if _, err := remote.api.Ping(ctx, client.PingOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-accepted:
	default:
		t.Fatal("the connection did not go through the jump host")
	}
}
