package scratch

import (
	"context"
	"fmt"
	"sync"
	"time"

	"devstack/engine/event"
)

// SchedulerOptions configure a Scheduler.
type SchedulerOptions struct {
	// Schedule says when runs are due; nil: only RunNow starts one.
	Schedule Schedule
	// Run does one rebuild (usually a closure over scratch.Run); trigger
	// says what started it ("schedule" or "now").
	Run func(ctx context.Context, trigger string) (*Report, error)
	// Clock defaults to RealClock.
	Clock Clock
	// Sink receives what the scheduler itself has to say (runs skipped);
	// the runs publish their own events.
	Sink    event.Sink
	Project string
	// OnResult is called after each run, from the run's goroutine.
	OnResult func(*Report, error)
	// Recheck is how often the wall clock is read again while waiting
	// (default a minute), which is how a run missed while the machine
	// slept is noticed soon after it wakes.
	Recheck time.Duration
}

// Scheduler runs scratch rebuilds on a schedule and on demand, never two
// at once: a run that comes due while one is going is skipped (and said
// so), and runs missed while the machine slept happen once when it wakes,
// not once per missed slot.
type Scheduler struct {
	o SchedulerOptions

	mu      sync.Mutex
	ctx     context.Context // from Start; runs end with it
	running bool
	since   time.Time // when the running one started
	next    time.Time // when the next scheduled run is due
	last    *Report
	runs    sync.WaitGroup
}

// NewScheduler returns a scheduler; nothing runs until Start or RunNow.
func NewScheduler(o SchedulerOptions) *Scheduler {
	if o.Clock == nil {
		o.Clock = RealClock{}
	}
	if o.Sink == nil {
		o.Sink = event.Discard
	}
	if o.Recheck <= 0 {
		o.Recheck = time.Minute
	}
	return &Scheduler{o: o, ctx: context.Background()}
}

// Start runs the schedule in the background until ctx ends; runs in
// progress are cancelled with it.
func (s *Scheduler) Start(ctx context.Context) {
	s.mu.Lock()
	s.ctx = ctx
	s.mu.Unlock()
	if s.o.Schedule == nil {
		return
	}
	s.runs.Add(1)
	go s.loop(ctx)
}

// Wait returns once the schedule's loop and every run have ended (after
// Start's context is done).
func (s *Scheduler) Wait() { s.runs.Wait() }

// RunNow starts a run in the background unless one is going; it reports
// whether it started one.
func (s *Scheduler) RunNow() bool { return s.trigger("now", "") }

// Running reports whether a run is going.
func (s *Scheduler) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.running
}

// Last returns the latest run's report, or nil.
func (s *Scheduler) Last() *Report {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

// Next returns when the next scheduled run is due (zero: none).
func (s *Scheduler) Next() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.next
}

func (s *Scheduler) loop(ctx context.Context) {
	defer s.runs.Done()
	clock := s.o.Clock
	now := clock.Now()
	next := s.o.Schedule.Next(now)
	for !next.IsZero() {
		s.mu.Lock()
		s.next = next
		s.mu.Unlock()
		wait := next.Sub(now)
		if wait > s.o.Recheck {
			wait = s.o.Recheck
		}
		select {
		case <-ctx.Done():
			return
		case <-clock.After(wait):
		}
		now = clock.Now()
		if now.Before(next) {
			continue
		}
		detail := "due " + next.Format("15:04")
		if missed := s.missed(next, now); missed > 1 {
			detail = fmt.Sprintf("%d runs came due while the machine slept (since %s); running one", missed, next.Format("Jan 2 15:04"))
		}
		s.trigger("schedule", detail)
		// The next one is due after now, not after the slot just served:
		// slots missed while asleep are not made up one by one.
		next = s.o.Schedule.Next(now)
	}
}

// missed counts the slots from next up to now.
func (s *Scheduler) missed(next, now time.Time) int {
	n := 0
	for t := next; !t.IsZero() && !t.After(now) && n < 1000; t = s.o.Schedule.Next(t) {
		n++
	}
	return n
}

// trigger starts a run unless one is going.
func (s *Scheduler) trigger(trigger, detail string) bool {
	s.mu.Lock()
	if s.running {
		since := s.since
		s.mu.Unlock()
		what := "the run asked for"
		if trigger == "schedule" {
			what = "the scheduled run (" + detail + ")"
		}
		s.o.Sink.Publish(event.Scratch{Time: s.o.Clock.Now(), Project: s.o.Project, Phase: "skipped",
			Detail: fmt.Sprintf("%s is skipped: the rebuild started at %s is still running", what, since.Format("15:04:05"))})
		return false
	}
	s.running = true
	s.since = s.o.Clock.Now()
	ctx := s.ctx
	s.runs.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.runs.Done()
		rep, err := s.o.Run(ctx, trigger)
		s.mu.Lock()
		s.running = false
		if rep != nil {
			s.last = rep
		}
		s.mu.Unlock()
		if s.o.OnResult != nil {
			s.o.OnResult(rep, err)
		}
	}()
	return true
}
