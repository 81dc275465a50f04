package scratch

import (
	"regexp"
	"strings"
	"sync"

	"devstack/engine/event"
)

// recorder listens to a stack run's engine events: it remembers the first
// failures and each build's step and last lines (the evidence a failed
// build leaves), and passes everything on to the caller's sink.
type recorder struct {
	next event.Sink

	mu       sync.Mutex
	failures []event.Progress         // failed steps, in the order they failed
	builds   map[string]*buildHistory // service -> its build's output
	pulls    map[string]bool          // images being pulled (their failures are no build's)
}

// builtImage is the classic builder's line naming the image a step made.
var builtImage = regexp.MustCompile(`^\s*---> ([0-9a-f]{12,64})\s*$`)

type buildHistory struct {
	step    string
	tail    []string
	cached  bool     // the last line said the step used the cache
	created []string // image IDs its steps made, oldest first
	failed  bool     // a BuildKit step failed: step and tail are its own
}

// tailLines is how many lines of output evidence carries.
const tailLines = 8

func newRecorder(next event.Sink) *recorder {
	if next == nil {
		next = event.Discard
	}
	return &recorder{next: next, builds: map[string]*buildHistory{}, pulls: map[string]bool{}}
}

func (r *recorder) Publish(e event.Event) {
	switch e := e.(type) {
	case event.Progress:
		r.mu.Lock()
		switch e.Action {
		case event.Failed:
			r.failures = append(r.failures, e)
		case event.Pulling:
			r.pulls[e.Name] = true
		}
		r.mu.Unlock()
	case event.BuildStep:
		r.mu.Lock()
		b := r.builds[e.Service]
		if b == nil {
			b = &buildHistory{}
			r.builds[e.Service] = b
		}
		if e.Status == event.StepFailed {
			// BuildKit runs steps in parallel: the failed one is named by
			// its own event (with its last lines), whatever ran after it.
			b.step, b.failed = e.Step, true
			b.tail = append([]string(nil), e.Tail...)
			if len(b.tail) > tailLines {
				b.tail = b.tail[len(b.tail)-tailLines:]
			}
			r.mu.Unlock()
			r.next.Publish(e)
			return
		}
		if b.failed || e.Status != "" {
			// Past the failure, or a step that began or ended: no output line.
			r.mu.Unlock()
			r.next.Publish(e)
			return
		}
		if e.Step != "" {
			b.step = e.Step
		}
		// Every step the builder ran made an image; a failed or no-cache
		// build leaves them behind, and the builder's cache would prefer
		// these newest ones over the dev environment's own layers. Steps
		// that used the cache made nothing, and FROM names a base image.
		if strings.Contains(e.Line, "---> Using cache") {
			b.cached = true
		} else if m := builtImage.FindStringSubmatch(e.Line); m != nil {
			if !b.cached && !isFrom(b.step) {
				b.created = append(b.created, m[1])
			}
			b.cached = false
		}
		b.tail = append(b.tail, e.Line)
		if len(b.tail) > tailLines {
			b.tail = b.tail[len(b.tail)-tailLines:]
		}
		r.mu.Unlock()
	}
	r.next.Publish(e)
}

// failure turns the first recorded failure into a Failure, or returns
// nil when nothing failed as far as events tell.
func (r *recorder) failure() *Failure {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.failures) == 0 {
		return nil
	}
	p := r.failures[0]
	f := &Failure{Phase: "start", Service: p.Service, Message: p.Error}
	if p.Kind == event.KindImage && r.pulls[p.Name] {
		f.Phase = "pull"
	} else if p.Kind == event.KindImage {
		f.Phase = "build"
		if b := r.builds[p.Service]; b != nil {
			f.Step = b.step
			f.Tail = append([]string(nil), b.tail...)
		}
	}
	return f
}

func isFrom(step string) bool {
	_, instr, ok := strings.Cut(step, " : ")
	return ok && strings.HasPrefix(strings.ToUpper(strings.TrimSpace(instr)), "FROM ")
}

// failedBuildImages returns the IDs of the images that failed builds
// made, newest first (the order they can be removed in). Only failed
// builds: a successful one's images are its tagged result and that
// result's parents, which go with the tag.
func (r *recorder) failedBuildImages() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, f := range r.failures {
		b := r.builds[f.Service]
		if f.Kind != event.KindImage || b == nil {
			continue
		}
		for i := len(b.created) - 1; i >= 0; i-- {
			out = append(out, b.created[i])
		}
		b.created = nil
	}
	return out
}
