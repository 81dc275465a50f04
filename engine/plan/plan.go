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
	// Rename gives a replacement its final name once the container it
	// replaces is gone (see Replacement).
	Rename        Kind = "rename"
	WaitHealthy   Kind = "wait healthy"
	WaitCompleted Kind = "wait completed"
	// Confirm waits until the engine itself reports the container running,
	// and healthy if it has a healthcheck. WaitHealthy may be satisfied
	// earlier by running the healthcheck's test directly; Confirm is what
	// `up --wait` promises, so `ps` right after agrees.
	Confirm       Kind = "confirm"
	RemoveNetwork Kind = "remove network"
	RemoveVolume  Kind = "remove volume"
	RemoveImage   Kind = "remove image"
	Orphan        Kind = "orphan" // reported, not removed
	Pause         Kind = "pause"
	Unpause       Kind = "unpause"
	// Kill sends Op.Signal to a container.
	Kill Kind = "kill"
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

	// Replaces, on a Create, is the container the new one takes the place
	// of; nil for a container that replaces none.
	Replaces *Replacement
	// To, on a Rename, is the name the container takes.
	To string
	// Signal, on a Kill, is the signal sent ("" for SIGKILL).
	Signal string
}

// Replacement describes a recreation the way Compose makes one, so that
// nothing in the old container's anonymous volumes is lost and nothing is
// touched when the new container cannot be made: the replacement is
// created under a temporary name (TempName) while the old container
// still runs, mounting the old container's anonymous volumes; only then
// is the old one stopped and removed (its volumes kept), and the new one
// renamed into place and started.
type Replacement struct {
	ID   string // the replaced container
	Name string // its name
	// RenewVolumes gives the new container fresh anonymous volumes
	// instead of the old one's (up --renew-anon-volumes).
	RenewVolumes bool
}

// TempName is the name a replacement is created under while the
// container it replaces still holds the name: Compose's
// <old ID prefix>_<name>, so that both tools recognise it.
func TempName(oldID, name string) string {
	if len(oldID) > 12 {
		oldID = oldID[:12]
	}
	return oldID + "_" + name
}

func (o *Op) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d %s %s", o.ID, o.Kind, o.Name)
	if r := o.Replaces; r != nil {
		volumes := "keeping its anonymous volumes"
		if r.RenewVolumes {
			volumes = "with new anonymous volumes"
		}
		fmt.Fprintf(&b, " replacing %s, %s", r.Name, volumes)
	}
	if o.To != "" {
		fmt.Fprintf(&b, " to %s", o.To)
	}
	if o.Signal != "" {
		fmt.Fprintf(&b, " with %s", o.Signal)
	}
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

// Validate checks what the executor relies on: each op's ID is its
// position, dependencies point to earlier ops, and the typed fields its
// kind needs are set. Plans built outside the planner pass through it too.
func (p *Plan) Validate() error {
	for i, o := range p.Ops {
		if o.ID != i+1 {
			return fmt.Errorf("invalid plan: op %d has ID %d", i+1, o.ID)
		}
		for _, d := range o.Deps {
			if d < 1 || d >= o.ID {
				return fmt.Errorf("invalid plan: %q follows op %d, which does not come before it", o, d)
			}
		}
		switch {
		case o.Kind == Rename && o.To == "":
			return fmt.Errorf("invalid plan: %q names no new name", o)
		case o.Replaces != nil && (o.Kind != Create || o.Replaces.ID == ""):
			return fmt.Errorf("invalid plan: %q replaces a container but is not a create of one with an ID", o)
		}
	}
	return nil
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
