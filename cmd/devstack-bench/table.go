package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// result is one row of the table.
type result struct {
	Scenario string  `json:"scenario"`
	Unit     string  `json:"unit"` // s, ms, MB, fps...
	Devstack float64 `json:"devstack"`
	Compose  float64 `json:"compose,omitempty"` // 0: not compared
	// Floor is the engine's own floor for the same work, measured through
	// its API by the bench in the same run (0: none measured).
	Floor        float64   `json:"floor,omitempty"`
	FloorRuns    []float64 `json:"floor_runs,omitempty"`
	Target       string    `json:"target"`
	Pass         bool      `json:"pass"`
	Note         string    `json:"note,omitempty"`
	DevstackRuns []float64 `json:"devstack_runs,omitempty"` // the samples behind the median
	ComposeRuns  []float64 `json:"compose_runs,omitempty"`
}

// report is the -json output.
type report struct {
	Compose string   `json:"compose"` // which compose was compared with
	Runs    int      `json:"runs"`
	Host    string   `json:"host"`
	Results []result `json:"results"`
}

func printTable(w io.Writer, rows []result, which string, n int, host string) {
	fmt.Fprintf(w, "devstack vs %s: medians of %d runs (%s)\n\n", which, n, host)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "scenario\tdevstack\tcompose\tratio\tfloor\tvs floor\ttarget\tresult")
	for _, r := range rows {
		comp, ratio := "-", "-"
		if r.Compose > 0 {
			comp = format(r.Compose, r.Unit)
			ratio = fmt.Sprintf("%.2f×", r.Devstack/r.Compose)
		}
		floor, vsFloor := "-", "-"
		if r.Floor > 0 {
			floor = format(r.Floor, r.Unit)
			vsFloor = fmt.Sprintf("%.2f×", r.Devstack/r.Floor)
		}
		verdict := "PASS"
		if !r.Pass {
			verdict = "FAIL"
		}
		if r.Note != "" {
			verdict += " (" + r.Note + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Scenario, format(r.Devstack, r.Unit), comp, ratio, floor, vsFloor, r.Target, verdict)
	}
	tw.Flush()
}

func format(v float64, unit string) string {
	switch unit {
	case "s":
		return fmt.Sprintf("%.2f s", v)
	case "ms":
		return fmt.Sprintf("%.0f ms", v)
	case "MB":
		return fmt.Sprintf("%.1f MB", v)
	}
	return fmt.Sprintf("%.2f %s", v, unit)
}

// loadAverage is the machine's one-minute load average, "" where unknown.
func loadAverage() string {
	if load, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(load)); len(f) > 0 {
			return f[0]
		}
	}
	return ""
}

// settleLoad waits, up to three minutes, for the machine's load average to
// fall under its core count: a run retried at once after the load made the
// engine's healthchecks time out would meet the same load.
func settleLoad() {
	for deadline := time.Now().Add(3 * time.Minute); time.Now().Before(deadline); {
		load, err := strconv.ParseFloat(loadAverage(), 64)
		if err != nil || load < float64(runtime.NumCPU()) {
			return
		}
		time.Sleep(2 * time.Second) // polling the load average with a deadline
	}
}

// hostInfo says how noisy the machine was when the run began: a busy shared
// machine slows both tools, but not always alike.
func hostInfo() string {
	h, _ := os.Hostname()
	parts := []string{h, fmt.Sprintf("%d cores", runtime.NumCPU())}
	if load := loadAverage(); load != "" {
		parts = append(parts, "load "+load)
	}
	if out, err := exec.Command("docker", "ps", "-q").Output(); err == nil {
		parts = append(parts, fmt.Sprintf("%d containers already running", len(strings.Fields(string(out)))))
	}
	return strings.Join(parts, ", ")
}
