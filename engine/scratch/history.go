package scratch

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"devstack/engine/state"
)

// StateDir is devstack's state directory (see state.Dir).
func StateDir() (string, error) { return state.Dir() }

// History keeps every scratch report in a bbolt file. bbolt commits by
// writing new pages and then switching one of two checksummed meta pages,
// with an fsync before and after, so a process killed mid-write leaves
// the store as of its last commit: every report Add returned for is
// there, whole.
//
// The file is opened for each operation and closed after, because bbolt
// locks it while open: a scheduled `devstack scratch --every` and a
// dashboard can then share one history.
//
// A file damaged some other way (a disk error, a copy cut short, a
// truncation) is found before bbolt maps it (see checkBolt), moved aside
// as PATH.broken, and a new history started: a damaged history costs
// the old reports, never a crash of the dashboard that keeps it.
type History struct {
	path string
}

// OpenHistory returns the history kept in the file at path (created on
// first write).
func OpenHistory(path string) *History { return &History{path: path} }

// DefaultHistory is the history under StateDir: scratch.db.
func DefaultHistory() (*History, error) {
	dir, err := state.Dir()
	if err != nil {
		return nil, err
	}
	return OpenHistory(filepath.Join(dir, "scratch.db")), nil
}

// Path is the store's file.
func (h *History) Path() string { return h.path }

// DamagedError says that the history's file was damaged and has been
// moved aside; the operation that returns it went on with a new, empty
// history (Add stored its report there).
type DamagedError struct {
	Path, MovedTo string
	Reason        error
}

func (e *DamagedError) Error() string {
	return fmt.Sprintf("scratch history damaged at %s: moved aside to %s; starting a new one (%v)", e.Path, e.MovedTo, e.Reason)
}

func (e *DamagedError) Unwrap() error { return e.Reason }

var bucket = []byte("reports")

// lockWait is how long an operation waits for another process holding
// the file.
const lockWait = 10 * time.Second

// Add appends a report. A *DamagedError means the report is stored, in a
// new history that replaced a damaged one.
func (h *History) Add(r *Report) error {
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if err := state.MkdirAll(filepath.Dir(h.path)); err != nil {
		return fmt.Errorf("unable to save the scratch report: %w", err)
	}
	return h.use(false, func(db *bolt.DB) error {
		err := db.Update(func(tx *bolt.Tx) error {
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
	})
}

// List returns the reports, oldest first; only project's when project is
// set. A history that was never written is empty; so is one that was
// damaged, with a *DamagedError.
func (h *History) List(project string) ([]Report, error) {
	var out []Report
	err := h.use(true, func(db *bolt.DB) error {
		out = nil
		return db.View(func(tx *bolt.Tx) error {
			b := tx.Bucket(bucket)
			if b == nil {
				return nil
			}
			return b.ForEach(func(k, v []byte) error {
				var r Report
				if err := json.Unmarshal(v, &r); err != nil {
					return &damage{fmt.Errorf("report %d is unreadable: %w", binary.BigEndian.Uint64(k), err)}
				}
				if project == "" || r.Project == project {
					out = append(out, r)
				}
				return nil
			})
		})
	})
	var d *DamagedError
	if err != nil && !errors.As(err, &d) {
		return nil, fmt.Errorf("unable to read the scratch history %s: %w", h.path, err)
	}
	return out, err
}

// damage is what is wrong with a history's file.
type damage struct{ err error }

func (d *damage) Error() string { return d.err.Error() }
func (d *damage) Unwrap() error { return d.err }

// use checks the file, moves it aside if it is damaged, and runs fn on
// the store opened read-only or not. A read-only use of a history that
// does not exist (or is empty) does not run fn. Damage that only shows
// while fn runs (bbolt panicking or faulting on it, or fn finding an
// unreadable report) moves the file aside too, and fn runs once more on
// the new history. The *DamagedError is returned, joined with fn's error.
func (h *History) use(readOnly bool, fn func(*bolt.DB) error) error {
	var moved *DamagedError
	result := func(err error) error {
		if moved == nil {
			return err
		}
		return errors.Join(moved, err)
	}
	// Three attempts: the file found damaged, its replacement found
	// damaged as well (another process wrote one meanwhile), then give up.
	for attempt := 0; attempt < 3; attempt++ {
		fi, err := os.Lstat(h.path)
		exists := err == nil
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("unable to open the scratch history %s: %w", h.path, err)
		}
		if readOnly && (!exists || fi.Size() == 0) {
			return result(nil) // nothing written yet: an empty history
		}
		if exists && fi.Size() > 0 {
			if err := h.check(); err != nil {
				var d *damage
				if !errors.As(err, &d) {
					return err
				}
				if moved, err = h.moveAside(d.err); err != nil {
					return err
				}
				continue
			}
		}
		err = h.session(readOnly, fn)
		var d *damage
		if errors.As(err, &d) && exists && fi.Size() > 0 {
			if moved, err = h.moveAside(d.err); err != nil {
				return err
			}
			continue
		}
		return result(err)
	}
	return result(fmt.Errorf("unable to use the scratch history %s: it was found damaged again and again", h.path))
}

// check runs checkBolt on the file, holding the lock bbolt's readers
// hold, so that a writer in another process is not caught mid-commit.
func (h *History) check() error {
	f, err := state.OpenFile(h.path, os.O_RDONLY, 0)
	if err != nil {
		return fmt.Errorf("unable to open the scratch history %s: %w", h.path, err)
	}
	defer f.Close()
	if err := lockShared(f, lockWait); err != nil {
		return fmt.Errorf("the scratch history %s is busy (another devstack holds it); try again: %w", h.path, err)
	}
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("unable to open the scratch history %s: %w", h.path, err)
	}
	if err := checkBolt(f, fi.Size()); err != nil {
		return &damage{err}
	}
	return nil
}

// session opens the store with bbolt, runs fn and closes it. checkBolt
// has vetted the file; should bbolt still panic or fault on it (the
// runtime turns a fault into a panic while SetPanicOnFault is on, which
// is meant for mapped files), the panic comes back as damage.
func (h *History) session(readOnly bool, fn func(*bolt.DB) error) (err error) {
	var file *os.File
	opts := &bolt.Options{Timeout: lockWait, ReadOnly: readOnly,
		OpenFile: func(name string, flag int, perm os.FileMode) (*os.File, error) {
			f, err := state.OpenFile(name, flag, perm)
			file = f
			return f, err
		}}
	defer func() {
		if v := recover(); v != nil {
			// The store is abandoned, not closed: bbolt may hold its own
			// locks where it panicked, and Close would wait on them. The
			// file's closing frees the file lock; the mapping stays.
			if file != nil {
				file.Close()
			}
			err = &damage{fmt.Errorf("bbolt failed on it: %v", v)}
		}
	}()
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	db, err := bolt.Open(h.path, 0o600, opts)
	if errors.Is(err, berrors.ErrTimeout) {
		return fmt.Errorf("the scratch history %s is busy (another devstack holds it); try again", h.path)
	}
	if err != nil {
		return fmt.Errorf("unable to open the scratch history %s: %w", h.path, err)
	}
	err = fn(db)
	return errors.Join(err, db.Close())
}

// moveAside renames the damaged file to PATH.broken (PATH.broken.N when
// that exists: nothing is overwritten) and returns the *DamagedError
// that says so.
func (h *History) moveAside(reason error) (*DamagedError, error) {
	for n := 0; n < 100; n++ {
		to := h.path + ".broken"
		if n > 0 {
			to += fmt.Sprintf(".%d", n)
		}
		// A hard link and a remove: unlike rename, link never replaces
		// what is already there.
		err := os.Link(h.path, to)
		if errors.Is(err, os.ErrExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("the scratch history %s is damaged (%v) and could not be moved aside: %w", h.path, reason, err)
		}
		if err := os.Remove(h.path); err != nil {
			return nil, fmt.Errorf("the scratch history %s is damaged (%v) and could not be moved aside: %w", h.path, reason, err)
		}
		return &DamagedError{Path: h.path, MovedTo: to, Reason: reason}, nil
	}
	return nil, fmt.Errorf("the scratch history %s is damaged (%v), and %s.broken.1 to .99 exist: remove them", h.path, reason, h.path)
}

// WriteReport writes r as JSON into dir (created if needed), named after
// its project, start time and ID, and sets r.Path. The file appears whole
// or not at all: it is written beside and renamed into place.
func WriteReport(dir string, r *Report) (string, error) {
	if err := state.MkdirAll(dir); err != nil {
		return "", err
	}
	name := fmt.Sprintf("%s-%s-%s.json", r.Project, r.Started.UTC().Format("20060102T150405Z"), r.ID)
	path := filepath.Join(dir, name)
	r.Path = path
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return "", err
	}
	if err := state.WriteFile(path, append(data, '\n')); err != nil {
		return "", fmt.Errorf("unable to write the scratch report: %w", err)
	}
	return path, nil
}
