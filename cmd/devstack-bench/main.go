// Command devstack-bench measures devstack against Docker Compose on the
// same machine in the same run, and prints medians and ratios.
//
//	go run ./cmd/devstack-bench -devstack bin/devstack [-n 5] [-json] [-only up,down]
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
)

// result is one row of the table.
type result struct {
	Scenario string  `json:"scenario"`
	Unit     string  `json:"unit"`
	Devstack float64 `json:"devstack"`
	Compose  float64 `json:"compose,omitempty"` // 0: not compared
	Target   string  `json:"target"`
	Pass     bool    `json:"pass"`
	Note     string  `json:"note,omitempty"`
}

// scenario measures one thing; new ones register in scenarios below.
type scenario struct {
	name string
	run  func(b *bench) ([]result, error)
}

var scenarios = []scenario{
	{"dag20", benchDag20},
	{"sync", benchSync},
	{"dashboard", benchDashboard},
}

type bench struct {
	devstack string   // path of the devstack binary
	compose  []string // the compose command: ["docker", "compose"] or ["docker-compose"]
	which    string   // which compose, for the table
	n        int
	root     string // repository root
}

func main() {
	var (
		bin    = flag.String("devstack", "bin/devstack", "the devstack binary to measure")
		n      = flag.Int("n", 5, "runs per measurement (medians are reported)")
		asJSON = flag.Bool("json", false, "print JSON instead of a table")
		only   = flag.String("only", "", "comma-separated scenarios to run (default: all)")
	)
	flag.Parse()
	abs, err := filepath.Abs(*bin)
	if err != nil {
		fatal(err)
	}
	root, _ := os.Getwd()
	b := &bench{devstack: abs, n: *n, root: root}
	b.compose, b.which = findCompose()
	var rows []result
	for _, s := range scenarios {
		if *only != "" && !strings.Contains(","+*only+",", ","+s.name+",") {
			continue
		}
		rs, err := s.run(b)
		if err != nil {
			fatal(fmt.Errorf("%s: %w", s.name, err))
		}
		rows = append(rows, rs...)
	}
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(map[string]any{"compose": b.which, "runs": b.n, "results": rows})
		return
	}
	printTable(rows, b)
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "devstack-bench:", err)
	os.Exit(1)
}

// findCompose prefers Compose v2 (the docker CLI plugin), then Debian's v1.
func findCompose() ([]string, string) {
	if out, err := exec.Command("docker", "compose", "version", "--short").Output(); err == nil {
		v := strings.TrimSpace(string(out))
		if v == "dev" { // built from the module proxy: its module version says which
			v = pluginModuleVersion()
		}
		return []string{"docker", "compose"}, "docker compose " + v
	}
	if out, err := exec.Command("docker-compose", "version", "--short").Output(); err == nil {
		return []string{"docker-compose"}, "docker-compose " + strings.TrimSpace(string(out)) + " (v1: Compose v2 could not be built; try make compose-v2)"
	}
	return nil, "none"
}

// pluginModuleVersion reads the compose module version from the plugin
// binary's build information (go version -m).
func pluginModuleVersion() string {
	home, _ := os.UserHomeDir()
	out, err := exec.Command("go", "version", "-m", filepath.Join(home, ".docker", "cli-plugins", "docker-compose")).Output()
	if err != nil {
		return "v2 (dev build)"
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && (f[0] == "mod" || f[0] == "dep") && f[1] == "github.com/docker/compose/v2" {
			return f[2]
		}
	}
	return "v2 (dev build)"
}

func printTable(rows []result, b *bench) {
	fmt.Printf("devstack vs %s — medians of %d runs on %s\n\n", b.which, b.n, hostname())
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "scenario\tdevstack\tcompose\tratio\ttarget\tresult")
	for _, r := range rows {
		comp, ratio := "-", "-"
		if r.Compose > 0 {
			comp = format(r.Compose, r.Unit)
			ratio = fmt.Sprintf("%.2f×", r.Devstack/r.Compose)
		}
		verdict := "PASS"
		if !r.Pass {
			verdict = "FAIL"
		}
		if r.Note != "" {
			verdict += " (" + r.Note + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Scenario, format(r.Devstack, r.Unit), comp, ratio, r.Target, verdict)
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

func hostname() string {
	h, _ := os.Hostname()
	return h
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// timed runs a command and returns its wall time and peak RSS (MB).
func timed(dir string, env []string, name string, args ...string) (float64, float64, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	wall := time.Since(start).Seconds()
	if err != nil {
		return wall, 0, fmt.Errorf("%s %s: %v\n%s", name, strings.Join(args, " "), err, tail(out))
	}
	rss := 0.0
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		rss = float64(ru.Maxrss) / 1024 // kilobytes on Linux
	}
	return wall, rss, nil
}

func tail(out []byte) string {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) > 15 {
		lines = lines[len(lines)-15:]
	}
	return strings.Join(lines, "\n")
}

// benchDag20: 20 services in 4 layers of 5, each layer waiting for the
// previous one to be healthy. Tools alternate run by run, so drift on this
// noisy machine hits both alike.
func benchDag20(b *bench) ([]result, error) {
	dir := filepath.Join(b.root, "testdata", "bench", "dag20")
	var upD, upC, downD, downC, psD, psC, rss []float64
	for i := 0; i < b.n; i++ {
		projD, projC := fmt.Sprintf("benchds%d", i), fmt.Sprintf("benchdc%d", i)
		w, r, err := timed(dir, nil, b.devstack, "-p", projD, "up", "-d", "--wait")
		if err != nil {
			return nil, err
		}
		upD, rss = append(upD, w), append(rss, r)
		for j := 0; j < 3; j++ {
			w, _, err = timed(dir, nil, b.devstack, "-p", projD, "ps")
			if err != nil {
				return nil, err
			}
			psD = append(psD, w*1000)
		}
		w, _, err = timed(dir, nil, b.devstack, "-p", projD, "down")
		if err != nil {
			return nil, err
		}
		downD = append(downD, w)
		if b.compose == nil {
			continue
		}
		args := func(a ...string) []string {
			return append(append(append([]string{}, b.compose[1:]...), "-p", projC), a...)
		}
		w, _, err = timed(dir, nil, b.compose[0], args("up", "-d", "--wait")...)
		if err != nil {
			_, _, _ = timed(dir, nil, b.compose[0], args("down")...)
			return nil, err
		}
		upC = append(upC, w)
		for j := 0; j < 3; j++ {
			w, _, _ = timed(dir, nil, b.compose[0], args("ps")...)
			psC = append(psC, w*1000)
		}
		w, _, err = timed(dir, nil, b.compose[0], args("down")...)
		if err != nil {
			return nil, err
		}
		downC = append(downC, w)
	}
	rows := []result{
		{Scenario: "dag20 up -d --wait", Unit: "s", Devstack: median(upD), Compose: median(upC), Target: "≤ 0.70× compose"},
		{Scenario: "dag20 down", Unit: "s", Devstack: median(downD), Compose: median(downC), Target: "≤ 0.70× compose"},
		{Scenario: "dag20 ps", Unit: "ms", Devstack: median(psD), Compose: median(psC), Target: "≤ 100 ms"},
		{Scenario: "dag20 up -d peak RSS", Unit: "MB", Devstack: median(rss), Target: "≤ 60 MB"},
	}
	for i := range rows[:2] {
		rows[i].Pass = rows[i].Compose > 0 && rows[i].Devstack <= 0.7*rows[i].Compose
		if rows[i].Compose == 0 {
			rows[i].Note = "no compose to compare with"
		}
	}
	rows[2].Pass = rows[2].Devstack <= 100
	rows[3].Pass = rows[3].Devstack <= 60
	return rows, nil
}
