// Command devstack-bench measures devstack against Docker Compose on the
// same machine in the same run, and prints medians and ratios side by side.
//
//	go run ./cmd/devstack-bench -devstack bin/devstack [-n 5] [-only dag20,sync] [-json]
//
// Scenarios are plain functions listed in scenarios.go. Every project a
// scenario brings up is taken down (down -v) when it ends, fails, or the run
// is interrupted.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

func main() {
	var (
		bin     = flag.String("devstack", "bin/devstack", "the devstack binary to measure")
		compose = flag.String("compose", "auto", `the compose to compare with: "auto" (v2 plugin, else v1), a command such as "docker compose" or "docker-compose", or "none"`)
		n       = flag.Int("n", 5, "runs per measurement (medians are reported)")
		asJSON  = flag.Bool("json", false, "print JSON instead of a table")
		snapMiB = flag.Int("snapshot-mib", 1024, "size of the snapshot scenario's volume data, in MiB")
		only    = flag.String("only", "", "comma-separated scenarios to run (default: all): "+strings.Join(scenarioNames(), ","))
	)
	flag.Parse()
	if *n < 1 {
		fatal(fmt.Errorf("-n must be at least 1"))
	}
	selected, err := selectScenarios(*only)
	if err != nil {
		fatal(err)
	}
	abs, err := filepath.Abs(*bin)
	if err != nil {
		fatal(err)
	}
	if _, err := os.Stat(abs); err != nil {
		fatal(fmt.Errorf("no devstack binary at %s (make build, or -devstack PATH)", abs))
	}
	root, err := os.Getwd()
	if err != nil {
		fatal(err)
	}
	b := &bench{devstack: abs, n: *n, root: root, snapshotMiB: *snapMiB}
	b.compose, b.which, b.v1 = findCompose(*compose)
	host := hostInfo() // before the scenarios: how busy the machine was
	stop := b.cleanupOnSignal()
	defer stop()

	var rows []result
	for _, s := range selected {
		fmt.Fprintf(os.Stderr, "devstack-bench: %s...\n", s.name)
		rs, err := s.run(b)
		b.cleanup()
		if err != nil {
			fatal(fmt.Errorf("%s: %w", s.name, err))
		}
		rows = append(rows, rs...)
	}
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(report{Compose: b.which, Runs: b.n, Host: host, Results: rows})
		return
	}
	printTable(os.Stdout, rows, b.which, b.n, host)
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "devstack-bench:", err)
	os.Exit(1)
}
