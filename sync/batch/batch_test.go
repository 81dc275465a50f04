package batch

import (
	"sort"
	"testing"
	"time"

	"devstack/sync/clock"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func newFake(quiet, max time.Duration) (*Batcher, *clock.Fake) {
	c := clock.NewFake(t0)
	return New(Options{Quiet: quiet, MaxWait: max, Clock: c}), c
}

func paths(b *Batch) []string {
	var out []string
	for p := range b.Paths {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

func ready(b *Batcher) bool {
	select {
	case <-b.Ready():
		return true
	default:
		return false
	}
}

func TestQuietWindowCoalesces(t *testing.T) {
	b, c := newFake(10*time.Millisecond, 100*time.Millisecond)
	b.Add("a", true)
	c.Advance(6 * time.Millisecond)
	b.Add("b", false)
	c.Advance(6 * time.Millisecond) // 12ms: only 6ms quiet since b
	if ready(b) {
		t.Fatal("flushed before the quiet window elapsed")
	}
	c.Advance(4 * time.Millisecond) // 16ms: 10ms since b
	if !ready(b) {
		t.Fatal("not flushed after the quiet window")
	}
	got := b.Take()
	if p := paths(got); len(p) != 2 || p[0] != "a" || p[1] != "b" {
		t.Fatalf("batch %v", p)
	}
	if !got.First.Equal(t0) || !got.Last.Equal(t0.Add(6*time.Millisecond)) {
		t.Fatalf("first %v last %v", got.First, got.Last)
	}
	if !got.Paths["a"].Created || got.Paths["b"].Created {
		t.Fatalf("created flags %+v", got.Paths)
	}
	if b.Take() != nil {
		t.Fatal("a batch is taken once")
	}
}

func TestSteadyStreamStillFlushesAtMaxWait(t *testing.T) {
	b, c := newFake(10*time.Millisecond, 100*time.Millisecond)
	flushes := 0
	var at []time.Duration
	// A write every 5ms for one second never leaves 10ms of quiet.
	for i := 0; i < 200; i++ {
		b.Add("f", false)
		c.Advance(5 * time.Millisecond)
		if ready(b) {
			flushes++
			at = append(at, c.Now().Sub(t0))
			b.Take()
		}
	}
	if flushes < 9 || flushes > 11 {
		t.Fatalf("%d flushes in 1s of steady writes (at %v), want about 10", flushes, at)
	}
	if at[0] > 100*time.Millisecond {
		t.Fatalf("first flush at %v, later than MaxWait", at[0])
	}
}

func TestBatchesNotTakenMerge(t *testing.T) {
	b, c := newFake(10*time.Millisecond, 100*time.Millisecond)
	b.Add("a", true)
	c.Advance(20 * time.Millisecond)
	b.Add("a", false)
	b.Add("b", false)
	c.Advance(20 * time.Millisecond)
	got := b.Take()
	if p := paths(got); len(p) != 2 {
		t.Fatalf("merged batch %v", p)
	}
	if !got.Paths["a"].Created || !got.Paths["a"].Seen.Equal(t0) {
		t.Fatalf("a keeps its first event: %+v", got.Paths["a"])
	}
	if !got.First.Equal(t0) {
		t.Fatalf("first %v", got.First)
	}
}

func TestResyncAndFlushAndPutback(t *testing.T) {
	b, c := newFake(10*time.Millisecond, 100*time.Millisecond)
	b.Resync()
	b.Flush()
	got := b.Take()
	if got == nil || !got.Resync {
		t.Fatalf("want a resync batch, got %+v", got)
	}
	if c.Pending() != 0 {
		t.Fatalf("flush left %d timers", c.Pending())
	}
	b.Add("x", false)
	b.Flush()
	b.Putback(got)
	again := b.Take()
	if again == nil || !again.Resync || len(again.Paths) != 1 {
		t.Fatalf("putback merged %+v", again)
	}
	if b.Pending() {
		t.Fatal("nothing should be pending")
	}
}

func TestDefaults(t *testing.T) {
	b := New(Options{})
	if b.opts.Quiet != DefaultQuiet || b.opts.MaxWait != DefaultMaxWait || b.opts.MaxPaths != DefaultMaxPaths {
		t.Fatalf("defaults %+v", b.opts)
	}
	if b := New(Options{Quiet: time.Second, MaxWait: time.Millisecond}); b.opts.MaxWait != time.Second {
		t.Fatalf("MaxWait below Quiet is raised to it: %v", b.opts.MaxWait)
	}
}

func TestRealClockFlushes(t *testing.T) {
	b := New(Options{Quiet: time.Millisecond, MaxWait: 5 * time.Millisecond})
	b.Add("a", false)
	select {
	case <-b.Ready():
	case <-time.After(5 * time.Second):
		t.Fatal("no flush on the real clock")
	}
	if b.Take() == nil {
		t.Fatal("nothing taken")
	}
}

func TestFullBatchGoesAtOnce(t *testing.T) {
	c := clock.NewFake(t0)
	b := New(Options{Quiet: 10 * time.Millisecond, MaxWait: 100 * time.Millisecond, MaxPaths: 3, Clock: c})
	b.Add("a", true)
	b.Add("b", true)
	b.Add("a", false) // the same path again does not count twice
	if ready(b) {
		t.Fatal("flushed before the batch was full")
	}
	b.Add("c", true)
	if !ready(b) {
		t.Fatal("a full batch should go without waiting")
	}
	b.Add("d", true) // gathers into the next batch
	if p := paths(b.Take()); len(p) != 3 || p[2] != "c" {
		t.Fatalf("first batch %v", p)
	}
	c.Advance(10 * time.Millisecond)
	if p := paths(b.Take()); len(p) != 1 || p[0] != "d" {
		t.Fatalf("second batch %v", p)
	}
}
