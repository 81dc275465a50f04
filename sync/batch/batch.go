// Package batch coalesces file changes into batches: a batch is sent once
// changes have been quiet for a short window, and at least every MaxWait
// while they keep coming, so a steady stream of writes cannot delay sync
// forever (the flaw of a debounce without a cap). A batch that reaches
// MaxPaths goes at once: a burst's first files need not wait for the
// rest, and what comes meanwhile gathers into the next batch.
package batch

import (
	"sync"
	"time"

	"devstack/sync/clock"
)

// Defaults, chosen to stay under one frame of human perception while
// still gathering an editor's save (write temp, rename) into one batch.
const (
	DefaultQuiet   = 10 * time.Millisecond
	DefaultMaxWait = 100 * time.Millisecond
	// DefaultMaxPaths is about a tenth of a second of work where creating
	// a file is slow (1 ms a file on a FUSE-backed container filesystem).
	DefaultMaxPaths = 128
)

// Options tune a Batcher.
type Options struct {
	Quiet    time.Duration // send once no change came for this long (default DefaultQuiet)
	MaxWait  time.Duration // send at the latest this long after a batch's first change (default DefaultMaxWait)
	MaxPaths int           // send at once when a batch holds this many paths (default DefaultMaxPaths)
	Clock    clock.Clock   // default clock.Real
}

// Change is what is known of one changed path.
type Change struct {
	Seen    time.Time // when its first event of the batch arrived
	Created bool      // that first event created it (so if it is gone again, nothing needs deleting)
}

// Batch is a set of changed paths sent together.
type Batch struct {
	Paths  map[string]Change
	First  time.Time // when the first change was seen
	Last   time.Time // when the last change was seen
	Resync bool      // the watcher lost events: resynchronise everything
}

// Batcher gathers changes; Ready fires when a batch can be taken.
type Batcher struct {
	opts   Options
	notify chan struct{}

	mu    sync.Mutex
	open  *Batch      // gathering; guarded by mu
	ready *Batch      // flushed and not yet taken; guarded by mu
	timer clock.Timer // the pending flush of open; guarded by mu
	gen   int         // bumps on every reschedule, so a stale timer does nothing; guarded by mu
}

// New returns a Batcher.
func New(o Options) *Batcher {
	if o.Quiet <= 0 {
		o.Quiet = DefaultQuiet
	}
	if o.MaxWait <= 0 {
		o.MaxWait = DefaultMaxWait
	}
	if o.MaxPaths <= 0 {
		o.MaxPaths = DefaultMaxPaths
	}
	if o.MaxWait < o.Quiet {
		o.MaxWait = o.Quiet
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	return &Batcher{opts: o, notify: make(chan struct{}, 1)}
}

// Add records a change of path.
func (b *Batcher) Add(path string, created bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.opts.Clock.Now()
	o := b.openLocked(now)
	if _, ok := o.Paths[path]; !ok {
		o.Paths[path] = Change{Seen: now, Created: created}
	}
	if len(o.Paths) >= b.opts.MaxPaths {
		b.flushLocked()
		return
	}
	b.scheduleLocked(now)
}

// Resync asks for a full resynchronisation in the next batch.
func (b *Batcher) Resync() {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.opts.Clock.Now()
	b.openLocked(now).Resync = true
	b.scheduleLocked(now)
}

func (b *Batcher) openLocked(now time.Time) *Batch {
	if b.open == nil {
		b.open = &Batch{Paths: map[string]Change{}, First: now}
	}
	b.open.Last = now
	return b.open
}

// scheduleLocked (re)arms the flush: Quiet after the latest change, but
// never later than MaxWait after the first.
func (b *Batcher) scheduleLocked(now time.Time) {
	at := now.Add(b.opts.Quiet)
	if cap := b.open.First.Add(b.opts.MaxWait); cap.Before(at) {
		at = cap
	}
	if b.timer != nil {
		b.timer.Stop()
	}
	b.gen++
	gen := b.gen
	b.timer = b.opts.Clock.AfterFunc(at.Sub(now), func() { b.fire(gen) })
}

func (b *Batcher) fire(gen int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if gen != b.gen {
		return
	}
	b.flushLocked()
}

// Flush sends what is gathering now, without waiting.
func (b *Batcher) Flush() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.flushLocked()
}

func (b *Batcher) flushLocked() {
	if b.open == nil {
		return
	}
	if b.timer != nil {
		b.timer.Stop()
		b.timer = nil
	}
	b.gen++
	o := b.open
	b.open = nil
	if b.ready == nil {
		b.ready = o
	} else {
		merge(b.ready, o)
	}
	select {
	case b.notify <- struct{}{}:
	default:
	}
}

// merge folds a later batch into an earlier one that was not taken yet.
func merge(into, later *Batch) {
	for p, c := range later.Paths {
		if _, ok := into.Paths[p]; !ok {
			into.Paths[p] = c
		}
	}
	into.Last = later.Last
	into.Resync = into.Resync || later.Resync
}

// Ready receives a value when a batch can be taken.
func (b *Batcher) Ready() <-chan struct{} { return b.notify }

// Take returns the flushed batches merged into one, or nil.
func (b *Batcher) Take() *Batch {
	b.mu.Lock()
	defer b.mu.Unlock()
	r := b.ready
	b.ready = nil
	return r
}

// Putback returns a batch that could not be applied, to be taken again
// with whatever arrived since. Its changes keep their first-seen times.
func (b *Batcher) Putback(r *Batch) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ready != nil {
		merge(r, b.ready)
	}
	b.ready = r
	select {
	case b.notify <- struct{}{}:
	default:
	}
}

// Pending reports whether changes are gathering or waiting to be taken.
func (b *Batcher) Pending() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.open != nil || b.ready != nil
}
