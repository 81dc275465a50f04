// Package scratch rebuilds a project's stack from scratch — no build
// cache, empty volumes, no bind mounts of host paths, no variables from
// the shell, services started one at a time in an adversarial order — in
// a project of its own beside the developer's, and checks that it still
// comes up. When it does not, it puts the dev environment's ingredients
// back one at a time and re-runs: the ingredient whose return makes the
// stack pass is the hidden dependency it reports, with evidence and a fix.
//
// Run does one rebuild; Scheduler runs them on a schedule; History keeps
// the reports.
//
// Design: scratch rebuilds: a transformed copy of the project (own name,
// networks, volumes, ports, no-cache images, no bind mounts, no shell env,
// adversarial start order from the dev containers' real start times) brought
// up through `engine`, checked, and on failure the dev ingredients put back
// one at a time; bbolt history, schedule on an injected clock; pulled tags
// pinned to the registry's digest now (`image-drift`), external resources
// named `machine-local`.
package scratch

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"devstack/engine"
	"devstack/engine/event"
	"devstack/engine/load"
	"devstack/engine/model"
)

// DefaultTimeout bounds one stack run when neither the options nor
// x-devstack.scratch.timeout say otherwise.
const DefaultTimeout = 10 * time.Minute

// maxRuns is the most stack runs one rebuild makes: the scratch run plus
// one per ingredient.
const maxRuns = 6

// Options configure one scratch rebuild.
type Options struct {
	Runtime engine.Runtime
	// Load says how the project is loaded; its Env (or the process
	// environment) is "the shell" whose variables the scratch stack goes
	// without. The scratch stack is loaded with NoShellEnv.
	Load load.Options
	// Project is the dev project as loaded with the shell, when the caller
	// has it already; nil loads it with Load.
	Project *model.Project
	// Config overrides the project's x-devstack.scratch.
	Config *model.ScratchConfig
	// Timeout bounds each stack run; 0: Config's, else DefaultTimeout.
	Timeout time.Duration
	// Keep leaves the scratch stack (run 1) in place for inspection.
	Keep bool
	// Sink receives the rebuild's event.Scratch phases and result.
	Sink event.Sink
	// Events receives the scratch stacks' own engine events (build
	// output, progress); nil drops them. They are kept apart from Sink so
	// that a dashboard does not mistake scratch containers for its own.
	Events event.Sink
	// History keeps the report; nil keeps it nowhere.
	History *History
	// ReportDir is where the report's JSON file is written; "" writes none.
	ReportDir string
	// HostChecks says whether checks with `run:` (commands the compose
	// file runs on this machine) may run; the zero value skips those not
	// approved.
	HostChecks HostChecks
	// Trigger is recorded in the report ("now", "schedule", "dashboard").
	Trigger string
	// ID names the rebuild; "" picks a random one.
	ID  string
	Now func() time.Time
}

// rebuild is one Run in progress.
type rebuild struct {
	o       Options
	rt      engine.Runtime
	id      string
	now     func() time.Time
	sink    event.Sink
	timeout time.Duration
	cfg     model.ScratchConfig
	report  *Report

	dev        *model.Project              // loaded with the shell: what `devstack up` used
	base       *model.Project              // loaded without it: the scratch stack's source (nil when that fails)
	baseErr    error                       // why it failed
	shellVars  []string                    // variables only the shell provides
	devVolumes map[string]string           // volume key -> the dev environment's volume, where one exists
	devStarted map[string]time.Time        // service -> when its dev container started (see StackOptions.DevStarted)
	digests    map[string]model.TagDigests // service -> its pulled image's tag, here and in the registry

	reuse  map[string]string // build key -> image an earlier run built without the cache
	shared []string          // those images, removed at the end

	journal *journal // what this rebuild creates, for the next one should devstack die; nil: none kept

	// stackRunner is runStack; tests of the bisection replace it.
	stackRunner func(ctx context.Context, n int, in ingredients) *stackRun
}

// Run rebuilds the project from scratch once. The report is returned
// whatever happens (status error when the rebuild could not run; the
// error says why) and, when Options say so, stored and written to a file.
func Run(ctx context.Context, o Options) (*Report, error) {
	r := &rebuild{o: o, rt: o.Runtime, id: o.ID, now: o.Now, sink: o.Sink, reuse: map[string]string{}}
	r.stackRunner = r.runStack
	if r.now == nil {
		r.now = time.Now
	}
	if r.sink == nil {
		r.sink = event.Discard
	}
	if r.id == "" {
		r.id = newID()
	}
	r.report = &Report{ID: r.id, Started: r.now(), Trigger: o.Trigger, Findings: []event.Finding{}, Phases: []Phase{}, Runs: []RunResult{}}
	err := r.run(ctx)
	r.removeShared(ctx)
	r.removePulled(ctx)
	r.journal.done()
	if err != nil {
		r.report.Status = StatusError
		r.report.Error = err.Error()
	}
	r.report.Duration = r.now().Sub(r.report.Started).Seconds()
	r.store()
	r.sink.Publish(event.Scratch{Time: r.now(), Project: r.projectLabel(), Phase: "done", Status: r.report.Status,
		Detail: r.doneDetail(), Findings: r.report.Findings, Report: r.report.Path})
	return r.report, err
}

func (r *rebuild) run(ctx context.Context) error {
	if r.rt == nil {
		return errors.New("scratch rebuild: no engine runtime")
	}
	if err := r.prepare(ctx); err != nil {
		return err
	}
	first := r.stackRunner(ctx, 1, ingredients{})
	if first.broken != nil {
		return fmt.Errorf("the engine failed during the scratch run: %w", first.broken)
	}
	if ctx.Err() != nil {
		return fmt.Errorf("scratch rebuild interrupted: %w", ctx.Err())
	}
	local := r.machineLocal(ctx)
	if first.failure == nil {
		r.report.Status = StatusPass
		if len(local) > 0 {
			r.report.Status = StatusFail
			r.report.Findings = local
		}
		return nil
	}
	r.report.Status = StatusFail
	findings, err := r.bisect(ctx, first)
	r.report.Findings = append(findings, local...)
	return err
}

// prepare loads the project both ways and looks at the dev environment.
func (r *rebuild) prepare(ctx context.Context) error {
	var err error
	r.timed("load", 0, "", func() {
		r.dev = r.o.Project
		if r.dev == nil {
			r.dev, err = load.Load(ctx, r.o.Load)
			if err != nil {
				return
			}
		}
		isolated := r.o.Load
		isolated.NoShellEnv = true
		r.base, r.baseErr = load.Load(ctx, isolated)
		r.shellVars, _ = load.ShellVariables(ctx, r.o.Load)
	})
	if err != nil {
		return err
	}
	r.report.Project = r.dev.Name
	r.sink.Publish(event.Scratch{Time: r.now(), Project: r.dev.Name, Phase: "started", Detail: r.o.Trigger})
	r.cfg = r.dev.Ext.Scratch
	if r.base != nil {
		// The checks are the scratch project's own (interpolated without
		// the shell), unless the dev load is all there is.
		r.cfg = r.base.Ext.Scratch
	}
	if r.o.Config != nil {
		r.cfg = *r.o.Config
	}
	// Before anything is created: a refusal leaves nothing to clean up.
	run, note, err := r.o.HostChecks.decide(r.dev, r.cfg.Checks)
	if err != nil {
		return err
	}
	if !run {
		r.cfg.Checks = slices.DeleteFunc(slices.Clone(r.cfg.Checks), func(c model.ScratchCheck) bool { return c.Run != "" })
		r.report.Notes = append(r.report.Notes, note)
		r.warn("scratch rebuild of " + r.dev.Name + ": " + note)
	}
	r.startJournal(ctx)
	r.timeout = r.o.Timeout
	if r.timeout <= 0 {
		r.timeout = r.cfg.Timeout
	}
	if r.timeout <= 0 {
		r.timeout = DefaultTimeout
	}
	obs, err := r.rt.Observe(ctx, r.dev)
	if err != nil {
		return fmt.Errorf("unable to look at the dev environment of %s: %w", r.dev.Name, err)
	}
	r.devVolumes = obs.Volumes
	r.devStarted = startTimes(obs.Containers)
	r.resolveTags(ctx)
	return nil
}

// startJournal first takes down what interrupted rebuilds of the same
// project left, then starts this rebuild's journal (see journal). Without
// a ReportDir there is nowhere to keep one.
func (r *rebuild) startJournal(ctx context.Context) {
	if r.o.ReportDir == "" {
		return
	}
	dir := filepath.Join(r.o.ReportDir, "running")
	for _, msg := range sweep(ctx, r.rt, dir, r.dev.Name) {
		r.warn(msg)
	}
	j, err := openJournal(dir, r.dev.Name, r.id)
	if err != nil {
		r.warn(fmt.Sprintf("unable to keep a journal of this scratch rebuild (if devstack dies now, remove its scratch project by hand): %v", err))
		return
	}
	r.journal = j
}

// record notes in the journal a scratch project or image about to be
// created.
func (r *rebuild) record(kind, name string) {
	if err := r.journal.add(kind, name); err != nil {
		r.warn(fmt.Sprintf("unable to write the scratch journal: %v", err))
	}
}

func (r *rebuild) projectLabel() string {
	switch {
	case r.report.Project != "":
		return r.report.Project
	case r.o.Project != nil:
		return r.o.Project.Name
	}
	return r.o.Load.ProjectName
}

// timed runs fn and records it as a phase of run n.
func (r *rebuild) timed(name string, n int, detail string, fn func()) {
	start := r.now()
	fn()
	r.report.Phases = append(r.report.Phases, Phase{Name: name, Run: n, Duration: r.now().Sub(start).Seconds(), Detail: detail})
}

func (r *rebuild) publish(phase, detail string) {
	r.sink.Publish(event.Scratch{Time: r.now(), Project: r.report.Project, Phase: phase, Detail: detail})
}

func (r *rebuild) warn(msg string) {
	r.sink.Publish(event.Warning{Time: r.now(), Message: msg})
}

func (r *rebuild) doneDetail() string {
	switch r.report.Status {
	case StatusPass:
		if len(r.report.Notes) > 0 {
			return fmt.Sprintf("came up from scratch in %.0fs; %s", r.report.Duration, strings.Join(r.report.Notes, "; "))
		}
		return fmt.Sprintf("came up from scratch in %.0fs", r.report.Duration)
	case StatusFail:
		cats := make([]string, 0, len(r.report.Findings))
		for _, f := range r.report.Findings {
			cats = append(cats, f.Category)
		}
		return fmt.Sprintf("hidden dependencies: %s (%d stack runs)", strings.Join(cats, ", "), len(r.report.Runs))
	}
	return r.report.Error
}

// store writes the report's file and adds it to the history.
func (r *rebuild) store() {
	if r.o.ReportDir != "" {
		path, err := WriteReport(r.o.ReportDir, r.report)
		if err != nil {
			r.warn(err.Error())
		} else {
			r.report.Path = path
		}
	}
	if r.o.History != nil {
		if err := r.o.History.Add(r.report); err != nil {
			r.warn(err.Error())
		}
	}
}

func newID() string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// startTimes is when each service's dev containers started: the earliest
// of its replicas that run now (a stopped one's start says nothing of the
// order the stack works in).
func startTimes(cs []model.Container) map[string]time.Time {
	out := map[string]time.Time{}
	for _, c := range cs {
		if c.OneOff || c.StartedAt.IsZero() || c.State != model.StateRunning {
			continue
		}
		if t, ok := out[c.Service]; !ok || c.StartedAt.Before(t) {
			out[c.Service] = c.StartedAt
		}
	}
	return out
}
