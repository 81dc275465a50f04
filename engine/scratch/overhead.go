package scratch

import (
	"context"
	"fmt"
	"sort"
	"time"

	"devstack/engine"
	"devstack/engine/load"
)

// Overhead compares a scratch rebuild with the stack's own no-cache build
// and start: what scratch adds is loading twice, starting one service at
// a time, the checks and removing everything afterwards.
type Overhead struct {
	Runs      int     `json:"runs"`
	Baseline  float64 `json:"baseline_s"` // median: no-cache build + start until ready
	Scratch   float64 `json:"scratch_s"`  // median: a whole passing scratch rebuild
	Overhead  float64 `json:"overhead"`   // Scratch/Baseline - 1
	Baselines []float64
	Scratches []float64
}

// MeasureOverhead times n baselines and n scratch rebuilds of the project
// o loads, alternating them so that both see the same machine. The
// project must pass from scratch. The bench harness calls it.
func MeasureOverhead(ctx context.Context, rt engine.Runtime, o load.Options, n int) (Overhead, error) {
	out := Overhead{Runs: n}
	for i := 0; i < n; i++ {
		b, err := baseline(ctx, rt, o, i)
		if err != nil {
			return out, err
		}
		out.Baselines = append(out.Baselines, b.Seconds())
		start := time.Now()
		rep, err := Run(ctx, Options{Runtime: rt, Load: o, Trigger: "bench"})
		if err != nil {
			return out, err
		}
		if rep.Status != StatusPass {
			return out, fmt.Errorf("the project does not pass from scratch, so it cannot be measured:\n%s", rep.Text())
		}
		out.Scratches = append(out.Scratches, time.Since(start).Seconds())
	}
	out.Baseline, out.Scratch = median(out.Baselines), median(out.Scratches)
	if out.Baseline > 0 {
		out.Overhead = out.Scratch/out.Baseline - 1
	}
	return out, nil
}

// baseline builds the project's images without the cache and starts it,
// as `up --build --no-cache` would (services in parallel, dependencies
// respected), in a project of its own, and times that until every
// service is up. Removing it is not timed.
func baseline(ctx context.Context, rt engine.Runtime, o load.Options, i int) (time.Duration, error) {
	iso := o
	iso.NoShellEnv = true
	dev, err := load.Load(ctx, iso)
	if err != nil {
		return 0, err
	}
	st, err := NewStack(dev, StackOptions{Name: fmt.Sprintf("%s-base-%s", dev.Name, newID()), ImageTag: fmt.Sprintf("base-%d", i), parallel: true})
	if err != nil {
		return 0, err
	}
	rec := newRecorder(nil)
	e := engine.New(rt, rec)
	r := &rebuild{rt: rt, now: time.Now, sink: rec}
	defer r.remove(ctx, st, rec)
	start := time.Now()
	if err := e.Up(ctx, st.Project, engine.UpOptions{NoCache: true}); err != nil {
		return 0, err
	}
	if f := waitReady(ctx, rt, st.Project, st.Order); f != nil {
		return 0, fmt.Errorf("baseline: %s", f.Summary())
	}
	return time.Since(start), nil
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[len(s)/2]
}
