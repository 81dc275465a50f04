package buildkit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	controlapi "github.com/moby/buildkit/api/services/control"
)

// TraceID is the aux message id under which the engine streams BuildKit's
// progress: a JSON string holding a protobuf StatusResponse.
const TraceID = "moby.buildkit.trace"

// ImageID is the aux message id of the built image's ID.
const ImageID = "moby.image.id"

// DecodeTrace reads one moby.buildkit.trace aux payload.
func DecodeTrace(aux []byte) (*controlapi.StatusResponse, error) {
	var raw []byte // the JSON string is base64 of the protobuf message
	if err := json.Unmarshal(aux, &raw); err != nil {
		return nil, fmt.Errorf("unable to read build progress: %w", err)
	}
	var resp controlapi.StatusResponse
	if err := resp.UnmarshalVT(raw); err != nil {
		return nil, fmt.Errorf("unable to read build progress: %w", err)
	}
	return &resp, nil
}

// Step is what is known of one vertex (one Dockerfile instruction, or
// one of the builder's own steps such as loading the context).
type Step struct {
	ID       string // the vertex digest
	Name     string // "[2/3] RUN make", "[internal] load .dockerignore"
	Cached   bool
	Started  time.Time
	Finished time.Time
	Error    string
	Tail     []string // the last lines of its output

	partial []byte // output not yet ended by a newline
}

// Duration is how long the step ran (zero until it finished).
func (s *Step) Duration() time.Duration {
	if s.Started.IsZero() || s.Finished.IsZero() {
		return 0
	}
	return s.Finished.Sub(s.Started)
}

// Change is what one trace message changed.
type Change struct {
	Step    *Step
	Started bool     // the step began
	Done    bool     // the step finished (cached, failed or done)
	Lines   []string // complete output lines the step wrote
}

// Tracker folds trace messages into steps, in the order they first
// appeared, and reports what each message changed.
type Tracker struct {
	tail   int
	steps  map[string]*Step
	order  []*Step
	redact func(string) string
}

// NewTracker keeps tail lines of output per step; redact (may be nil)
// rewrites every output line and error before it is kept or reported.
func NewTracker(tail int, redact func(string) string) *Tracker {
	if redact == nil {
		redact = func(s string) string { return s }
	}
	return &Tracker{tail: tail, steps: map[string]*Step{}, redact: redact}
}

func (t *Tracker) step(id string) *Step {
	s := t.steps[id]
	if s == nil {
		s = &Step{ID: id}
		t.steps[id] = s
		t.order = append(t.order, s)
	}
	return s
}

// Add folds in one message.
func (t *Tracker) Add(resp *controlapi.StatusResponse) []Change {
	var out []Change
	idx := map[*Step]int{}
	change := func(s *Step) *Change {
		if i, ok := idx[s]; ok {
			return &out[i]
		}
		idx[s] = len(out)
		out = append(out, Change{Step: s})
		return &out[len(out)-1]
	}
	for _, v := range resp.GetVertexes() {
		s := t.step(v.GetDigest())
		if v.GetName() != "" {
			s.Name = v.GetName()
		}
		if v.GetCached() {
			s.Cached = true
		}
		if st := v.GetStarted(); st != nil && s.Started.IsZero() {
			s.Started = st.AsTime()
			change(s).Started = true
		}
		if c := v.GetCompleted(); c != nil && s.Finished.IsZero() {
			s.Finished = c.AsTime()
			if s.Started.IsZero() {
				s.Started = s.Finished
			}
			s.Error = t.redact(v.GetError())
			change(s).Done = true
		}
	}
	for _, l := range resp.GetLogs() {
		s := t.step(l.GetVertex())
		data := append(s.partial, l.GetMsg()...)
		for {
			i := bytes.IndexByte(data, '\n')
			if i < 0 {
				break
			}
			line := t.redact(strings.TrimRight(string(data[:i]), "\r"))
			data = data[i+1:]
			if strings.TrimSpace(line) == "" {
				continue
			}
			s.Tail = append(s.Tail, line)
			if len(s.Tail) > t.tail {
				s.Tail = s.Tail[len(s.Tail)-t.tail:]
			}
			c := change(s)
			c.Lines = append(c.Lines, line)
		}
		s.partial = append([]byte(nil), data...)
	}
	// A step that finished with output still unterminated: that output
	// is its last line.
	for i := range out {
		s := out[i].Step
		if out[i].Done && len(s.partial) > 0 {
			line := t.redact(strings.TrimSpace(string(s.partial)))
			s.partial = nil
			if line != "" {
				s.Tail = append(s.Tail, line)
				if len(s.Tail) > t.tail {
					s.Tail = s.Tail[len(s.Tail)-t.tail:]
				}
				out[i].Lines = append(out[i].Lines, line)
			}
		}
	}
	return out
}

// Failed returns the first step that ended with an error, or nil.
func (t *Tracker) Failed() *Step {
	for _, s := range t.order {
		if s.Error != "" {
			return s
		}
	}
	return nil
}

// Steps returns every step in the order they appeared.
func (t *Tracker) Steps() []*Step { return append([]*Step(nil), t.order...) }
