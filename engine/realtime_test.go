package engine_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"devstack/engine"
)

// TestRealtimeBudgetRefusalIsExplained: cpu_rt_runtime reaches the
// engine, and where the engine's cgroup has no real-time budget (dockerd
// without --cpu-rt-runtime, as on this test machine) the failed start
// says what to change instead of runc's "invalid argument".
func TestRealtimeBudgetRefusalIsExplained(t *testing.T) {
	b, err := os.ReadFile("/sys/fs/cgroup/cpu/docker/cpu.rt_runtime_us")
	if err != nil || strings.TrimSpace(string(b)) != "0" {
		t.Skipf("the engine's cgroup has a real-time budget here, or none to read (%q, %v)", b, err)
	}
	s := newStack(t, `
services:
  app:
    image: $IMAGE
    command: `+idle+`
    cpu_rt_period: 1000000
    cpu_rt_runtime: 10000
`, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err = s.e.Up(ctx, s.p, engine.UpOptions{})
	if err == nil {
		t.Fatal("up started a real-time container on an engine with no real-time budget")
	}
	for _, want := range []string{`service "app"`, "cpu_rt_runtime 10000µs", "--cpu-rt-runtime"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}
