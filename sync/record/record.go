// Package record remembers, per container, which paths devstack synced
// into it. That is how an initial sync tells "the host deleted this file"
// (synced before: remove it) from "the container made it" (never synced:
// leave it alone). The record is kept on disk, keyed by container ID, so
// it survives devstack restarts and dies with the container.
package record

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"devstack/engine/state"
)

// Record is the set of container paths (absolute) synced into one
// container, with their kinds ('f', 'd', 'l'). Safe for concurrent use.
type Record struct {
	mu    sync.Mutex
	paths map[string]byte // guarded by mu
	file  string          // "" when kept in memory only
	log   *os.File        // append-only log; guarded by mu
	buf   *bufio.Writer   // guarded by mu
	ops   int             // log lines since the last snapshot; guarded by mu
}

// Open loads the record of container id from dir ("" keeps it in memory).
func Open(dir, id string) (*Record, error) {
	r := &Record{paths: map[string]byte{}}
	if dir == "" {
		return r, nil
	}
	if id == "" || strings.ContainsAny(id, `/\.`) {
		return nil, fmt.Errorf("bad container id %q", id)
	}
	if err := state.MkdirAll(dir); err != nil {
		return nil, fmt.Errorf("unable to keep the sync record: %w", err)
	}
	r.file = filepath.Join(dir, id+".rec")
	if b, err := state.ReadFile(r.file); err == nil {
		r.ops = r.replay(b)
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("unable to read the sync record: %w", err)
	}
	if err := r.snapshotLocked(); err != nil {
		return nil, err
	}
	return r, nil
}

// Read loads the record of container id from dir without writing
// anything: later changes stay in memory.
func Read(dir, id string) (*Record, error) {
	r := &Record{paths: map[string]byte{}}
	if dir == "" {
		return r, nil
	}
	if id == "" || strings.ContainsAny(id, `/\.`) {
		return nil, fmt.Errorf("bad container id %q", id)
	}
	b, err := state.ReadFile(filepath.Join(dir, id+".rec"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("unable to read the sync record: %w", err)
	}
	r.replay(b)
	return r, nil
}

// The log is a sequence of NUL-terminated lines: "+<kind><path>" adds,
// "-<path>" removes a path and everything below it. Paths cannot hold NUL.
func (r *Record) replay(b []byte) int {
	n := 0
	for len(b) > 0 {
		i := bytes.IndexByte(b, 0)
		if i < 0 {
			break // a torn last line: ignore it
		}
		line := string(b[:i])
		b = b[i+1:]
		n++
		switch {
		case len(line) > 2 && line[0] == '+':
			r.paths[line[2:]] = line[1]
		case len(line) > 1 && line[0] == '-':
			r.removeLocked(line[1:])
		}
	}
	return n
}

// Has reports whether p was synced.
func (r *Record) Has(p string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.paths[p]
	return ok
}

// Kind returns the kind p was synced as (0 when it was not).
func (r *Record) Kind(p string) byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.paths[p]
}

// Len returns how many paths are recorded.
func (r *Record) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.paths)
}

// Under returns the recorded paths strictly below dir.
func (r *Record) Under(dir string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	prefix := strings.TrimSuffix(dir, "/") + "/"
	var out []string
	for p := range r.paths {
		if strings.HasPrefix(p, prefix) {
			out = append(out, p)
		}
	}
	return out
}

// Put records paths as synced.
func (r *Record) Put(paths map[string]byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for p, k := range paths {
		r.paths[p] = k
		r.writeLocked("+" + string(k) + p)
	}
	return r.flushLocked()
}

// Delete forgets paths and everything below them.
func (r *Record) Delete(paths []string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range paths {
		r.removeLocked(p)
		r.writeLocked("-" + p)
	}
	return r.flushLocked()
}

// Replace makes the record exactly paths (after a full sync).
func (r *Record) Replace(paths map[string]byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.paths = make(map[string]byte, len(paths))
	for p, k := range paths {
		r.paths[p] = k
	}
	return r.snapshotLocked()
}

// removeLocked drops p and, when it was a directory, what is below it.
func (r *Record) removeLocked(p string) {
	k, ok := r.paths[p]
	delete(r.paths, p)
	if ok && k != 'd' {
		return
	}
	prefix := p + "/"
	for q := range r.paths {
		if strings.HasPrefix(q, prefix) {
			delete(r.paths, q)
		}
	}
}

func (r *Record) writeLocked(line string) {
	if r.buf == nil {
		return
	}
	r.buf.WriteString(line)
	r.buf.WriteByte(0)
	r.ops++
}

func (r *Record) flushLocked() error {
	if r.buf == nil {
		return nil
	}
	if r.ops > 2*len(r.paths)+1000 {
		return r.snapshotLocked()
	}
	if err := r.buf.Flush(); err != nil {
		return fmt.Errorf("unable to write the sync record: %w", err)
	}
	return nil
}

// snapshotLocked rewrites the log as the current set. state.Write
// writes it beside under a unique name and renames it into place, so a
// crash leaves the old or the new record, never half of one, and no link
// planted in the directory is written through.
func (r *Record) snapshotLocked() error {
	if r.file == "" {
		return nil
	}
	if r.log != nil {
		r.log.Close()
		r.log, r.buf = nil, nil
	}
	err := state.Write(r.file, func(f io.Writer) error {
		w := bufio.NewWriter(f)
		for p, k := range r.paths {
			w.WriteString("+" + string(k) + p)
			w.WriteByte(0)
		}
		return w.Flush()
	})
	if err != nil {
		return fmt.Errorf("unable to write the sync record: %w", err)
	}
	r.log, err = state.OpenFile(r.file, os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("unable to write the sync record: %w", err)
	}
	r.buf = bufio.NewWriter(r.log)
	r.ops = 0
	return nil
}

// Close flushes and closes the log.
func (r *Record) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.log == nil {
		return nil
	}
	err := r.buf.Flush()
	err = errors.Join(err, r.log.Close())
	r.log, r.buf = nil, nil
	return err
}

// Prune removes records not touched for longer than age (their
// containers are long gone), and the temporary files of snapshots a
// crash interrupted.
func Prune(dir string, age time.Duration) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	cutoff := time.Now().Add(-age)
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".rec") && !state.Leftover(e.Name()) {
			continue
		}
		if fi, err := e.Info(); err == nil && fi.Mode().IsRegular() && fi.ModTime().Before(cutoff) {
			_ = os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

var _ io.Closer = (*Record)(nil)
