package enginetest

import (
	"os/exec"
	"strings"
	"testing"
)

func TestBusyboxImageRunsAShell(t *testing.T) {
	img := Busybox(t)
	out, err := exec.Command("docker", "run", "--rm", img, "sh", "-c", "echo $PATH; test -d /tmp && echo tmp-ok").CombinedOutput()
	if err != nil {
		t.Fatalf("docker run: %v: %s", err, out)
	}
	if !strings.Contains(string(out), "/bin") || !strings.Contains(string(out), "tmp-ok") {
		t.Fatalf("image lacks PATH or /tmp: %q", out)
	}
}
