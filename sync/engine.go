// Package sync is devstack's one-way live sync: it watches the host paths
// of develop.watch rules, batches changes, and copies them into every
// container of the service through the engine API (no shared filesystem,
// so remote engines work), or rebuilds/restarts the service as the rule
// says. The host tree is only ever read.
//
// The work is split into small packages with one job each: ignore (which
// paths a rule syncs), watch (recursive fsnotify), batch (quiet window and
// max wait on an injectable clock), pack (safe tar streams), manifest
// (listing and comparing both sides), record (what devstack synced, per
// container) and container (the transports into one container). This
// package wires them to the engine through the narrow Engine interface.
package sync

import (
	"context"
	"io"
	"time"

	"devstack/engine/event"
	"devstack/engine/model"
	"devstack/sync/clock"
	"devstack/sync/container"
)

// Container is a running container of a service.
type Container struct {
	ID   string
	Name string
	// User is the user the container runs as ("", "1000", "1000:1000",
	// "node", "node:staff"): synced files are given its uid and gid.
	User string
	// Started is when the container last started (zero if unknown): a
	// State event with the same StartedAt is not a new start.
	Started time.Time
}

// ExecSpec describes one command run in a container.
type ExecSpec = container.ExecSpec

// Engine is what live sync needs from the engine; the CLI adapts the
// engine to it. Every method must be safe for concurrent use.
type Engine interface {
	// Containers returns the running containers of a service.
	Containers(ctx context.Context, service string) ([]Container, error)
	// CopyTo extracts an uncompressed tar stream into dir in container id.
	CopyTo(ctx context.Context, id, dir string, tar io.Reader) error
	// CopyFrom returns a tar stream of path in container id.
	CopyFrom(ctx context.Context, id, path string) (io.ReadCloser, error)
	// Exec runs a command in container id, streaming stdin while it runs,
	// and returns its exit code once its output ends.
	Exec(ctx context.Context, id string, x ExecSpec) (int, error)
	// Rebuild builds the service's image again and recreates its
	// containers; the rest of the project keeps running.
	Rebuild(ctx context.Context, service string) error
	// Restart restarts the service's containers.
	Restart(ctx context.Context, service string) error
}

// Clock is the time source batching and retries use.
type Clock = clock.Clock

// Transports into containers.
const (
	TransportAuto    = ""        // exec when the image has sh, tar, dd, xargs, find and stat; else archive
	TransportExec    = "exec"    // one long-lived exec per container, batches on its stdin
	TransportArchive = "archive" // the engine's archive API, one call per batch
)

// Options configure a Syncer.
type Options struct {
	Project *model.Project
	// Services limits sync to these services; empty means every service
	// with develop.watch rules.
	Services []string
	Engine   Engine
	Sink     event.Sink // default: event.Discard
	Clock    Clock      // default: the wall clock
	// StateDir keeps the per-container records of synced paths; default
	// DefaultStateDir(project). "-" keeps them in memory only.
	StateDir string
	// Transport forces a transport; default TransportAuto.
	Transport string
	// Compress sends batches gzipped: set it when the engine is on
	// another machine (the link is slower than compressing).
	Compress bool
	// HugeBatch is the number of changed paths above which a batch (a
	// branch switch) becomes a resync of the service; default 1000.
	HugeBatch int
	// Refresh is how often the list of running containers is checked
	// when nothing else says it changed (ContainerStarted, Publish, a
	// failed batch); default 5s.
	Refresh time.Duration
}
