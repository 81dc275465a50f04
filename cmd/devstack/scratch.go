package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"devstack/cmd/devstack/render"
	"devstack/engine/event"
	"devstack/engine/load"
	"devstack/engine/model"
	"devstack/engine/scratch"
)

type scratchFlags struct {
	json    bool
	keep    bool
	timeout time.Duration
	every   time.Duration
	cron    string
	onFail  string
	verbose bool
	// allowHostChecks approves the compose file's host checks (`run:`)
	// without asking.
	allowHostChecks bool
}

func newScratchCmd(g *globals) *cobra.Command {
	var f scratchFlags
	cmd := &cobra.Command{
		Use:   "scratch",
		Short: "Rebuild the stack from scratch beside yours and name the hidden dependency that breaks it",
		Long: `Rebuild the stack from scratch in a project of its own — no build cache, empty volumes,
no bind mounts of host paths, no variables from your shell, services started one at a time
in an adversarial order — and check that it still comes up (x-devstack.scratch.checks too).
Your own containers and volumes are left as they are.

When it does not come up, the dev environment's ingredients are put back one at a time
(build cache, volume data, bind mounts, shell variables, start order) until it does: that
one is the hidden dependency, reported with its evidence and a fix.

Exit status: 0 passed, 1 hidden dependencies found, 2 could not run.

With --every or --cron, rebuilds run on a schedule until interrupted (--every runs the
first one at once); --on-fail runs a command with the report's path after each failure.

Checks with run: are commands the compose file runs on this machine. They run only once
approved for the compose file's content: asked once on a terminal (y/N), or approved with
--allow-host-checks; without a terminal an unapproved one makes scratch refuse to run. The
answer is kept in the state directory; an edited compose file asks again. The dashboard's
background rebuilds skip host checks not approved yet, and say so.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runScratch(cmd.Context(), g, f)
		},
	}
	fl := cmd.Flags()
	fl.BoolVar(&f.json, "json", false, "print the report as one JSON object (one per line with a schedule)")
	fl.BoolVar(&f.keep, "keep", false, "leave the scratch stack in place to look at it")
	fl.DurationVar(&f.timeout, "timeout", 0, "give each stack run this long to come up and pass (default: x-devstack.scratch.timeout, else 10m)")
	fl.DurationVar(&f.every, "every", 0, "rebuild now and then at this interval (e.g. 1h), until interrupted")
	fl.StringVar(&f.cron, "cron", "", `rebuild at the times of a 5-field cron expression (e.g. "0 * * * *"), until interrupted`)
	fl.StringVar(&f.onFail, "on-fail", "", "after a failed rebuild, run this shell command with the report's path as its last argument")
	fl.BoolVarP(&f.verbose, "verbose", "v", false, "show the scratch stacks' build output and progress")
	fl.BoolVar(&f.allowHostChecks, "allow-host-checks", false, "run the compose file's x-devstack.scratch checks with run: (commands on this machine) without asking, and remember it for this compose file")
	cmd.AddCommand(newScratchHistoryCmd(g))
	return cmd
}

func runScratch(ctx context.Context, g *globals, f scratchFlags) error {
	sched, err := scratch.ParseSchedule(f.every, f.cron)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	rt, err := g.runtime(ctx)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	defer rt.Close()
	state, err := scratch.StateDir()
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	history := scratch.OpenHistory(filepath.Join(state, "scratch.db"))
	progress := render.NewPlain(g.stderr, g.stderr, false)
	defer progress.Close()
	var sink event.Sink = progress
	if g.progress == "quiet" {
		sink = event.Discard
	}
	var engineEvents event.Sink
	if f.verbose {
		engineEvents = progress
	}
	ctx, stop := signalContext(ctx, nil)
	defer stop()

	opts := scratch.Options{
		Runtime: rt, Load: g.loadOptions(nil), Timeout: f.timeout, Keep: f.keep,
		Sink: sink, Events: engineEvents, History: history, ReportDir: filepath.Join(state, "scratch"),
		HostChecks: scratch.HostChecks{
			Approvals: scratch.OpenApprovals(filepath.Join(state, "host-checks")),
			Allow:     f.allowHostChecks,
			Refuse:    true, // no terminal to ask on: refuse rather than skip
		},
	}
	if isTerminalReader(g.stdin) && isTerminal(g.stderr) {
		opts.HostChecks.Ask = func(project string, checks []model.ScratchCheck) (bool, error) {
			return askHostChecks(g.stdin, g.stderr, project, checks)
		}
	}
	if sched == nil {
		p, err := g.project(ctx, nil)
		if err != nil {
			return &exitError{code: 2, err: err}
		}
		opts.Project, opts.Trigger = p, "now"
		rep, err := scratch.Run(ctx, opts)
		printReport(g.stdout, rep, f.json)
		onFail(g, f.onFail, rep)
		switch rep.Status {
		case scratch.StatusPass:
			return nil
		case scratch.StatusError:
			return &exitError{code: 2, err: err}
		}
		return &exitError{code: rep.ExitCode()}
	}

	// On a schedule, the project is loaded afresh for every run: the
	// compose file may have changed since the last.
	p, err := g.project(ctx, nil)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	name := p.Name
	var s *scratch.Scheduler
	s = scratch.NewScheduler(scratch.SchedulerOptions{
		Schedule: sched, Sink: sink, Project: name,
		Run: func(ctx context.Context, trigger string) (*scratch.Report, error) {
			o := opts
			o.Trigger = trigger
			return scratch.Run(ctx, o)
		},
		OnResult: func(rep *scratch.Report, _ error) {
			printReport(g.stdout, rep, f.json)
			onFail(g, f.onFail, rep)
			if next := s.Next(); !next.IsZero() && !f.json {
				fmt.Fprintf(g.stderr, "next scratch rebuild at %s (%s); Ctrl-C stops\n", next.Format("Jan 2 15:04"), sched)
			}
		},
	})
	s.Start(ctx)
	if f.every > 0 {
		s.RunNow()
	} else if next := sched.Next(time.Now()); !next.IsZero() {
		fmt.Fprintf(g.stderr, "first scratch rebuild at %s (%s); Ctrl-C stops\n", next.Format("Jan 2 15:04"), sched)
	}
	<-ctx.Done()
	s.Wait()
	return nil
}

// askHostChecks asks on the terminal whether project's host checks may
// run; anything but y or yes is no.
func askHostChecks(in io.Reader, out io.Writer, project string, checks []model.ScratchCheck) (bool, error) {
	fmt.Fprintf(out, "%s's compose file runs these scratch checks on this machine (as you, not in a container):\n", project)
	for _, c := range checks {
		name := c.Name
		if name == "" {
			name = "(unnamed)"
		}
		fmt.Fprintf(out, "  %s: %s\n", name, c.Run)
	}
	fmt.Fprint(out, "Run them? The answer is remembered until the compose file changes. [y/N] ")
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && line == "" {
		return false, err
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return true, nil
	}
	return false, nil
}

// isTerminalReader reports whether r is a terminal (stdin to ask on).
func isTerminalReader(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func printReport(w io.Writer, rep *scratch.Report, asJSON bool) {
	if rep == nil {
		return
	}
	if asJSON {
		b, _ := json.Marshal(rep)
		fmt.Fprintln(w, string(b))
		return
	}
	fmt.Fprint(w, rep.Text())
}

// onFail runs the --on-fail command after a rebuild that did not pass,
// with the report's path as its last argument and in
// DEVSTACK_SCRATCH_REPORT (its status in DEVSTACK_SCRATCH_STATUS).
func onFail(g *globals, command string, rep *scratch.Report) {
	if command == "" || rep == nil || rep.Status == scratch.StatusPass {
		return
	}
	cmd := exec.Command("sh", "-c", command+` "$@"`, "sh", rep.Path)
	cmd.Env = append(os.Environ(), "DEVSTACK_SCRATCH_REPORT="+rep.Path, "DEVSTACK_SCRATCH_STATUS="+rep.Status)
	cmd.Stdout, cmd.Stderr = g.stderr, g.stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintf(g.stderr, "devstack: --on-fail command: %v\n", err)
	}
}

func newScratchHistoryCmd(g *globals) *cobra.Command {
	var asJSON, all bool
	cmd := &cobra.Command{
		Use:   "history",
		Short: "List past scratch rebuilds of the project (all projects with --all)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			h, err := scratch.DefaultHistory()
			if err != nil {
				return err
			}
			project := ""
			if !all {
				// The project's name, quietly: outside a project, list all.
				if p, err := load.Load(cmd.Context(), g.loadOptions(nil)); err == nil {
					project = p.Name
				}
			}
			reports, err := h.List(project)
			var damaged *scratch.DamagedError
			if errors.As(err, &damaged) {
				// Moved aside and started anew: say so, list what there is.
				fmt.Fprintln(g.stderr, "devstack:", damaged)
			} else if err != nil {
				return err
			}
			if asJSON {
				if reports == nil {
					reports = []scratch.Report{}
				}
				enc := json.NewEncoder(g.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(reports)
			}
			if len(reports) == 0 {
				fmt.Fprintf(g.stderr, "no scratch rebuilds yet (history: %s)\n", h.Path())
				return nil
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "STARTED\tPROJECT\tSTATUS\tDURATION\tRUNS\tFINDINGS")
			for _, r := range reports {
				var found []string
				for _, f := range r.Findings {
					found = append(found, f.Category+" ("+f.Service+")")
				}
				if r.Error != "" {
					found = append(found, firstLineOf(r.Error))
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%.0fs\t%d\t%s\n", r.Started.Local().Format("2006-01-02 15:04"), r.Project, r.Status,
					r.Duration, len(r.Runs), strings.Join(found, ", "))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the reports as a JSON array")
	cmd.Flags().BoolVar(&all, "all", false, "every project's rebuilds")
	return cmd
}

func firstLineOf(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
