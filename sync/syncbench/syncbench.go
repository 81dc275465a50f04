// Package syncbench measures live sync from the outside: it changes files
// in a host directory and times how long until the change is visible in
// the container, observed by a long-lived exec in the container that polls
// the files (every millisecond, without forking for the checks
// themselves). It knows nothing of who syncs: the same scenarios time
// devstack's syncer and `docker compose watch` alike.
package syncbench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"time"

	"devstack/engine/model"
	devsync "devstack/sync"
)

// Env is where a scenario runs: HostDir is mirrored by some syncer into
// ContainerDir of the running container ContainerID.
type Env struct {
	HostDir      string
	ContainerID  string
	ContainerDir string
	// Exec runs the observer in the container (an Engine's Exec).
	Exec func(ctx context.Context, id string, x devsync.ExecSpec) (int, error)
}

// Result is one scenario's measurements.
type Result struct {
	Scenario string
	Samples  []time.Duration // one per repetition
	P50      time.Duration
	P95      time.Duration
	Max      time.Duration
	Budget   time.Duration // the target for P50 (P95 for one-edit also has one: see Budget95)
	Budget95 time.Duration
	Note     string
	Writes   []time.Duration // burst-1000: how long the host took to write the files, per sample
}

// OK reports whether the result meets its budgets.
func (r Result) OK() bool {
	return (r.Budget == 0 || r.P50 <= r.Budget) && (r.Budget95 == 0 || r.P95 <= r.Budget95)
}

func (r Result) String() string {
	s := fmt.Sprintf("%-14s n=%-3d p50=%-9s p95=%-9s max=%-9s", r.Scenario, len(r.Samples), ms(r.P50), ms(r.P95), ms(r.Max))
	if r.Budget > 0 {
		verdict := "ok"
		if !r.OK() {
			verdict = "OVER BUDGET"
		}
		s += fmt.Sprintf(" budget p50<=%s", ms(r.Budget))
		if r.Budget95 > 0 {
			s += fmt.Sprintf(" p95<=%s", ms(r.Budget95))
		}
		s += " " + verdict
	}
	if r.Note != "" {
		s += "  (" + r.Note + ")"
	}
	return s
}

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', 1, 64) + "ms"
}

// Scenario is one measurement.
type Scenario struct {
	Name string
	Run  func(ctx context.Context, env Env) (Result, error)
}

// Scenarios returns the standard scenarios: one edited file (50 times),
// 1,000 new files in one burst, and their 1,000 deletions.
func Scenarios() []Scenario {
	return []Scenario{
		{Name: "one-edit", Run: OneEdit},
		{Name: "burst-1000", Run: Burst},
		{Name: "delete-1000", Run: Delete},
	}
}

// RunAll runs one-edit (50 samples of its own), then burst-1000 and
// delete-1000 (which removes what burst-1000 made) rounds times each, and
// returns their results.
func RunAll(ctx context.Context, env Env, rounds int) ([]Result, error) {
	edit, err := OneEdit(ctx, env)
	if err != nil {
		return nil, fmt.Errorf("one-edit: %w", err)
	}
	var burst, del Result
	var writes []time.Duration
	for i := 0; i < max(rounds, 1); i++ {
		b, err := Burst(ctx, env)
		if err != nil {
			return nil, fmt.Errorf("burst-1000: %w", err)
		}
		d, err := Delete(ctx, env)
		if err != nil {
			return nil, fmt.Errorf("delete-1000: %w", err)
		}
		b.Samples, b.Writes = append(burst.Samples, b.Samples...), append(writes, b.Writes...)
		d.Samples = append(del.Samples, d.Samples...)
		burst, del, writes = b, d, b.Writes
	}
	burst.Note = "from the last write; " + writesNote(burst.Writes)
	return []Result{edit, summarise(burst), summarise(del)}, nil
}

// writesNote says how long the host took to write a burst: the time from
// the last write depends on it (files written slowly are partly synced
// before the last one).
func writesNote(w []time.Duration) string {
	s := append([]time.Duration(nil), w...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s) == 0 {
		return ""
	}
	return fmt.Sprintf("the host wrote the files in %s (median; %s to %s)", ms(s[(len(s)-1)/2]), ms(s[0]), ms(s[len(s)-1]))
}

// OneEdit writes one file 50 times, each time waiting until the container
// shows the new content: edit -> visible.
func OneEdit(ctx context.Context, env Env) (Result, error) {
	o, err := startObserver(ctx, env)
	if err != nil {
		return Result{}, err
	}
	defer o.close()
	file := filepath.Join(env.HostDir, "edit.txt")
	res := Result{Scenario: "one-edit", Budget: 30 * time.Millisecond, Budget95: 80 * time.Millisecond}
	// A first write creates the file; it is not timed.
	if err := os.WriteFile(file, []byte("warmup\n"), 0o644); err != nil {
		return res, err
	}
	if _, err := o.wait(ctx, "W edit.txt warmup", time.Time{}); err != nil {
		return res, err
	}
	for i := 0; i < 50; i++ {
		token := "edit-" + strconv.Itoa(i)
		if err := o.ask("W edit.txt " + token); err != nil {
			return res, err
		}
		start := time.Now()
		if err := os.WriteFile(file, []byte(token+"\n"), 0o644); err != nil {
			return res, err
		}
		d, err := o.wait(ctx, "", start)
		if err != nil {
			return res, err
		}
		res.Samples = append(res.Samples, d)
	}
	return summarise(res), nil
}

// Burst writes 1,000 files in a new directory and times from the last
// write until all of them are in the container.
func Burst(ctx context.Context, env Env) (Result, error) {
	o, err := startObserver(ctx, env)
	if err != nil {
		return Result{}, err
	}
	defer o.close()
	res := Result{Scenario: "burst-1000", Budget: 500 * time.Millisecond, Note: "from the last write"}
	dir := filepath.Join(env.HostDir, "burst")
	if err := os.RemoveAll(dir); err != nil {
		return res, err
	}
	if err := o.ask("N burst 1000 f0999.txt"); err != nil {
		return res, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return res, err
	}
	first := time.Now()
	for i := 0; i < 1000; i++ {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%04d.txt", i)), []byte("burst "+strconv.Itoa(i)+"\n"), 0o644); err != nil {
			return res, err
		}
	}
	last := time.Now()
	res.Writes = append(res.Writes, last.Sub(first))
	res.Note += "; " + writesNote(res.Writes)
	d, err := o.wait(ctx, "", last)
	if err != nil {
		return res, err
	}
	res.Samples = append(res.Samples, d)
	return summarise(res), nil
}

// Delete removes the 1,000 files of Burst (making them first if needed)
// and times from the last removal until none is left in the container.
func Delete(ctx context.Context, env Env) (Result, error) {
	dir := filepath.Join(env.HostDir, "burst")
	if entries, _ := os.ReadDir(dir); len(entries) != 1000 {
		if _, err := Burst(ctx, env); err != nil {
			return Result{}, err
		}
	}
	o, err := startObserver(ctx, env)
	if err != nil {
		return Result{}, err
	}
	defer o.close()
	res := Result{Scenario: "delete-1000", Budget: 300 * time.Millisecond, Note: "from the last removal"}
	if err := o.ask("Z burst f0999.txt"); err != nil {
		return res, err
	}
	for i := 0; i < 1000; i++ {
		if err := os.Remove(filepath.Join(dir, fmt.Sprintf("f%04d.txt", i))); err != nil {
			return res, err
		}
	}
	d, err := o.wait(ctx, "", time.Now())
	if err != nil {
		return res, err
	}
	res.Samples = append(res.Samples, d)
	return summarise(res), nil
}

func summarise(r Result) Result {
	s := append([]time.Duration(nil), r.Samples...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s) == 0 {
		return r
	}
	r.P50 = s[(len(s)-1)*50/100]
	r.P95 = s[(len(s)-1)*95/100]
	r.Max = s[len(s)-1]
	return r
}

// Project returns a one-service project whose only rule syncs hostDir to
// containerDir: enough to start devstack's syncer on an existing
// container of service (with an Engine that lists it).
func Project(name, service, hostDir, containerDir string) *model.Project {
	return &model.Project{Name: name, WorkingDir: hostDir, Services: []model.Service{{
		Name:     service,
		Replicas: 1,
		Watch:    []model.WatchRule{{Path: hostDir, Action: model.WatchSync, Target: containerDir}},
	}}}
}
