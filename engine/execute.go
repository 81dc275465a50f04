package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"devstack/engine/plan"
)

// ErrSkipped marks operations not run because one they follow failed.
var ErrSkipped = errors.New("skipped: an earlier step failed")

// execute runs the plan's operations, each as soon as the operations it
// follows have succeeded, at most limit at once. It carries no decisions:
// run does the one engine call an operation stands for. When an operation
// fails, everything that follows it is skipped while independent work goes
// on; the errors are returned together. A plan cut short by ctx fails
// with ctx's error: callers must not report a half-made stack as made.
func execute(ctx context.Context, pl *plan.Plan, limit int, run func(context.Context, *plan.Op) error) error {
	n := len(pl.Ops)
	if n == 0 {
		return nil
	}
	if limit <= 0 {
		limit = n
	}
	waiting := make([]int, n+1)      // unfinished dependencies per op ID
	dependents := make([][]int, n+1) // op ID -> IDs that follow it
	for _, o := range pl.Ops {
		waiting[o.ID] = len(o.Deps)
		for _, d := range o.Deps {
			dependents[d] = append(dependents[d], o.ID)
		}
	}
	type result struct {
		id  int
		err error
	}
	results := make(chan result)
	var ready []int
	for _, o := range pl.Ops {
		if waiting[o.ID] == 0 {
			ready = append(ready, o.ID)
		}
	}
	failed := make([]bool, n+1)
	var errs []error
	cut := false // an operation gave up because ctx was cancelled
	running, finished := 0, 0

	// skip marks id and everything after it as failed without running them.
	var skip func(id int)
	skip = func(id int) {
		for _, d := range dependents[id] {
			if !failed[d] {
				failed[d] = true
				finished++
				skip(d)
			}
		}
	}

	for finished < n {
		for len(ready) > 0 && running < limit && ctx.Err() == nil {
			id := ready[0]
			ready = ready[1:]
			running++
			go func(o *plan.Op) {
				results <- result{o.ID, run(ctx, o)}
			}(pl.Ops[id-1])
		}
		if running == 0 {
			// Cancelled with nothing in flight: the rest never runs.
			errs = append(errs, ctx.Err())
			break
		}
		r := <-results
		running--
		finished++
		if r.err != nil {
			failed[r.id] = true
			// Each operation cut short says "context canceled": say it
			// once, for the run, below.
			if errors.Is(r.err, context.Canceled) && ctx.Err() != nil {
				cut = true
			} else {
				errs = append(errs, r.err)
			}
			skip(r.id)
			continue
		}
		for _, d := range dependents[r.id] {
			waiting[d]--
			if waiting[d] == 0 && !failed[d] {
				ready = append(ready, d)
			}
		}
	}
	// The operations skipped after the one cut short were never run: the
	// plan is not carried out, even when nothing else failed.
	if cut {
		errs = append(errs, ctx.Err())
	}
	if len(errs) == 0 {
		return nil
	}
	return errors.Join(dedupe(errs)...)
}

func dedupe(errs []error) []error {
	seen := map[string]bool{}
	var out []error
	for _, e := range errs {
		if e == nil || seen[e.Error()] {
			continue
		}
		seen[e.Error()] = true
		out = append(out, e)
	}
	return out
}

// opError names the step that failed.
func opError(o *plan.Op, err error) error {
	prefix := fmt.Sprintf("unable to %s %s", o.Kind, o.Name)
	if strings.HasPrefix(err.Error(), prefix+":") {
		return err // the runtime said it already
	}
	return fmt.Errorf("%s: %w", prefix, err)
}
