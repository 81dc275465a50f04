package scratch

import (
	"context"
	"errors"
	"path/filepath"
)

// Background returns the Scheduler a dashboard runs: on the project's
// x-devstack.scratch schedule (every or cron; none: only RunNow), its
// reports kept in the default history and written under StateDir, host
// checks run only if approved before (skipped and said so otherwise), its
// events published to base.Sink. base carries the Runtime, the Load
// options and the Sink; each run loads the project afresh (the compose
// file may have changed since the dashboard started), and a run asked
// for with RunNow is recorded as triggered by "dashboard".
//
//	s, err := scratch.Background(scratch.Options{Runtime: rt, Load: opts, Project: p, Sink: feed})
//	s.Start(ctx)  // scheduled runs, if the project has a schedule
//	s.RunNow()    // the S key
func Background(base Options) (*Scheduler, error) {
	if base.Project == nil {
		return nil, errors.New("scratch.Background needs the loaded project (Options.Project)")
	}
	cfg := base.Project.Ext.Scratch
	sched, err := ParseSchedule(cfg.Every, cfg.Cron)
	if err != nil {
		return nil, err
	}
	if base.History == nil || base.ReportDir == "" || base.HostChecks.Approvals == nil {
		dir, err := StateDir()
		if err != nil {
			return nil, err
		}
		if base.History == nil {
			base.History = OpenHistory(filepath.Join(dir, "scratch.db"))
		}
		if base.ReportDir == "" {
			base.ReportDir = filepath.Join(dir, "scratch")
		}
		if base.HostChecks.Approvals == nil {
			base.HostChecks.Approvals = OpenApprovals(filepath.Join(dir, "host-checks"))
		}
	}
	// Nobody is there to answer in the background: host checks run only
	// when approved before (by `devstack scratch`), else they are skipped
	// and the result says so.
	base.HostChecks.Ask, base.HostChecks.Allow, base.HostChecks.Refuse = nil, false, false
	project := base.Project.Name
	base.Project = nil
	return NewScheduler(SchedulerOptions{
		Schedule: sched,
		Sink:     base.Sink,
		Project:  project,
		Run: func(ctx context.Context, trigger string) (*Report, error) {
			o := base
			o.Trigger = trigger
			if trigger == "now" {
				o.Trigger = "dashboard"
			}
			return Run(ctx, o)
		},
	}), nil
}
