// Package enginetest helps tests that need the real Docker engine: it skips
// them when DEVSTACK_NO_DOCKER is set, and builds the small local images the
// tests run (no registry can be reached, so nothing is ever pulled).
//
// Design: test helpers: local busybox image, engine checks, cleanup, a
// private dockerd in its own network and mount namespaces (`StartDockerd`)
// that fault tests may kill and restart, and an SSH test host (`StartSSHHost`:
// that engine and an sshd behind a veth whose link can be cut, rate-limited
// with tc, or reached through a relay adding latency and counting bytes).
package enginetest

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"
)

// BusyboxImage is the tag of the test image: FROM scratch plus a static
// busybox, with PATH and /tmp set up (scratch has neither).
const BusyboxImage = "devstack-test/busybox:1"

// BusyboxDockerfile builds BusyboxImage from a context holding "busybox".
const BusyboxDockerfile = `FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
RUN ["/bin/busybox", "sh", "-c", "mkdir -p /tmp /usr/bin /sbin /usr/sbin /etc /root && chmod 1777 /tmp && echo 'root:x:0:0:root:/root:/bin/sh' > /etc/passwd && echo 'nobody:x:65534:65534:nobody:/:/bin/sh' >> /etc/passwd && echo 'root:x:0:' > /etc/group && echo 'nogroup:x:65534:' >> /etc/group"]
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
CMD ["sh"]
`

// BusyboxPath is where Debian's busybox-static installs the binary.
var BusyboxPath = "/bin/busybox"

// NeedDocker skips the test when DEVSTACK_NO_DOCKER is set, and fails it
// when the engine does not answer (CI must have one).
func NeedDocker(t testing.TB) {
	t.Helper()
	if os.Getenv("DEVSTACK_NO_DOCKER") != "" {
		t.Skip("DEVSTACK_NO_DOCKER is set")
	}
	if err := dockerOK(); err != nil {
		t.Fatalf("the Docker engine does not answer (set DEVSTACK_NO_DOCKER=1 to skip engine tests): %v", err)
	}
}

var (
	pingOnce sync.Once
	pingErr  error
	buildMu  sync.Mutex
)

func dockerOK() error {
	pingOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, "docker", "version", "--format", "{{.Server.APIVersion}}").CombinedOutput()
		if err != nil {
			pingErr = fmt.Errorf("docker version: %v: %s", err, out)
		}
	})
	return pingErr
}

// Busybox makes sure BusyboxImage exists, building it when missing, and
// returns its tag.
func Busybox(t testing.TB) string {
	t.Helper()
	NeedDocker(t)
	if err := EnsureBusybox(context.Background()); err != nil {
		t.Fatal(err)
	}
	return BusyboxImage
}

// EnsureBusybox builds BusyboxImage unless the engine has it already.
func EnsureBusybox(ctx context.Context) error {
	buildMu.Lock()
	defer buildMu.Unlock()
	if exec.CommandContext(ctx, "docker", "image", "inspect", BusyboxImage).Run() == nil {
		return nil
	}
	bin, err := os.ReadFile(BusyboxPath)
	if err != nil {
		return fmt.Errorf("unable to read static busybox (apt-get install busybox-static): %w", err)
	}
	ctxTar, err := ContextTar(map[string][]byte{"Dockerfile": []byte(BusyboxDockerfile), "busybox": bin})
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, "docker", "build", "-q", "-t", BusyboxImage, "-")
	cmd.Stdin = bytes.NewReader(ctxTar)
	cmd.Env = append(os.Environ(), "DOCKER_BUILDKIT=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("unable to build %s: %v: %s", BusyboxImage, err, out)
	}
	return nil
}

// ContextTar packs files (name -> content, mode 0755) into an uncompressed tar.
func ContextTar(files map[string][]byte) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, data := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o755, Size: int64(len(data)), Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0)}); err != nil {
			return nil, err
		}
		if _, err := io.Copy(tw, bytes.NewReader(data)); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// RemoveProject force-removes every container, network, volume and image labelled
// with the compose project name; tests call it in t.Cleanup.
func RemoveProject(project string) {
	filter := "label=com.docker.compose.project=" + project
	ids, _ := exec.Command("docker", "ps", "-aq", "--filter", filter).Output()
	if f := bytes.Fields(ids); len(f) > 0 {
		args := []string{"rm", "-fv"}
		for _, id := range f {
			args = append(args, string(id))
		}
		_ = exec.Command("docker", args...).Run()
	}
	for _, kind := range []string{"network", "volume"} {
		out, _ := exec.Command("docker", kind, "ls", "-q", "--filter", filter).Output()
		for _, id := range bytes.Fields(out) {
			_ = exec.Command("docker", kind, "rm", string(id)).Run()
		}
	}
	// The images the project built carry its label too (its untagged
	// parent layers go with them).
	out, _ := exec.Command("docker", "images", "-q", "--filter", filter).Output()
	seen := map[string]bool{}
	for _, id := range bytes.Fields(out) {
		if !seen[string(id)] {
			seen[string(id)] = true
			_ = exec.Command("docker", "rmi", "-f", string(id)).Run()
		}
	}
}
