package main

import (
	"context"
	"flag"
	"fmt"
	"time"

	"devstack/tui/tuibench"
)

var dashboardFor = flag.Duration("dashboard", time.Minute, "how long the dashboard flood runs (20 services × 2,500 lines/s)")

// benchDashboard floods the real dashboard model with 50,000 log lines a
// second and reports whether it keeps up. There is no compose peer.
func benchDashboard(b *bench) ([]result, error) {
	r, err := tuibench.Run(context.Background(), tuibench.Config{Duration: *dashboardFor})
	if err != nil {
		return nil, err
	}
	note := fmt.Sprintf("%d lines, lost %d", r.LinesSent, r.Lost)
	return []result{
		{Scenario: "dashboard key→frame p95", Unit: "ms", Devstack: ms(r.KeyP95), Target: "≤ 100 ms", Pass: r.KeyP95 <= 100*time.Millisecond && r.Lost == 0, Note: note},
		{Scenario: "dashboard frames/s (max)", Unit: "fps", Devstack: float64(r.MaxFPS), Target: "≤ 30", Pass: r.MaxFPS <= 30},
		{Scenario: "dashboard peak RSS", Unit: "MB", Devstack: float64(r.PeakRSS) / (1 << 20), Target: "≤ 150 MB", Pass: r.PeakRSS <= 150<<20},
	}, nil
}
