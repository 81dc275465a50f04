package enginetest

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// SSHHost is a remote machine of the test's own: a network namespace,
// joined to this one by a veth pair, holding a private Docker engine and
// an sshd listening on the namespace's address. What the engine publishes
// exists only at that address (not on this machine's loopback), as on a
// real remote box; the link can be cut and restored (LinkDown, LinkUp).
type SSHHost struct {
	*Dockerd
	// Addr is the namespace's address as this machine reaches it.
	Addr string
	// URL is the engine's address for docker.Options.Host or DOCKER_HOST:
	// ssh://USER@Addr:22/<the engine's socket>.
	URL string
	// Home holds .ssh/id_ed25519 (the only key that logs in) and
	// .ssh/known_hosts (the host's key); StartSSHHost sets HOME to it.
	Home string
	// HostKey is the sshd's host key.
	HostKey ssh.PublicKey
	// Veth is this side's end of the link, Peer the namespace's.
	Veth, Peer string

	sshdLog bytes.Buffer
}

// StartSSHHost starts the namespace, its engine and its sshd, and removes
// them when the test ends. It skips where StartDockerd does, and where
// there is no sshd.
func StartSSHHost(t testing.TB) *SSHHost {
	t.Helper()
	const sshd = "/usr/sbin/sshd"
	if _, err := os.Stat(sshd); err != nil {
		t.Skipf("%s is missing (apt-get install openssh-server): no SSH test host", sshd)
	}
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		t.Skipf("sshd needs /run/sshd, which cannot be made here: %v", err)
	}
	d := StartDockerd(t)
	h := &SSHHost{Dockerd: d}
	suffix := strings.TrimPrefix(d.netns, "devstack-test-")
	h.Veth, h.Peer = "dsh"+suffix, "dsh"+suffix+"p"
	// A /30 in 10.201.0.0-10.250.255.255, at random: parallel tests (and
	// other users of the machine) each get their own.
	n, _ := rand.Int(rand.Reader, big.NewInt(50*256*64))
	v := int(n.Int64())
	base := fmt.Sprintf("10.%d.%d.%d", 201+v/(256*64), (v/64)%256, (v%64)*4)
	ip := net.ParseIP(base).To4()
	local := net.IPv4(ip[0], ip[1], ip[2], ip[3]+1).String()
	h.Addr = net.IPv4(ip[0], ip[1], ip[2], ip[3]+2).String()
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	inNS := func(args ...string) { run(append([]string{"ip", "netns", "exec", d.netns}, args...)...) }
	run("ip", "link", "add", h.Veth, "type", "veth", "peer", "name", h.Peer, "netns", d.netns)
	t.Cleanup(func() { _ = exec.Command("ip", "link", "del", h.Veth).Run() })
	run("ip", "addr", "add", local+"/30", "dev", h.Veth)
	run("ip", "link", "set", h.Veth, "up")
	inNS("ip", "addr", "add", h.Addr+"/30", "dev", h.Peer)
	inNS("ip", "link", "set", h.Peer, "up")
	inNS("ip", "route", "add", "default", "via", local)

	dir := filepath.Join(d.dir, "ssh")
	h.Home = filepath.Join(dir, "home")
	if err := os.MkdirAll(filepath.Join(h.Home, ".ssh"), 0o700); err != nil {
		t.Fatal(err)
	}
	writeKey := func(path string) ssh.PublicKey { return WriteSSHKey(t, path) }
	h.HostKey = writeKey(filepath.Join(dir, "host_ed25519"))
	userKey := writeKey(filepath.Join(h.Home, ".ssh", "id_ed25519"))
	if err := os.WriteFile(filepath.Join(dir, "authorized_keys"), ssh.MarshalAuthorizedKey(userKey), 0o600); err != nil {
		t.Fatal(err)
	}
	known := knownhosts.Line([]string{knownhosts.Normalize(h.Addr + ":22")}, h.HostKey)
	if err := os.WriteFile(filepath.Join(h.Home, ".ssh", "known_hosts"), []byte(known+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`Port 22
ListenAddress %s
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
AllowTcpForwarding yes
MaxStartups 100
LogLevel ERROR
`, h.Addr, filepath.Join(dir, "host_ed25519"), filepath.Join(dir, "authorized_keys"))
	cfgPath := filepath.Join(dir, "sshd_config")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("nsenter", "--net=/run/netns/"+d.netns, sshd, "-D", "-e", "-f", cfgPath)
	cmd.Stdout, cmd.Stderr = &h.sshdLog, &h.sshdLog
	ownProcessGroup(cmd)
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		killGroup(cmd)
		<-exited
		if t.Failed() {
			t.Logf("sshd said:\n%s", h.sshdLog.String())
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", h.Addr+":22", time.Second)
		if err == nil {
			c.Close()
			break
		}
		select {
		case err := <-exited:
			t.Fatalf("sshd exited: %v\n%s", err, h.sshdLog.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("sshd does not listen on %s:22: %v", h.Addr, err)
		}
		time.Sleep(20 * time.Millisecond) // polling for the listener, bounded by the deadline
	}
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	h.URL = fmt.Sprintf("ssh://%s@%s:22%s", me.Username, h.Addr, strings.TrimPrefix(d.Host, "unix://"))
	t.Setenv("HOME", h.Home)
	t.Setenv("SSH_AUTH_SOCK", "")
	return h
}

// InNamespace runs a command in the host's network namespace (tc, ip).
func (h *SSHHost) InNamespace(args ...string) (string, error) {
	out, err := exec.Command("ip", append([]string{"netns", "exec", h.netns}, args...)...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// LinkDown cuts the link to the host (both ends of the veth down), as a
// Wi-Fi change or a sleeping laptop would: packets are lost, nothing is
// refused.
func (h *SSHHost) LinkDown() {
	if out, err := exec.Command("ip", "link", "set", h.Veth, "down").CombinedOutput(); err != nil {
		h.t.Fatalf("ip link set %s down: %v: %s", h.Veth, err, out)
	}
}

// LinkUp restores the link.
func (h *SSHHost) LinkUp() {
	if out, err := exec.Command("ip", "link", "set", h.Veth, "up").CombinedOutput(); err != nil {
		h.t.Fatalf("ip link set %s up: %v: %s", h.Veth, err, out)
	}
	// The namespace's default route went with the link.
	_, _ = h.InNamespace("ip", "route", "replace", "default", "via", h.localAddr())
}

func (h *SSHHost) localAddr() string {
	ip := net.ParseIP(h.Addr).To4()
	return net.IPv4(ip[0], ip[1], ip[2], ip[3]-1).String()
}

// WriteSSHKey writes a new ed25519 private key to path (0600, OpenSSH's
// format) and returns its public key: host and user keys of SSH tests.
func WriteSSHKey(t testing.TB, path string) ssh.PublicKey {
	t.Helper()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	signer, _ := ssh.NewSignerFromKey(priv)
	return signer.PublicKey()
}
