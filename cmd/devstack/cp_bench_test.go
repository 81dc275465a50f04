package main

import (
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkCpTree copies a 100 MB tree (400 files of 256 KiB in 20
// directories) into a service's container and back out, with devstack
// (the built binary, so both tools pay a process start) and with
// `docker cp` on the same container, alternating which goes first.
// Reported: MB/s of each, both directions. Target: devstack ≥ 0.9× docker cp.
func BenchmarkCpTree(b *testing.B) {
	project, args := eventsStack(b)
	container := project + "-web-1"
	bin := filepath.Join(b.TempDir(), "devstack")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v: %s", err, out)
	}
	src := filepath.Join(b.TempDir(), "tree")
	const files, size = 400, 256 << 10
	buf := make([]byte, size)
	for i := range files {
		dir := filepath.Join(src, fmt.Sprintf("d%02d", i%20))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			b.Fatal(err)
		}
		_, _ = rand.Read(buf)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%03d", i)), buf, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	mb := float64(files*size) / 1e6
	out := b.TempDir()
	timed := func(name string, argv ...string) time.Duration {
		start := time.Now()
		if o, err := exec.Command(name, argv...).CombinedOutput(); err != nil {
			b.Fatalf("%s %v: %v: %s", name, argv, err, o)
		}
		return time.Since(start)
	}
	clean := func(i int, who string) {
		_ = exec.Command("docker", "exec", container, "rm", "-rf", fmt.Sprintf("/tmp/%s%d", who, i)).Run()
		_ = os.RemoveAll(filepath.Join(out, fmt.Sprintf("%s%d", who, i)))
	}
	var ours, theirs, oursOut, theirsOut []time.Duration
	b.ResetTimer()
	for i := range b.N {
		runOurs := func() {
			dst := fmt.Sprintf("/tmp/ds%d", i)
			ours = append(ours, timed(bin, append(args, "cp", src, "web:"+dst)...))
			oursOut = append(oursOut, timed(bin, append(args, "cp", "web:"+dst, filepath.Join(out, fmt.Sprintf("ds%d", i)))...))
		}
		runTheirs := func() {
			dst := fmt.Sprintf("/tmp/dk%d", i)
			theirs = append(theirs, timed("docker", "cp", src, container+":"+dst))
			theirsOut = append(theirsOut, timed("docker", "cp", container+":"+dst, filepath.Join(out, fmt.Sprintf("dk%d", i))))
		}
		if i%2 == 0 {
			runOurs()
			runTheirs()
		} else {
			runTheirs()
			runOurs()
		}
		clean(i, "ds")
		clean(i, "dk")
	}
	b.StopTimer()
	rate := func(ds []time.Duration) float64 { return mb / (median(ds) / 1000) }
	b.ReportMetric(rate(ours), "devstack-in-MB/s")
	b.ReportMetric(rate(theirs), "docker-in-MB/s")
	b.ReportMetric(rate(oursOut), "devstack-out-MB/s")
	b.ReportMetric(rate(theirsOut), "docker-out-MB/s")
	b.ReportMetric(rate(ours)/rate(theirs), "ratio-in")
	b.ReportMetric(rate(oursOut)/rate(theirsOut), "ratio-out")
}
