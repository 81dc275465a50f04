// Package render turns the engine's events into text for a terminal or a
// pipe: plain prefixed lines, JSON lines, or almost nothing (quiet).
package render

import (
	"fmt"
	"hash/fnv"
	"io"
	"strings"
	"sync"
	"time"

	"devstack/engine/event"
)

// Renderer is an event sink that writes somewhere and can be flushed.
type Renderer interface {
	event.Sink
	Close()
}

// Plain writes progress lines like compose's plain progress and log lines
// prefixed by their container, coloured per service when colour is on.
type Plain struct {
	mu       sync.Mutex
	out, err io.Writer
	color    bool
	width    int // widest log prefix so far, so columns line up
	lastStep map[string]string
}

// NewPlain returns a plain renderer writing logs to out and progress to err.
func NewPlain(out, err io.Writer, color bool) *Plain {
	return &Plain{out: out, err: err, color: color, lastStep: map[string]string{}}
}

// Publish renders one event.
func (r *Plain) Publish(e event.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch e := e.(type) {
	case event.Progress:
		fmt.Fprintln(r.err, progressLine(e))
	case event.BuildStep:
		// One line per build step (BuildKit: when it starts and when it
		// ends), not per output line: the full output is in the JSON
		// stream and in error messages.
		if line := BuildStepEnd(e); line != "" {
			fmt.Fprintf(r.err, "%s %s\n", r.paint(e.Service, "build "+e.Service), line)
		} else if e.Step != "" && r.lastStep[e.Service] != e.Step {
			r.lastStep[e.Service] = e.Step
			fmt.Fprintf(r.err, "%s %s\n", r.paint(e.Service, "build "+e.Service), e.Step)
		}
	case event.Log:
		prefix := e.Container
		if prefix == "" {
			prefix = e.Service
		}
		if len(prefix) > r.width {
			r.width = len(prefix)
		}
		pad := strings.Repeat(" ", r.width-len(prefix))
		fmt.Fprintf(r.out, "%s%s | %s\n", r.paint(e.Service, prefix), pad, e.Line)
	case event.Sync:
		fmt.Fprintln(r.err, SyncLine(e))
	case event.Warning:
		if e.Service != "" {
			fmt.Fprintf(r.err, "warning: service %s: %s\n", e.Service, e.Message)
		} else {
			fmt.Fprintf(r.err, "warning: %s\n", e.Message)
		}
	case event.Forward:
		if line := ForwardLine(e); line != "" {
			fmt.Fprintln(r.err, line)
		}
	case event.Connection:
		if !e.Connected {
			fmt.Fprintf(r.err, "engine %s unreachable: %s\n", e.Host, e.Error)
		} else {
			fmt.Fprintf(r.err, "engine %s connected\n", e.Host)
		}
	case event.Scratch:
		line := fmt.Sprintf("scratch %s: %s", e.Project, e.Phase)
		if e.Status != "" {
			line += " " + e.Status
		}
		if e.Detail != "" {
			line += " (" + e.Detail + ")"
		}
		fmt.Fprintln(r.err, line)
	}
}

// BuildStepEnd is the line of a BuildKit step that ended ("[2/3] RUN
// make  DONE 1.2s", "CACHED", "ERROR: ..."), "" for other build events.
func BuildStepEnd(e event.BuildStep) string {
	switch e.Status {
	case event.StepDone:
		return fmt.Sprintf("%s  DONE %.1fs", e.Step, e.Duration)
	case event.StepCached:
		return e.Step + "  CACHED"
	case event.StepFailed:
		return fmt.Sprintf("%s  ERROR: %s", e.Step, e.Error)
	case event.StepUpToDate:
		return "up to date: " + e.Step
	}
	return ""
}

// Close flushes nothing: Plain writes through.
func (r *Plain) Close() {}

func progressLine(e event.Progress) string {
	kind := strings.ToUpper(e.Kind[:1]) + e.Kind[1:]
	line := fmt.Sprintf("%s %s  %s", kind, e.Name, capitalise(e.Action))
	if e.Detail != "" {
		line += " (" + e.Detail + ")"
	}
	if e.Duration > 0 {
		line += fmt.Sprintf("  %.1fs", e.Duration)
	}
	if e.Error != "" {
		line += ": " + e.Error
	}
	return line
}

// SyncLine is the one-line summary of a sync batch.
func SyncLine(e event.Sync) string {
	if e.Action == event.SyncWatch {
		return fmt.Sprintf("sync %s: watching: %s", e.Service, e.Note)
	}
	line := fmt.Sprintf("sync %s: %s %d file(s)", e.Service, e.Action, e.Files)
	if e.Deleted > 0 {
		line += fmt.Sprintf(", %d deleted", e.Deleted)
	}
	line += fmt.Sprintf(", %s in %.0f ms", bytesHuman(e.Bytes), e.LatencyMS)
	if e.Error != "" {
		line += ": " + e.Error
	}
	return line
}

func bytesHuman(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

func capitalise(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// palette holds the ANSI colours given to services, picked by a hash of
// the service name so a service keeps its colour across runs.
var palette = []string{"36", "33", "32", "35", "34", "96", "93", "92", "95", "94"}

func (r *Plain) paint(service, text string) string {
	if !r.color {
		return text
	}
	return "\x1b[" + ServiceColor(service) + "m" + text + "\x1b[0m"
}

// ServiceColor is the ANSI colour code of a service.
func ServiceColor(service string) string {
	h := fnv.New32a()
	h.Write([]byte(service))
	return palette[h.Sum32()%uint32(len(palette))]
}

// JSON writes one JSON object per event and line.
type JSON struct {
	mu  sync.Mutex
	out io.Writer
}

// NewJSON returns a renderer of JSON lines.
func NewJSON(out io.Writer) *JSON { return &JSON{out: out} }

// Publish writes e as one line.
func (r *JSON) Publish(e event.Event) {
	b, err := event.Marshal(e)
	if err != nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.out.Write(append(b, '\n'))
}

// Close does nothing.
func (r *JSON) Close() {}

// Quiet writes only warnings and failures.
type Quiet struct {
	mu  sync.Mutex
	err io.Writer
}

// NewQuiet returns a renderer that stays silent but for problems.
func NewQuiet(err io.Writer) *Quiet { return &Quiet{err: err} }

// Publish writes e only if it reports a problem.
func (r *Quiet) Publish(e event.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch e := e.(type) {
	case event.Warning:
		fmt.Fprintf(r.err, "warning: %s\n", e.Message)
	case event.Progress:
		if e.Error != "" {
			fmt.Fprintln(r.err, progressLine(e))
		}
	}
}

// Close does nothing.
func (r *Quiet) Close() {}

// ForwardLine says where a remote engine's port landed on this machine
// ("forward api-1 80/tcp: 127.0.0.1:8080 (engine 0.0.0.0:8080)"), or why
// it did not; a forward that went says nothing (down says enough).
func ForwardLine(e event.Forward) string {
	if e.Removed {
		return ""
	}
	who := fmt.Sprintf("%s-%d", e.Service, e.Replica)
	if e.Local == "" {
		return fmt.Sprintf("forward %s %d/%s: %s", who, e.Target, e.Protocol, e.Error)
	}
	return fmt.Sprintf("forward %s %d/%s: %s (engine %s)", who, e.Target, e.Protocol, e.Local, strings.SplitN(e.Port, "->", 2)[0])
}

// Since formats a duration for tables like `ps`: "3s", "5m", "2h".
func Since(t time.Time, now time.Time) string {
	if t.IsZero() {
		return ""
	}
	d := now.Sub(t)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}
