package main

import (
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkCpTree copies a 100 MB tree (400 files of 256 KiB in 20
// directories) into a service's container and back out, with devstack
// (the built binary, so both tools pay a process start) and with
// `docker cp` on the same container, alternating which goes first, n
// times (DEVSTACK_CP_RUNS, default 5) for each b.N. It prints both
// tools' medians side by side with the machine's load average, and
// reports them as metrics. Target: devstack ≥ 0.9× docker cp's
// throughput both ways. `make bench-cp` runs it.
func BenchmarkCpTree(b *testing.B) {
	runs := 5
	if v, err := strconv.Atoi(os.Getenv("DEVSTACK_CP_RUNS")); err == nil && v > 0 {
		runs = v
	}
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
	loadBefore := loadAverage()
	b.ResetTimer()
	for i := range b.N * runs {
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
	b.Logf("cp of a %.0f MB tree (%d files), medians of n=%d, load average %s -> %s", mb, files, len(ours), loadBefore, loadAverage())
	b.Logf("%-4s %22s %22s %7s", "", "devstack", "docker cp", "ratio")
	for _, row := range []struct {
		dir      string
		us, peer []time.Duration
	}{{"in", ours, theirs}, {"out", oursOut, theirsOut}} {
		b.Logf("%-4s %9.0f ms %6.1f MB/s %9.0f ms %6.1f MB/s %6.2f×", row.dir,
			median(row.us), rate(row.us), median(row.peer), rate(row.peer), rate(row.us)/rate(row.peer))
	}
	b.ReportMetric(rate(ours), "devstack-in-MB/s")
	b.ReportMetric(rate(theirs), "docker-in-MB/s")
	b.ReportMetric(rate(oursOut), "devstack-out-MB/s")
	b.ReportMetric(rate(theirsOut), "docker-out-MB/s")
	b.ReportMetric(rate(ours)/rate(theirs), "ratio-in")
	b.ReportMetric(rate(oursOut)/rate(theirsOut), "ratio-out")
}

// loadAverage is the machine's 1, 5 and 15 minute load averages, for
// figures read on a shared machine.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
