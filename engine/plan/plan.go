// Package plan compares what a project wants with what the engine holds and
// returns the operations that close the gap: a small DAG where each
// operation is one engine call (or one wait) and names the operations it
// must follow. Planning is pure: no engine, no clock, no randomness, so a
// plan is tested as a few readable lines of text.
package plan

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Kind is what an operation does.
type Kind string

// Operation kinds.
const (
	CreateNetwork Kind = "create network"
	CreateVolume  Kind = "create volume"
	Build         Kind = "build"
	Pull          Kind = "pull"
	Create        Kind = "create"
	Start         Kind = "start"
	Stop          Kind = "stop"
	Remove        Kind = "remove"
	Restart       Kind = "restart"
	WaitHealthy   Kind = "wait healthy"
	WaitCompleted Kind = "wait completed"
	// Confirm waits until the engine itself reports the container running,
	// and healthy if it has a healthcheck. WaitHealthy may be satisfied
	// earlier by running the healthcheck's test directly; Confirm is what
	// `up --wait` promises, so `ps` right after agrees.
	Confirm       Kind = "confirm"
	RemoveNetwork Kind = "remove network"
	RemoveVolume  Kind = "remove volume"
	Orphan        Kind = "orphan" // reported, not removed
)

// Op is one step of a plan.
type Op struct {
	ID      int
	Kind    Kind
	Service string // owning service, if any
	Name    string // container, network, volume or image name
	// For container operations: the replica number and, for operations on
	// an existing container, its ID.
	Number      int
	ContainerID string
	Reason      string // why, for recreations and scale-downs: "config changed"
	Deps        []int  // IDs of operations that must finish first
}

func (o *Op) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d %s %s", o.ID, o.Kind, o.Name)
	if o.Reason != "" {
		fmt.Fprintf(&b, " (%s)", o.Reason)
	}
	if len(o.Deps) > 0 {
		deps := make([]string, len(o.Deps))
		for i, d := range o.Deps {
			deps[i] = strconv.Itoa(d)
		}
		fmt.Fprintf(&b, " after %s", strings.Join(deps, ","))
	}
	return b.String()
}

// Plan is a DAG of operations; Ops[i].ID == i+1 and every dependency
// points to an earlier operation.
type Plan struct {
	Ops []*Op
}

// String renders one operation per line, in order.
func (p *Plan) String() string {
	var b strings.Builder
	for _, o := range p.Ops {
		b.WriteString(o.String())
		b.WriteByte('\n')
	}
	return b.String()
}

// Empty reports whether the plan has nothing to do.
func (p *Plan) Empty() bool { return len(p.Ops) == 0 }

// add appends an operation, dropping zero and duplicate dependencies.
func (p *Plan) add(o Op, deps ...int) *Op {
	o.ID = len(p.Ops) + 1
	seen := map[int]bool{}
	for _, d := range deps {
		if d > 0 && !seen[d] {
			seen[d] = true
			o.Deps = append(o.Deps, d)
		}
	}
	sort.Ints(o.Deps)
	op := &o
	p.Ops = append(p.Ops, op)
	return op
}

// ids returns the IDs of ops.
func ids(ops []*Op) []int {
	out := make([]int, 0, len(ops))
	for _, o := range ops {
		if o != nil {
			out = append(out, o.ID)
		}
	}
	return out
}
