package main

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"devstack/engine/enginetest"
)

// The fallback cleanup removes a project's containers, networks and volumes
// by label, with no compose file and no compose tool.
func TestRemoveProjectLaterLeavesNothing(t *testing.T) {
	image := enginetest.Busybox(t)
	project := fmt.Sprintf("benchrm%d", os.Getpid())
	t.Cleanup(func() { enginetest.RemoveProject(project) })
	label := "com.docker.compose.project=" + project
	for _, args := range [][]string{
		{"network", "create", "--label", label, project + "_default"},
		{"volume", "create", "--label", label, project + "_data"},
		{"run", "-d", "--label", label, "--network", project + "_default", "-v", project + "_data:/data", image, "sleep", "60"},
	} {
		if out, err := exec.Command("docker", args...).CombinedOutput(); err != nil {
			t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	b := &bench{}
	b.removeProjectLater(project)
	b.cleanup()
	for _, kind := range []string{"container", "network", "volume"} {
		args := []string{kind, "ls", "-q", "--filter", "label=" + label}
		if kind == "container" {
			args = append(args, "-a")
		}
		out, err := exec.Command("docker", args...).Output()
		if err != nil {
			t.Fatalf("docker %s: %v", strings.Join(args, " "), err)
		}
		if left := strings.Fields(string(out)); len(left) != 0 {
			t.Errorf("%d %s(s) of %s left after the cleanup", len(left), kind, project)
		}
	}
}
