package tuibench

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"testing"
	"time"
)

// duration is the flood's length: DEVSTACK_TUI_BENCH_DURATION (e.g. 60s
// for `make bench`), else def.
func duration(t testing.TB, def time.Duration) time.Duration {
	if v := os.Getenv("DEVSTACK_TUI_BENCH_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("DEVSTACK_TUI_BENCH_DURATION=%q: %v", v, err)
		}
		return d
	}
	return def
}

// check fails on any figure outside what the dashboard promises.
func check(t testing.TB, r Result) {
	t.Helper()
	if r.Lost != 0 {
		t.Errorf("%d lines lost (only the ring bound may drop lines)", r.Lost)
	}
	if r.Counts.Held > uint64(r.Services*r.LogLimit) {
		t.Errorf("%d lines held, more than %d services × %d", r.Counts.Held, r.Services, r.LogLimit)
	}
	if r.MaxFPS > 31 { // a frame straddling a second boundary may count twice
		t.Errorf("%d frames in one second, want at most 30", r.MaxFPS)
	}
	if r.Keys == 0 || r.KeysAnswered != r.Keys {
		t.Errorf("%d of %d key presses reached the screen", r.KeysAnswered, r.Keys)
	}
	if limit := keyLimit(t); r.KeyP95 > limit {
		t.Errorf("key to frame p95 %s, want ≤ %s", r.KeyP95, limit)
	}
	if r.PeakRSS > 150<<20 && !raceEnabled {
		t.Errorf("peak RSS %.1f MiB, want ≤ 150 MiB", float64(r.PeakRSS)/(1<<20))
	}
	if r.SendRate < 0.9*float64(r.Services*r.LinesPerSecond) {
		t.Errorf("only %.0f lines/s published: the dashboard held the engine back", r.SendRate)
	}
}

// TestDashboardKeepsUp is the short flood CI runs (5 s by default).
func TestDashboardKeepsUp(t *testing.T) {
	if testing.Short() {
		t.Skip("floods the dashboard for several seconds")
	}
	r, err := Run(context.Background(), Config{Duration: duration(t, 5*time.Second)})
	t.Logf("\n%s", r)
	if err != nil {
		t.Fatal(err)
	}
	check(t, r)
}

// BenchmarkDashboard is the full flood: `DEVSTACK_TUI_BENCH_DURATION=60s
// go test ./tui/tuibench -run '^$' -bench Dashboard -benchtime 1x`.
func BenchmarkDashboard(b *testing.B) {
	d := duration(b, time.Minute)
	for range b.N {
		r, err := Run(context.Background(), Config{Duration: d})
		b.Logf("\n%s", r)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(r.KeyP95.Microseconds())/1000, "key-p95-ms")
		b.ReportMetric(float64(r.MaxFPS), "max-fps")
		b.ReportMetric(float64(r.PeakRSS)/(1<<20), "peak-rss-MiB")
		b.ReportMetric(float64(r.Lost), "lost-lines")
		b.ReportMetric(r.SendRate, "lines/s")
		check(b, r)
	}
}

// keyLimit is the key-to-frame target, 100 ms. On a machine whose run
// queue is far longer than its cores (other suites building and running
// containers at once) the dashboard's goroutines wait for a core as long
// as it takes, whatever the dashboard does: there the test keeps a 1 s
// bound, which still catches a dashboard that blocks on its input, and
// says so. The benchmark always holds 100 ms.
func keyLimit(t testing.TB) time.Duration {
	if _, isBench := t.(*testing.B); isBench {
		return 100 * time.Millisecond
	}
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 100 * time.Millisecond
	}
	var load float64
	if _, err := fmt.Sscan(string(data), &load); err != nil || load <= 2*float64(runtime.NumCPU()) {
		return 100 * time.Millisecond
	}
	t.Logf("load average %.1f on %d cores: key to frame held to 1s, not 100ms", load, runtime.NumCPU())
	return time.Second
}
