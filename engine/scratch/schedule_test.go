package scratch

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"devstack/engine/event"
	"devstack/engine/model"
)

// fakeRuns is a Run function whose runs block until released, counting
// how many go at once.
type fakeRuns struct {
	started  chan string   // trigger of each run, as it starts
	release  chan struct{} // one value ends one run
	finished chan struct{}
	running  atomic.Int32
	most     atomic.Int32
	total    atomic.Int32
}

func newFakeRuns() *fakeRuns {
	return &fakeRuns{started: make(chan string, 10), release: make(chan struct{}), finished: make(chan struct{}, 10)}
}

func (f *fakeRuns) run(ctx context.Context, trigger string) (*Report, error) {
	n := f.running.Add(1)
	for {
		m := f.most.Load()
		if n <= m || f.most.CompareAndSwap(m, n) {
			break
		}
	}
	f.total.Add(1)
	f.started <- trigger
	select {
	case <-f.release:
	case <-ctx.Done():
	}
	f.running.Add(-1)
	return &Report{Status: StatusPass, Trigger: trigger}, nil
}

func (f *fakeRuns) onResult(*Report, error) { f.finished <- struct{}{} }

func expectStart(t *testing.T, f *fakeRuns, trigger string) {
	t.Helper()
	select {
	case got := <-f.started:
		if got != trigger {
			t.Fatalf("run started by %q, want %q", got, trigger)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("no %s run started", trigger)
	}
}

func expectNoStart(t *testing.T, f *fakeRuns) {
	t.Helper()
	select {
	case got := <-f.started:
		t.Fatalf("unexpected run (%s)", got)
	default:
	}
}

func finish(t *testing.T, f *fakeRuns) {
	t.Helper()
	f.release <- struct{}{}
	select {
	case <-f.finished:
	case <-time.After(5 * time.Second):
		t.Fatal("run did not finish")
	}
}

func newTestScheduler(t *testing.T, every time.Duration) (*Scheduler, *FakeClock, *fakeRuns, *event.Recorder, context.CancelFunc) {
	clock := NewFakeClock(time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC))
	runs := newFakeRuns()
	rec := &event.Recorder{}
	s := NewScheduler(SchedulerOptions{Schedule: Every(every), Run: runs.run, Clock: clock, Sink: rec, Project: "shop",
		OnResult: runs.onResult})
	ctx, cancel := context.WithCancel(context.Background())
	s.Start(ctx)
	t.Cleanup(func() { cancel(); s.Wait() })
	return s, clock, runs, rec, cancel
}

func TestScheduledRunsNeverOverlap(t *testing.T) {
	s, clock, runs, rec, _ := newTestScheduler(t, time.Hour)

	clock.BlockUntil(1)
	if !s.Next().Equal(time.Date(2026, 3, 10, 13, 0, 0, 0, time.UTC)) {
		t.Fatalf("next due %s", s.Next())
	}
	clock.Advance(59 * time.Minute)
	clock.BlockUntil(1)
	expectNoStart(t, runs)
	clock.Advance(time.Minute) // 13:00
	expectStart(t, runs, "schedule")

	// 14:00 comes while the 13:00 run is still going: skipped, and said.
	clock.BlockUntil(1)
	clock.Advance(time.Hour)
	clock.BlockUntil(1)
	expectNoStart(t, runs)
	if _, ok := rec.Wait(time.Now().Add(5*time.Second), func(e event.Event) bool {
		sc, ok := e.(event.Scratch)
		return ok && sc.Phase == "skipped" && strings.Contains(sc.Detail, "due 14:00") && strings.Contains(sc.Detail, "still running")
	}); !ok {
		t.Fatalf("no skipped event: %v", rec.Events())
	}
	// Nor does asking for one now start a second.
	if s.RunNow() {
		t.Fatal("RunNow started a second run")
	}
	finish(t, runs)

	// Asked for now, with nothing running: it starts.
	if !s.RunNow() {
		t.Fatal("RunNow refused with nothing running")
	}
	expectStart(t, runs, "now")
	finish(t, runs)

	clock.Advance(time.Hour) // 15:00
	expectStart(t, runs, "schedule")
	finish(t, runs)

	if most := runs.most.Load(); most != 1 {
		t.Fatalf("%d runs went at once", most)
	}
	if total := runs.total.Load(); total != 3 {
		t.Fatalf("%d runs, want 3", total)
	}
	if s.Last() == nil || s.Last().Trigger != "schedule" {
		t.Fatalf("last report %+v", s.Last())
	}
}

func TestMissedRunsWhileAsleepHappenOnce(t *testing.T) {
	s, clock, runs, rec, _ := newTestScheduler(t, time.Hour)
	clock.BlockUntil(1)
	// The machine sleeps ten hours: the timer fires late, once.
	clock.Advance(10*time.Hour + 30*time.Minute)
	expectStart(t, runs, "schedule")
	clock.BlockUntil(1)
	expectNoStart(t, runs)
	finish(t, runs)
	if _, ok := rec.Wait(time.Now(), func(e event.Event) bool { _, ok := e.(event.Scratch); return ok }); ok {
		t.Fatal("a run was reported skipped after sleeping")
	}
	// The next one is an hour after waking, not at the missed slots.
	want := time.Date(2026, 3, 10, 23, 30, 0, 0, time.UTC)
	if !s.Next().Equal(want) {
		t.Fatalf("next due %s, want %s", s.Next(), want)
	}
	clock.Advance(59 * time.Minute)
	clock.BlockUntil(1)
	expectNoStart(t, runs)
	clock.Advance(time.Minute)
	expectStart(t, runs, "schedule")
	finish(t, runs)
	if total := runs.total.Load(); total != 2 {
		t.Fatalf("%d runs, want 2", total)
	}
}

func TestSchedulerWithoutScheduleOnlyRunsWhenAsked(t *testing.T) {
	runs := newFakeRuns()
	clock := NewFakeClock(time.Unix(0, 0))
	s := NewScheduler(SchedulerOptions{Run: runs.run, Clock: clock, OnResult: runs.onResult})
	ctx, cancel := context.WithCancel(context.Background())
	s.Start(ctx)
	clock.Advance(100 * time.Hour)
	expectNoStart(t, runs)
	if !s.RunNow() {
		t.Fatal("RunNow refused")
	}
	expectStart(t, runs, "now")
	// Cancelling the context ends the run in progress.
	cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); s.Wait() }()
	wg.Wait()
	if s.Running() {
		t.Fatal("still running after Wait")
	}
}

func TestBackgroundTakesTheProjectsSchedule(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	p := &model.Project{Name: "shop", Ext: model.Extension{Scratch: model.ScratchConfig{Cron: "@hourly"}}}
	s, err := Background(Options{Project: p})
	if err != nil {
		t.Fatal(err)
	}
	if s.o.Schedule == nil || s.o.Schedule.String() != "cron @hourly" || s.o.Project != "shop" {
		t.Fatalf("schedule %v project %q", s.o.Schedule, s.o.Project)
	}
	p.Ext.Scratch = model.ScratchConfig{}
	if s, err := Background(Options{Project: p}); err != nil || s.o.Schedule != nil {
		t.Fatalf("no schedule: %v %v", s.o.Schedule, err)
	}
	p.Ext.Scratch.Cron = "bad"
	if _, err := Background(Options{Project: p}); err == nil {
		t.Fatal("bad cron accepted")
	}
}
