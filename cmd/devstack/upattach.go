package main

import (
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"devstack/cmd/devstack/render"
	"devstack/engine/event"
	"devstack/engine/model"
)

// cascade is what attached up does when a container it follows stops.
type cascade int

const (
	cascadeIgnore  cascade = iota // follow on until every container has stopped
	cascadeExit                   // --abort-on-container-exit: stop the stack at the first exit
	cascadeFailure                // --abort-on-container-failure: at the first non-zero exit
)

// exitPolicy decides, from the exits of the containers attached `up`
// follows, when to stop the stack and with what code to exit. It is
// Compose's rule, plus one: without an abort flag Compose exits 0 once
// every container has stopped, even when one failed; devstack exits with
// the first failure's code so that a CI script notices.
type exitPolicy struct {
	mu      sync.Mutex
	cascade cascade
	from    string // --exit-code-from: this service's first exit is the code

	aborted   bool
	abortCode int  // the exit that stopped the stack
	fromSeen  bool // the --exit-code-from service exited
	fromCode  int
	failure   int // the first non-zero exit (without an abort flag)
}

// stopped records that a container of service exited with code, and says
// whether the stack must be stopped now (true once, the first time).
func (p *exitPolicy) stopped(service string, code int) (abort bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.failure == 0 && code != 0 {
		p.failure = code
	}
	if p.from != "" && service == p.from && !p.fromSeen {
		p.fromSeen, p.fromCode = true, code
	}
	if p.aborted || p.cascade == cascadeIgnore || (p.cascade == cascadeFailure && code == 0) {
		return false
	}
	p.aborted, p.abortCode = true, code
	return true
}

// exitCode is the code `up` exits with once the stack has stopped.
func (p *exitPolicy) exitCode() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.fromSeen:
		return p.fromCode
	case p.cascade != cascadeIgnore:
		return p.abortCode
	}
	return p.failure
}

// attachTargets are the services whose output attached up shows and whose
// exits it watches: those named on the command line (else all), without
// the ones marked attach: false, replaced by --attach when given, less
// --no-attach; the --exit-code-from service is always among them.
func attachTargets(p *model.Project, named, attach, noAttach []string, exitFrom string) ([]string, error) {
	for _, list := range [][]string{attach, noAttach} {
		for _, s := range list {
			if _, ok := p.Service(s); !ok {
				return nil, fmt.Errorf("no such service: %q (the project has %v)", s, p.ServiceNames())
			}
		}
	}
	if exitFrom != "" && slices.Contains(noAttach, exitFrom) {
		return nil, fmt.Errorf("--exit-code-from %s and --no-attach %s contradict each other: its exit code is read from its output's end", exitFrom, exitFrom)
	}
	var out []string
	switch {
	case len(attach) > 0:
		out = slices.Clone(attach)
	case len(named) > 0:
		out = slices.Clone(named)
	default:
		for _, svc := range p.Services {
			if svc.Attach == nil || *svc.Attach {
				out = append(out, svc.Name)
			}
		}
	}
	out = slices.DeleteFunc(out, func(s string) bool { return slices.Contains(noAttach, s) })
	if exitFrom != "" && !slices.Contains(out, exitFrom) {
		out = append(out, exitFrom)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// logStyle renders the log lines of attached up with --timestamps and
// --no-log-prefix, and every other event as the renderer does.
type logStyle struct {
	mu         sync.Mutex
	next       render.Renderer
	out        io.Writer
	timestamps bool
	noPrefix   bool
}

func (l *logStyle) Publish(e event.Event) {
	ev, ok := e.(event.Log)
	if !ok {
		l.next.Publish(e)
		return
	}
	if l.timestamps {
		ev.Line = ev.Time.UTC().Format(time.RFC3339Nano) + " " + ev.Line
	}
	if l.noPrefix {
		l.mu.Lock()
		fmt.Fprintln(l.out, ev.Line)
		l.mu.Unlock()
		return
	}
	l.next.Publish(ev)
}

func (l *logStyle) Close() {}

// startedNames passes events on and notes the containers of the given
// services that up reports started.
type startedNames struct {
	next     event.Sink
	services []string

	mu  sync.Mutex
	got []string
}

func (s *startedNames) Publish(e event.Event) {
	if p, ok := e.(event.Progress); ok && p.Kind == event.KindContainer && p.Action == event.Started &&
		slices.Contains(s.services, p.Service) {
		s.mu.Lock()
		s.got = append(s.got, p.Name)
		s.mu.Unlock()
	}
	s.next.Publish(e)
}

func (s *startedNames) names() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string{}, s.got...)
}
