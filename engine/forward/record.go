package forward

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"devstack/engine/event"
	"devstack/engine/state"
)

// Record is what a forwarding process says of itself in the state
// directory, so that other devstack commands (ps, port, down, the next
// attached command) find where the ports landed and who keeps them.
type Record struct {
	PID        int             `json:"pid"`
	Background bool            `json:"background"` // a `devstack forward` process, which down stops
	Host       string          `json:"host"`
	Project    string          `json:"project"`
	Updated    time.Time       `json:"updated"`
	Forwards   []event.Forward `json:"forwards"`
}

// RecordPath is where the record of a project on an engine is kept.
func RecordPath(host, project string) (string, error) {
	dir, err := state.Dir()
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256([]byte(host))
	return filepath.Join(dir, "forward", project+"-"+hex.EncodeToString(sum[:6])+".json"), nil
}

// WriteRecord replaces the record.
func WriteRecord(r Record) error {
	path, err := RecordPath(r.Host, r.Project)
	if err != nil {
		return err
	}
	if err := state.MkdirAll(filepath.Dir(path)); err != nil {
		return err
	}
	r.Updated = time.Now()
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return state.WriteFile(path, b)
}

// ReadRecord returns the record of a live forwarding process; ok is
// false when there is none (never written, or its process is gone).
func ReadRecord(host, project string) (Record, bool, error) {
	path, err := RecordPath(host, project)
	if err != nil {
		return Record{}, false, err
	}
	b, err := state.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Record{}, false, nil
	}
	if err != nil {
		return Record{}, false, err
	}
	var r Record
	if err := json.Unmarshal(b, &r); err != nil {
		return Record{}, false, fmt.Errorf("%s: %v: remove the file (it is rewritten by the next forward)", path, err)
	}
	if r.Host != host || r.Project != project || !alive(r.PID) {
		return Record{}, false, nil
	}
	return r, true, nil
}

// RemoveRecord removes the record if process pid wrote it.
func RemoveRecord(host, project string, pid int) {
	path, err := RecordPath(host, project)
	if err != nil {
		return
	}
	b, err := state.ReadFile(path)
	if err != nil {
		return
	}
	var r Record
	if json.Unmarshal(b, &r) == nil && r.PID == pid {
		os.Remove(path)
	}
}

// StopBackground ends the background forwarder of a project, if one
// runs, and waits (up to wait) for it to be gone, so that its local ports
// are free for whoever takes over. It reports whether one was stopped.
func StopBackground(host, project string, wait time.Duration) (bool, error) {
	r, ok, err := ReadRecord(host, project)
	if err != nil || !ok || !r.Background {
		return false, err
	}
	p, err := os.FindProcess(r.PID)
	if err != nil {
		return false, nil
	}
	if err := p.Signal(syscall.SIGTERM); err != nil {
		return false, nil
	}
	deadline := time.Now().Add(wait)
	for alive(r.PID) {
		if time.Now().After(deadline) {
			return true, fmt.Errorf("the background forwarder (pid %d) did not stop within %s", r.PID, wait)
		}
		time.Sleep(20 * time.Millisecond) // polling for the process's end, bounded
	}
	RemoveRecord(host, project, r.PID)
	return true, nil
}
