package main

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want float64
	}{
		{nil, 0},
		{[]float64{3}, 3},
		{[]float64{5, 1, 3}, 3},
		{[]float64{4, 1, 3, 2}, 2.5},
	} {
		if got := median(c.in); got != c.want {
			t.Errorf("median(%v) = %v, want %v", c.in, got, c.want)
		}
	}
	xs := []float64{3, 1, 2}
	median(xs)
	if !reflect.DeepEqual(xs, []float64{3, 1, 2}) {
		t.Errorf("median reordered its input: %v", xs)
	}
}

func TestSelectScenarios(t *testing.T) {
	all, err := selectScenarios("")
	if err != nil || len(all) != len(scenarios) {
		t.Fatalf("empty selection: %d scenarios, %v; want all %d", len(all), err, len(scenarios))
	}
	one, err := selectScenarios(" dag20 ")
	if err != nil || len(one) != 1 || one[0].name != "dag20" {
		t.Fatalf("selecting dag20: %v, %v", one, err)
	}
	if _, err := selectScenarios("dag20,nope"); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Fatalf("an unknown scenario must be refused by name, got %v", err)
	}
}

func TestToolArgs(t *testing.T) {
	compose := tool{argv: []string{"docker", "compose"}}
	name, args := compose.args("/x/compose.yaml", "p1", "up", "-d")
	if got := name + " " + strings.Join(args, " "); got != "docker compose -f /x/compose.yaml -p p1 up -d" {
		t.Errorf("compose command line: %q", got)
	}
	ds := tool{argv: []string{"/bin/devstack"}}
	name, args = ds.args("c.yaml", "p2", "ps")
	if got := name + " " + strings.Join(args, " "); got != "/bin/devstack -f c.yaml -p p2 ps" {
		t.Errorf("devstack command line: %q", got)
	}
}

func TestTimedReportsFailureWithOutput(t *testing.T) {
	_, _, err := timed(t.TempDir(), nil, "sh", "-c", "echo the-reason; exit 3")
	if err == nil || !strings.Contains(err.Error(), "the-reason") || !strings.Contains(err.Error(), "exit status 3") {
		t.Fatalf("a failing command must report its status and output, got %v", err)
	}
	wall, rss, err := timed(t.TempDir(), []string{"X=1"}, "sh", "-c", `test "$X" = 1`)
	if err != nil {
		t.Fatalf("the extra environment must reach the command: %v", err)
	}
	if wall <= 0 || rss <= 0 {
		t.Errorf("wall %v s, peak RSS %v MB: both must be measured", wall, rss)
	}
}

func TestCleanupRunsLatestFirstAndOnce(t *testing.T) {
	b := &bench{}
	var order []int
	for i := 1; i <= 3; i++ {
		b.atCleanup(func() { order = append(order, i) })
	}
	b.cleanup()
	b.cleanup()
	if !reflect.DeepEqual(order, []int{3, 2, 1}) {
		t.Errorf("cleanups ran in order %v, want [3 2 1] once", order)
	}
}

func TestComposeVersionDetectsV1(t *testing.T) {
	dir := t.TempDir()
	stub := filepath.Join(dir, "compose-stub")
	if err := os.WriteFile(stub, []byte("#!/bin/sh\necho 1.29.2\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	argv, which, v1 := composeVersion([]string{stub})
	if argv == nil || !v1 || !strings.Contains(which, "1.29.2 (v1)") {
		t.Errorf("stub v1: argv %v, which %q, v1 %v", argv, which, v1)
	}
	if argv, _, _ := composeVersion([]string{filepath.Join(dir, "missing")}); argv != nil {
		t.Errorf("a compose that does not run must not be chosen")
	}
	if argv, _, _ := findCompose("none"); argv != nil {
		t.Errorf("-compose none compares with nothing, got %v", argv)
	}
}

func TestPrintTable(t *testing.T) {
	rows := []result{
		{Scenario: "up", Unit: "s", Devstack: 5, Compose: 10, Floor: 4, Target: "≤ 0.70× compose", Pass: true},
		{Scenario: "rss", Unit: "MB", Devstack: 70, Target: "≤ 60 MB", Pass: false, Note: "too big"},
	}
	var out bytes.Buffer
	printTable(&out, rows, "docker compose 2.40.3", 5, "host")
	text := out.String()
	for _, want := range []string{"docker compose 2.40.3", "medians of 5 runs", "5.00 s", "10.00 s", "0.50×", "4.00 s", "1.25×", "PASS", "70.0 MB", "FAIL (too big)"} {
		if !strings.Contains(text, want) {
			t.Errorf("table lacks %q:\n%s", want, text)
		}
	}
}
