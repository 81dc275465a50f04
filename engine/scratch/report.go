package scratch

import (
	"fmt"
	"strings"
	"time"

	"devstack/engine/event"
	"devstack/engine/model"
)

// Statuses of a report.
const (
	StatusPass  = "pass"  // the stack came up from scratch and every check passed
	StatusFail  = "fail"  // it did not; Findings say why
	StatusError = "error" // the rebuild could not run (engine unreachable, broken compose file)
)

// Categories of a finding: the dev-environment ingredient whose return
// made the stack pass.
const (
	BuildCache  = "build-cache"
	VolumeState = "volume-state"
	BindMount   = "bind-mount"
	HostEnv     = "host-env"
	StartOrder  = "start-order"
	ImageDrift  = "image-drift"
	// MachineLocal is not an ingredient put back: an external network,
	// volume, secret or config that exists on this engine only.
	MachineLocal = "machine-local"
	Unknown      = "unknown"
)

// Report is the result of one scratch rebuild, as printed by --json and
// kept in the history.
type Report struct {
	ID       string          `json:"id"`
	Status   string          `json:"status"` // pass | fail | error
	Project  string          `json:"project"`
	Started  time.Time       `json:"started"`
	Duration float64         `json:"duration_s"`
	Phases   []Phase         `json:"phases"`
	Runs     []RunResult     `json:"runs"`
	Findings []event.Finding `json:"findings"`
	Error    string          `json:"error,omitempty"`
	// Kept names the scratch projects left in place (--keep).
	Kept []string `json:"kept,omitempty"`
	// Path is where the report's JSON was written, if it was.
	Path string `json:"report,omitempty"`
	// Trigger says what started it: "now", "schedule", "dashboard".
	Trigger string `json:"trigger,omitempty"`
	// Notes say what the rebuild left out (host checks not approved).
	Notes []string `json:"notes,omitempty"`
	// Drift lists the pulled images whose tag the registry now resolves
	// to another image than the dev environment's.
	Drift []model.TagDigests `json:"image_drift,omitempty"`
}

// Phase is one timed step of a rebuild.
type Phase struct {
	Name     string  `json:"name"`          // load | build | start | check | cleanup | evidence
	Run      int     `json:"run,omitempty"` // which stack run (1 = the scratch one)
	Duration float64 `json:"duration_s"`
	Detail   string  `json:"detail,omitempty"`
}

// RunResult is one stack run: the scratch stack itself (run 1) or a re-run
// with dev-environment ingredients put back.
type RunResult struct {
	N        int      `json:"n"`
	Project  string   `json:"project"`
	Restored []string `json:"restored"` // categories put back; empty for the scratch run
	Status   string   `json:"status"`   // pass | fail
	Failure  *Failure `json:"failure,omitempty"`
	Duration float64  `json:"duration_s"`
}

// Failure is why a stack run failed.
type Failure struct {
	Phase   string   `json:"phase"` // load | build | start | ready | check | timeout
	Service string   `json:"service,omitempty"`
	Check   string   `json:"check,omitempty"`
	Message string   `json:"message"`
	Step    string   `json:"step,omitempty"` // the failing build step
	Tail    []string `json:"tail,omitempty"` // last lines of build output or logs
}

// key identifies where a run failed, to tell whether putting an
// ingredient back moved the failure elsewhere.
func (f *Failure) key() string {
	if f == nil {
		return ""
	}
	return f.Phase + "/" + f.Service + "/" + f.Check
}

// Summary is a one-line description of the failure.
func (f *Failure) Summary() string {
	if f == nil {
		return ""
	}
	var b strings.Builder
	switch {
	case f.Check != "":
		fmt.Fprintf(&b, "check %q", f.Check)
		if f.Service != "" {
			fmt.Fprintf(&b, " in %s", f.Service)
		}
		b.WriteString(" failed")
	case f.Service != "":
		fmt.Fprintf(&b, "%s: %s failed", f.Service, f.Phase)
	default:
		fmt.Fprintf(&b, "%s failed", f.Phase)
	}
	if f.Step != "" {
		fmt.Fprintf(&b, " at %s", f.Step)
	}
	if m := firstLine(f.Message); m != "" {
		b.WriteString(": " + m)
	}
	return b.String()
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return strings.TrimSpace(s[:i])
	}
	return s
}

// ExitCode is the CLI's exit status for the report: 0 pass, 1 failed
// (hidden dependencies found), 2 could not run.
func (r *Report) ExitCode() int {
	switch r.Status {
	case StatusPass:
		return 0
	case StatusFail:
		return 1
	}
	return 2
}

// Text renders the report for people.
func (r *Report) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "scratch rebuild of %s: %s in %.1fs", r.Project, strings.ToUpper(r.Status), r.Duration)
	if n := len(r.Runs); n > 1 {
		fmt.Fprintf(&b, " (%d stack runs)", n)
	}
	b.WriteString("\n")
	if r.Error != "" {
		fmt.Fprintf(&b, "  error: %s\n", r.Error)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "  note: %s\n", n)
	}
	for _, d := range r.Drift {
		fmt.Fprintf(&b, "  image drift: %s is %s in the registry now; the dev environment runs %s\n", d.Ref, d.Registry, d.DevDigest())
	}
	for _, run := range r.Runs {
		what := "from scratch"
		if len(run.Restored) > 0 {
			what = "with " + strings.Join(run.Restored, ", ") + " put back"
		}
		fmt.Fprintf(&b, "  run %d %s: %s (%.1fs)", run.N, what, run.Status, run.Duration)
		if run.Failure != nil {
			fmt.Fprintf(&b, ": %s", run.Failure.Summary())
		}
		b.WriteString("\n")
	}
	for _, f := range r.Findings {
		svc := f.Service
		if svc == "" {
			svc = "-"
		}
		fmt.Fprintf(&b, "\n  %s (service %s)\n", f.Category, svc)
		for _, l := range strings.Split(f.Evidence, "\n") {
			fmt.Fprintf(&b, "    %s\n", l)
		}
		fmt.Fprintf(&b, "    fix: %s\n", f.Hint)
	}
	for _, k := range r.Kept {
		fmt.Fprintf(&b, "\n  kept: %s — remove it with `devstack -p %s down -v` (its images: `docker image rm $(docker image ls -q devstack-scratch/%s-*)`)\n",
			k, k, r.Project)
	}
	if r.Path != "" {
		fmt.Fprintf(&b, "  report: %s\n", r.Path)
	}
	return b.String()
}
