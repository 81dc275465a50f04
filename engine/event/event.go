// Package event is the one way information leaves the engine: every step of
// a build, every container state change, every log line, sync batch and
// scratch result is an Event handed to a Sink. Renderers (plain logs, JSON
// lines, the dashboard) are Sinks; the engine never imports one.
package event

import (
	"encoding/json"
	"sync"
	"time"
)

// Event is one of the concrete types below.
type Event interface {
	// Type names the event in the JSON stream ("progress", "log", ...).
	Type() string
}

// Sink receives events. Publish must be safe for concurrent use and must
// not block for long: the engine calls it from many goroutines.
type Sink interface {
	Publish(Event)
}

// Func adapts a function to a Sink.
type Func func(Event)

// Publish calls f(e).
func (f Func) Publish(e Event) { f(e) }

// Discard drops every event.
var Discard Sink = Func(func(Event) {})

// Actions of a Progress event.
const (
	Creating   = "creating"
	Created    = "created"
	Starting   = "starting"
	Started    = "started"
	Waiting    = "waiting"
	Healthy    = "healthy"
	Exited     = "exited"
	Stopping   = "stopping"
	Stopped    = "stopped"
	Removing   = "removing"
	Removed    = "removed"
	Recreating = "recreating"
	Running    = "running" // unchanged and already running
	Building   = "building"
	Built      = "built"
	Pulling    = "pulling"
	Restarting = "restarting"
	Failed     = "failed"
	Orphan     = "orphan"
	Skipped    = "skipped"
	Pausing    = "pausing"
	Paused     = "paused"
	Unpausing  = "unpausing"
	Unpaused   = "unpaused"
	Killing    = "killing"
	Killed     = "killed"
)

// Resource kinds of a Progress event.
const (
	KindContainer = "container"
	KindNetwork   = "network"
	KindVolume    = "volume"
	KindImage     = "image"
	KindProject   = "project"
)

// Progress reports a step of bringing a resource to its desired state.
type Progress struct {
	Time     time.Time `json:"time"`
	Kind     string    `json:"kind"`              // container | network | volume | image | project
	Name     string    `json:"name"`              // engine-side name
	Service  string    `json:"service,omitempty"` // owning service, if any
	Action   string    `json:"action"`            // one of the action constants
	Detail   string    `json:"detail,omitempty"`  // free text, e.g. "config changed"
	Error    string    `json:"error,omitempty"`
	Duration float64   `json:"duration_s,omitempty"` // for completed steps
}

func (Progress) Type() string { return "progress" }

// BuildStep is one line of build output, with the step being run, or
// (BuildKit builds) a step that began or ended: then Status is set and
// Line is empty.
type BuildStep struct {
	Time    time.Time `json:"time"`
	Service string    `json:"service"`
	Image   string    `json:"image"`
	Step    string    `json:"step,omitempty"` // "Step 2/5 : RUN make" (legacy builder), "[2/5] RUN make" (BuildKit)
	Line    string    `json:"line,omitempty"`

	// BuildKit steps (vertices).
	Vertex         string   `json:"vertex,omitempty"`     // the step's digest
	Status         string   `json:"status,omitempty"`     // started | done | cached | failed | up-to-date
	Duration       float64  `json:"duration_s,omitempty"` // when it ended
	Error          string   `json:"error,omitempty"`
	Tail           []string `json:"tail,omitempty"`            // its last lines of output, when it failed
	Dockerfile     string   `json:"dockerfile,omitempty"`      // where the step comes from, when known
	DockerfileLine int      `json:"dockerfile_line,omitempty"` //
}

// Status of a BuildStep.
const (
	StepStarted = "started"
	StepDone    = "done"
	StepCached  = "cached"
	StepFailed  = "failed"
	// The build was not sent to the builder: nothing it reads changed
	// since its image was built (Step says which image).
	StepUpToDate = "up-to-date"
)

func (BuildStep) Type() string { return "build" }

// Log is one line a container wrote.
type Log struct {
	Time      time.Time `json:"time"`
	Service   string    `json:"service"`
	Container string    `json:"container"` // container name
	Replica   int       `json:"replica"`
	Stream    string    `json:"stream"` // stdout | stderr
	Line      string    `json:"line"`
}

func (Log) Type() string { return "log" }

// State reports a container's state, whenever it changes (start, die,
// health_status, restart, create, destroy).
type State struct {
	Time      time.Time `json:"time"`
	Service   string    `json:"service"`
	Container string    `json:"container"`
	ID        string    `json:"id"`
	Replica   int       `json:"replica"`
	State     string    `json:"state"`            // running | exited | restarting | created | removed
	Health    string    `json:"health,omitempty"` // starting | healthy | unhealthy
	ExitCode  int       `json:"exit_code"`
	Restarts  int       `json:"restarts"`
	StartedAt time.Time `json:"started_at,omitzero"`
	Ports     []string  `json:"ports,omitempty"` // "0.0.0.0:8080->80/tcp"
	Image     string    `json:"image,omitempty"`
	Node      string    `json:"node,omitempty"` // the cluster node a pod runs on (Kubernetes runtime)
}

func (State) Type() string { return "state" }

// Stats is a resource usage sample of one container.
type Stats struct {
	Time       time.Time `json:"time"`
	Service    string    `json:"service"`
	Container  string    `json:"container"`
	CPUPercent float64   `json:"cpu_percent"`
	MemBytes   uint64    `json:"mem_bytes"`
	MemLimit   uint64    `json:"mem_limit"`
	// Unavailable says why there is no sample ("no metrics": a cluster
	// without a metrics API); the numbers are then zero.
	Unavailable string `json:"unavailable,omitempty"`
}

func (Stats) Type() string { return "stats" }

// Sync reports one batch of file changes copied into a service's containers.
type Sync struct {
	Time       time.Time `json:"time"`
	Service    string    `json:"service"`
	Containers []string  `json:"containers"`
	Action     string    `json:"action"` // sync | rebuild | restart | sync+restart | sync+exec | initial
	Files      int       `json:"files"`
	Deleted    int       `json:"deleted"`
	Bytes      int64     `json:"bytes"`
	LatencyMS  float64   `json:"latency_ms"`      // first change seen -> copied
	Paths      []string  `json:"paths,omitempty"` // a few of the paths, for display
	Error      string    `json:"error,omitempty"`
	// Note says how changes are watched when that is not the usual way
	// (Action "watch": per-file watches did not fit the file limit, and
	// what is done instead); not a batch.
	Note string `json:"note,omitempty"`
}

// SyncWatch is the Action of a Sync event that carries a Note.
const SyncWatch = "watch"

func (Sync) Type() string { return "sync" }

// Scratch reports a scratch rebuild's phase or result.
type Scratch struct {
	Time     time.Time `json:"time"`
	Project  string    `json:"project"`
	Phase    string    `json:"phase"`            // started | building | starting | checking | bisecting | done
	Status   string    `json:"status,omitempty"` // pass | fail | error (phase done)
	Detail   string    `json:"detail,omitempty"`
	Findings []Finding `json:"findings,omitempty"`
	Report   string    `json:"report,omitempty"` // path of the stored report
}

func (Scratch) Type() string { return "scratch" }

// Finding is a hidden dependency found by a scratch rebuild.
type Finding struct {
	Category string `json:"category"` // build-cache | volume-state | bind-mount | host-env | start-order | unknown
	Service  string `json:"service"`
	Evidence string `json:"evidence"`
	Hint     string `json:"hint"`
}

// Connection reports the state of the link to the Docker engine.
type Connection struct {
	Time      time.Time `json:"time"`
	Host      string    `json:"host"`
	Connected bool      `json:"connected"`
	Error     string    `json:"error,omitempty"`
}

func (Connection) Type() string { return "connection" }

// Forward reports where a port a container publishes on a remote engine
// can be reached on this machine: forwarded over the SSH connection to
// Local, or not forwarded (Error says why, e.g. UDP). Removed says the
// forward went (its container was removed, or forwarding stopped).
type Forward struct {
	Time      time.Time `json:"time"`
	Service   string    `json:"service"`
	Container string    `json:"container"`
	Replica   int       `json:"replica"`
	Port      string    `json:"port"`            // as the engine publishes it: "0.0.0.0:8080->80/tcp"
	Target    uint16    `json:"target"`          // the container's port
	Protocol  string    `json:"protocol"`        // tcp | udp
	Remote    string    `json:"remote"`          // the address dialled on the engine's machine
	Local     string    `json:"local,omitempty"` // "127.0.0.1:8080"; empty when not forwarded
	Error     string    `json:"error,omitempty"`
	Removed   bool      `json:"removed,omitempty"`
}

func (Forward) Type() string { return "forward" }

// Warning is something the user should know that did not stop the work.
type Warning struct {
	Time    time.Time `json:"time"`
	Service string    `json:"service,omitempty"`
	Message string    `json:"message"`
}

func (Warning) Type() string { return "warning" }

// Marshal encodes an event as one JSON object with its type in "type".
func Marshal(e Event) ([]byte, error) {
	body, err := json.Marshal(e)
	if err != nil {
		return nil, err
	}
	typ, _ := json.Marshal(e.Type())
	// body is a JSON object "{...}"; splice the type in front of its fields.
	out := make([]byte, 0, len(body)+len(typ)+10)
	out = append(out, `{"type":`...)
	out = append(out, typ...)
	if len(body) > 2 {
		out = append(out, ',')
	}
	out = append(out, body[1:]...)
	return out, nil
}

// Fanout publishes every event to all of its sinks.
type Fanout []Sink

// Publish sends e to every sink in turn.
func (f Fanout) Publish(e Event) {
	for _, s := range f {
		s.Publish(e)
	}
}

// Recorder keeps every event it receives; tests use it to wait for and
// assert on events.
type Recorder struct {
	mu     sync.Mutex
	events []Event
	notify chan struct{}
}

// Publish stores e.
func (r *Recorder) Publish(e Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	if r.notify != nil {
		close(r.notify)
		r.notify = nil
	}
	r.mu.Unlock()
}

// Events returns a copy of what was recorded so far.
func (r *Recorder) Events() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Event(nil), r.events...)
}

// Wait blocks until match returns true for a recorded event or the
// deadline passes; it returns the matching event.
func (r *Recorder) Wait(deadline time.Time, match func(Event) bool) (Event, bool) {
	seen := 0
	for {
		r.mu.Lock()
		for ; seen < len(r.events); seen++ {
			if match(r.events[seen]) {
				e := r.events[seen]
				r.mu.Unlock()
				return e, true
			}
		}
		if r.notify == nil {
			r.notify = make(chan struct{})
		}
		ch := r.notify
		r.mu.Unlock()
		wait := time.Until(deadline)
		if wait <= 0 {
			return nil, false
		}
		t := time.NewTimer(wait)
		select {
		case <-ch:
			t.Stop()
		case <-t.C:
			return nil, false
		}
	}
}
