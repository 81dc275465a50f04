package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"devstack/engine/enginetest"
)

func TestScratchCommand(t *testing.T) {
	enginetest.Busybox(t)
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS("../../testdata/hidden/host-env")); err != nil {
		t.Fatal(err)
	}
	project := randomProject("dssc")
	t.Cleanup(func() { enginetest.RemoveProject(project) })
	state := t.TempDir()
	t.Setenv("XDG_STATE_HOME", state)
	t.Setenv("API_TOKEN", "from-my-shell")
	devstack := func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := run(context.Background(), append([]string{"-f", filepath.Join(dir, "compose.yaml"), "-p", project}, args...), nil, &out, &errOut)
		return code, out.String(), errOut.String()
	}
	if code, _, stderr := devstack("up", "-d"); code != 0 {
		t.Fatalf("up: %d %s", code, stderr)
	}

	marker := filepath.Join(dir, "on-fail")
	code, stdout, stderr := devstack("scratch", "--json", "--on-fail", "echo >"+marker)
	if code != 1 {
		t.Fatalf("exit %d, want 1 (hidden dependency found)\n%s\n%s", code, stdout, stderr)
	}
	var rep struct {
		Status   string  `json:"status"`
		Project  string  `json:"project"`
		Started  string  `json:"started"`
		Duration float64 `json:"duration_s"`
		Phases   []struct {
			Name     string  `json:"name"`
			Duration float64 `json:"duration_s"`
		} `json:"phases"`
		Findings []struct{ Category, Service, Evidence, Hint string } `json:"findings"`
		Report   string                                               `json:"report"`
	}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("stdout is not one JSON object: %v\n%s", err, stdout)
	}
	if rep.Status != "fail" || rep.Project != project || rep.Started == "" || rep.Duration <= 0 || len(rep.Phases) == 0 {
		t.Fatalf("report: %+v", rep)
	}
	if len(rep.Findings) != 1 || rep.Findings[0].Category != "host-env" || rep.Findings[0].Service != "app" ||
		!strings.Contains(rep.Findings[0].Evidence, "API_TOKEN") || rep.Findings[0].Hint == "" {
		t.Fatalf("findings: %+v", rep.Findings)
	}
	if !strings.HasPrefix(rep.Report, filepath.Join(state, "devstack", "scratch")) {
		t.Fatalf("report path %q is not under the state directory", rep.Report)
	}
	if got, _ := os.ReadFile(marker); strings.TrimSpace(string(got)) != rep.Report {
		t.Fatalf("--on-fail got %q, want the report path %q", got, rep.Report)
	}

	code, stdout, stderr = devstack("scratch", "history", "--json")
	if code != 0 {
		t.Fatalf("history: %d %s", code, stderr)
	}
	var hist []struct{ Status, Project string }
	if err := json.Unmarshal([]byte(stdout), &hist); err != nil || len(hist) != 1 || hist[0].Project != project {
		t.Fatalf("history: %v %s", err, stdout)
	}
	code, stdout, _ = devstack("scratch", "history")
	if code != 0 || !strings.Contains(stdout, "host-env (app)") {
		t.Fatalf("history table: %d\n%s", code, stdout)
	}
}

func TestScratchCannotRun(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"scratch", "--every", "1h", "--cron", "0 * * * *"}, nil, &out, &errOut)
	if code != 2 || !strings.Contains(errOut.String(), "not both") {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
}

// A compose file's host checks (x-devstack.scratch `run:`) are commands
// on this machine: `devstack scratch` without a terminal to ask on
// refuses to run them unapproved, names the flag that approves them, and
// nothing runs; with the flag they run, and the approval is remembered
// for that compose file.
func TestScratchRefusesUnapprovedHostChecks(t *testing.T) {
	enginetest.Busybox(t)
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS("../../testdata/hidden/host-check")); err != nil {
		t.Fatal(err)
	}
	project := randomProject("dshc")
	t.Cleanup(func() { enginetest.RemoveProject(project) })
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	devstack := func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := run(context.Background(), append([]string{"-f", filepath.Join(dir, "compose.yaml"), "-p", project}, args...), nil, &out, &errOut)
		return code, out.String(), errOut.String()
	}
	marker := filepath.Join(dir, "ran-on-host")

	code, stdout, stderr := devstack("scratch")
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("a host check ran without being approved")
	}
	if code != 2 || !strings.Contains(stderr, "--allow-host-checks") || !strings.Contains(stderr, "touch ran-on-host") {
		t.Fatalf("exit %d, want 2 and a refusal naming the command and --allow-host-checks\n%s\n%s", code, stdout, stderr)
	}

	if code, stdout, stderr := devstack("scratch", "--allow-host-checks"); code != 0 {
		t.Fatalf("with --allow-host-checks: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Fatalf("the approved host check did not run: %v", err)
	}
	os.Remove(marker)
	// Remembered: no flag needed for the same file.
	if code, stdout, stderr := devstack("scratch"); code != 0 {
		t.Fatalf("after approval: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Fatalf("the remembered approval did not hold: %v", err)
	}
	os.Remove(marker)
	// An edited file asks again (here: is refused again).
	f, err := os.OpenFile(filepath.Join(dir, "compose.yaml"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("# edited\n")
	f.Close()
	if code, _, stderr := devstack("scratch"); code != 2 || !strings.Contains(stderr, "--allow-host-checks") {
		t.Fatalf("an edited file ran unasked: exit %d\n%s", code, stderr)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("the edited file's host check ran unapproved")
	}
}
