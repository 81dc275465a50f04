//go:build unix

package scratch

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"devstack/engine/event"
)

func TestHistoryKeepsReportsInOrder(t *testing.T) {
	h := OpenHistory(filepath.Join(t.TempDir(), "state", "scratch.db"))
	if got, err := h.List(""); err != nil || len(got) != 0 {
		t.Fatalf("empty history: %v %v", got, err)
	}
	for i, p := range []string{"shop", "blog", "shop"} {
		r := &Report{ID: strconv.Itoa(i), Project: p, Status: StatusFail, Started: time.Unix(int64(i), 0).UTC(),
			Findings: []event.Finding{{Category: HostEnv, Service: "api", Evidence: "TOKEN", Hint: "put it in .env"}}}
		if err := h.Add(r); err != nil {
			t.Fatal(err)
		}
	}
	all, err := h.List("")
	if err != nil || len(all) != 3 || all[0].ID != "0" || all[2].ID != "2" {
		t.Fatalf("all: %+v %v", all, err)
	}
	shop, _ := h.List("shop")
	if len(shop) != 2 || shop[1].Findings[0].Hint != "put it in .env" {
		t.Fatalf("shop: %+v", shop)
	}
}

func TestWriteReport(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "reports")
	r := &Report{ID: "abc", Project: "shop", Status: StatusPass, Started: time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)}
	path, err := WriteReport(dir, r)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(path) != "shop-20260310T120000Z-abc.json" || r.Path != path {
		t.Fatalf("path %s (report says %s)", path, r.Path)
	}
	data, _ := os.ReadFile(path)
	if !strings.Contains(string(data), `"report": "`+path+`"`) {
		t.Fatalf("report file lacks its path:\n%s", data)
	}
	left, _ := filepath.Glob(filepath.Join(dir, ".report-*"))
	if len(left) != 0 {
		t.Fatalf("temporary files left: %v", left)
	}
}

// The child half of TestHistorySurvivesAKillMidWrite: it adds reports
// forever, printing each one's number once Add has returned.
func TestMain(m *testing.M) {
	if path := os.Getenv("DEVSTACK_HISTORY_WRITER"); path != "" {
		h := OpenHistory(path)
		round := os.Getenv("DEVSTACK_HISTORY_ROUND")
		padding := strings.Repeat("x", 64<<10) // big records: the kill lands mid-write more often
		for i := 1; ; i++ {
			r := &Report{ID: round + "-" + strconv.Itoa(i), Project: "kill", Status: StatusFail, Error: padding}
			if err := h.Add(r); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(3)
			}
			fmt.Println(i)
		}
	}
	if path := os.Getenv("DEVSTACK_HISTORY_DAMAGED"); path != "" {
		damagedHistoryChild(path, os.Getenv("DEVSTACK_HISTORY_OP"))
	}
	if dir := os.Getenv("DEVSTACK_SCRATCH_CHILD"); dir != "" {
		runChild(dir, os.Getenv("DEVSTACK_SCRATCH_PROJECT"), os.Getenv("DEVSTACK_SCRATCH_STATE"))
	}
	os.Exit(m.Run())
}

// startChild starts this test binary again as one of TestMain's children
// (env selects which), its stdout read line by line.
func startChild(t *testing.T, env ...string) (*exec.Cmd, *bufio.Scanner) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, bufio.NewScanner(out)
}

func TestHistorySurvivesAKillMidWrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "scratch.db")
	for round := 0; round < 3; round++ {
		cmd, sc := startChild(t, "DEVSTACK_HISTORY_WRITER="+path, fmt.Sprintf("DEVSTACK_HISTORY_ROUND=%d", round))
		// Let it commit a number of reports, then kill it without warning
		// while it is writing the next.
		acked, target := 0, 15+round*7
		for acked < target && sc.Scan() {
			acked, _ = strconv.Atoi(sc.Text())
		}
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		for sc.Scan() { // acknowledgements that raced the kill
			acked, _ = strconv.Atoi(sc.Text())
		}
		_ = cmd.Wait()
		if acked < target {
			t.Fatalf("the writer acknowledged only %d reports", acked)
		}

		got, err := OpenHistory(path).List("kill")
		if err != nil {
			t.Fatalf("round %d: the history is unreadable after a kill: %v", round, err)
		}
		// Every acknowledged report of this round is there, whole, in
		// order; at most one more (committed, not yet acknowledged).
		n := 0
		for _, r := range got {
			if len(r.Error) != 64<<10 {
				t.Fatalf("round %d: report %s is torn (%d bytes of padding)", round, r.ID, len(r.Error))
			}
			if !strings.HasPrefix(r.ID, fmt.Sprintf("%d-", round)) {
				continue
			}
			n++
			if want := fmt.Sprintf("%d-%d", round, n); r.ID != want {
				t.Fatalf("round %d: report %s where %s belongs", round, r.ID, want)
			}
		}
		if n < acked || n > acked+1 {
			t.Fatalf("round %d: %d reports stored, %d acknowledged", round, n, acked)
		}
	}
}
