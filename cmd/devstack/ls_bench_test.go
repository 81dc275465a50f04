package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"devstack/engine/enginetest"
)

// BenchmarkLsTenProjects times `devstack ls` (in process: connect, one
// container list, print) with ten projects of two running containers
// each on the engine, beside `docker ps` with the same filter (the
// engine's floor, plus the docker CLI's start) and `docker compose ls`
// when Compose v2 is installed, measured in the same run. Target: ≤ 100 ms.
func BenchmarkLsTenProjects(b *testing.B) {
	image := enginetest.Busybox(b)
	prefix := fmt.Sprintf("lsbench%d", time.Now().UnixNano()%1e6)
	for i := range 10 {
		project := fmt.Sprintf("%s-%d", prefix, i)
		b.Cleanup(func() { enginetest.RemoveProject(project) })
		for n := 1; n <= 2; n++ {
			out, err := exec.Command("docker", "run", "-d", "--name", fmt.Sprintf("%s-s-%d", project, n),
				"--label", "com.docker.compose.project="+project, "--label", "com.docker.compose.service=s",
				"--label", fmt.Sprintf("com.docker.compose.container-number=%d", n),
				"--label", "com.docker.compose.project.config_files=/src/"+project+"/compose.yaml",
				image, "sleep", "600").CombinedOutput()
			if err != nil {
				b.Fatalf("docker run: %v: %s", err, out)
			}
		}
	}
	lsOnce := func() time.Duration {
		var out bytes.Buffer
		start := time.Now()
		if code := run(context.Background(), []string{"ls"}, strings.NewReader(""), &out, io.Discard); code != 0 {
			b.Fatalf("ls exited %d", code)
		}
		d := time.Since(start)
		if got := strings.Count(out.String(), "\n"+prefix); got != 10 {
			b.Fatalf("ls listed %d of the 10 projects:\n%s", got, out.String())
		}
		return d
	}
	var ours []time.Duration
	b.ResetTimer()
	for range b.N {
		ours = append(ours, lsOnce())
	}
	b.StopTimer()
	b.ReportMetric(median(ours), "devstack-ms")
	b.ReportMetric(median(timeCommand(b, 5, "docker", "ps", "-a", "--filter", "label=com.docker.compose.project")), "docker-ps-ms")
	if exec.Command("docker", "compose", "version").Run() == nil {
		b.ReportMetric(median(timeCommand(b, 5, "docker", "compose", "ls")), "compose-ms")
	}
}

func timeCommand(b *testing.B, n int, name string, args ...string) []time.Duration {
	var ds []time.Duration
	for range n {
		start := time.Now()
		if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
			b.Fatalf("%s %v: %v: %s", name, args, err, out)
		}
		ds = append(ds, time.Since(start))
	}
	return ds
}

// median in milliseconds.
func median(ds []time.Duration) float64 {
	s := slices.Clone(ds)
	slices.Sort(s)
	return float64(s[len(s)/2].Microseconds()) / 1000
}
