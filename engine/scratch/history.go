package scratch

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// StateDir is devstack's state directory: $XDG_STATE_HOME/devstack, else
// ~/.local/state/devstack.
func StateDir() (string, error) {
	if d := os.Getenv("XDG_STATE_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "devstack"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("unable to find a state directory (set XDG_STATE_HOME): %w", err)
	}
	return filepath.Join(home, ".local", "state", "devstack"), nil
}

// History keeps every scratch report in a bbolt file. bbolt commits by
// writing new pages and then switching one of two checksummed meta pages,
// with an fsync before and after, so a process killed mid-write leaves
// the store as of its last commit: every report Add returned for is
// there, whole.
//
// The file is opened for each operation and closed after, because bbolt
// locks it while open: a scheduled `devstack scratch --every` and a
// dashboard can then share one history.
type History struct {
	path string
}

// OpenHistory returns the history kept in the file at path (created on
// first write).
func OpenHistory(path string) *History { return &History{path: path} }

// DefaultHistory is the history under StateDir: scratch.db.
func DefaultHistory() (*History, error) {
	dir, err := StateDir()
	if err != nil {
		return nil, err
	}
	return OpenHistory(filepath.Join(dir, "scratch.db")), nil
}

// Path is the store's file.
func (h *History) Path() string { return h.path }

var bucket = []byte("reports")

// lockWait is how long an operation waits for another process holding
// the file.
const lockWait = 10 * time.Second

func (h *History) open(readOnly bool) (*bolt.DB, error) {
	if !readOnly {
		if err := os.MkdirAll(filepath.Dir(h.path), 0o700); err != nil {
			return nil, fmt.Errorf("unable to create the history's directory: %w", err)
		}
	}
	db, err := bolt.Open(h.path, 0o600, &bolt.Options{Timeout: lockWait, ReadOnly: readOnly})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("the scratch history %s is busy (another devstack holds it); try again", h.path)
	}
	if err != nil {
		return nil, fmt.Errorf("unable to open the scratch history %s: %w", h.path, err)
	}
	return db, nil
}

// Add appends a report.
func (h *History) Add(r *Report) error {
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	db, err := h.open(false)
	if err != nil {
		return err
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucket)
		if err != nil {
			return err
		}
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		key := make([]byte, 8)
		binary.BigEndian.PutUint64(key, seq)
		return b.Put(key, data)
	})
	if err != nil {
		return fmt.Errorf("unable to save the scratch report in %s: %w", h.path, err)
	}
	return nil
}

// List returns the reports, oldest first; only project's when project is
// set. A history that was never written is empty.
func (h *History) List(project string) ([]Report, error) {
	if _, err := os.Stat(h.path); errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	db, err := h.open(true)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	var out []Report
	err = db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucket)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			var r Report
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("report %d is unreadable: %w", binary.BigEndian.Uint64(k), err)
			}
			if project == "" || r.Project == project {
				out = append(out, r)
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("unable to read the scratch history %s: %w", h.path, err)
	}
	return out, nil
}

// WriteReport writes r as JSON into dir (created if needed), named after
// its project, start time and ID, and sets r.Path. The file appears whole
// or not at all: it is written beside and renamed into place.
func WriteReport(dir string, r *Report) (string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("unable to create %s: %w", dir, err)
	}
	name := fmt.Sprintf("%s-%s-%s.json", r.Project, r.Started.UTC().Format("20060102T150405Z"), r.ID)
	path := filepath.Join(dir, name)
	r.Path = path
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(dir, ".report-*")
	if err != nil {
		return "", fmt.Errorf("unable to write the scratch report: %w", err)
	}
	_, err = tmp.Write(append(data, '\n'))
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return "", fmt.Errorf("unable to write the scratch report %s: %w", path, err)
	}
	return path, nil
}
