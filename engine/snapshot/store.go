// Package snapshot saves a project's named volumes to the user's data
// directory and puts them back: Vagrant's snapshots for a compose stack.
// Volumes are read and written only through the engine's API (a helper
// container that is created, never started, and the archive endpoints),
// so a remote engine needs no docker CLI and no shared filesystem.
//
// Design: `snapshot save/list/restore/rm`: named volumes to tar files (+
// manifest, XXH64 per volume) under `$XDG_DATA_HOME/devstack/snapshots`, read
// and written only through the engine: tar run as execs in a helper container
// made from one of the project's own images (a local engine that sees the
// snapshot directory: tar reads or writes the file there through a bind mount,
// found by a probe file; a remote one: the exec's stream, zstd on this side;
// no image with tar: the archive endpoint); restore stages into a hidden
// directory of each volume while the stack runs, verifies, then stops the
// services for a swap by renames within each volume (one running helper
// stages, swaps, and is handed the removal of the old entries, after which it
// ends and the engine removes it); a journal (the restore's id, its phase, the
// helper, removed before anything runs again) lets the next restore, `restore
// --resume` or `up` finish a swap cut short, or undo a restore cut short while
// staging.
package snapshot

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"time"

	"devstack/engine/state"
)

// Manifest describes one snapshot; it is written last, so a snapshot
// directory without one was never finished.
type Manifest struct {
	Version  int           `json:"version"`
	Name     string        `json:"name"`
	Project  string        `json:"project"`
	Created  time.Time     `json:"created"`
	Engine   string        `json:"engine"`
	Services []string      `json:"services"`
	Volumes  []VolumeEntry `json:"volumes"`
	Images   []ImageEntry  `json:"images,omitempty"`
}

// VolumeEntry is one saved volume: a tar stream of its content, rooted at
// the volume's root, and the SHA-256 of that stream.
type VolumeEntry struct {
	Key      string `json:"key"`      // the compose file's volume key
	Name     string `json:"name"`     // the engine's volume name
	File     string `json:"file"`     // in the snapshot directory
	Encoding string `json:"encoding"` // "tar" or "tar+zstd"
	// The checksum of the uncompressed tar stream: XXH64 (format 2), or
	// SHA256 (format 1). XXH64 misses a damaged file once in 2^64 and
	// costs a tenth of SHA-256's CPU, which the tar beside it needs on
	// a busy machine; neither would seal the file against someone who
	// can rewrite the manifest next to it.
	XXH64  string `json:"xxh64,omitempty"`
	SHA256 string `json:"sha256,omitempty"`
	Bytes  int64  `json:"bytes"`  // of the uncompressed tar stream
	Stored int64  `json:"stored"` // of the file
	Files  int    `json:"files"`  // entries, the root excluded
	// The root's owner and mode, which the engine's archive endpoint
	// does not apply to an existing directory: the swap sets them.
	RootUID  int    `json:"root_uid"`
	RootGID  int    `json:"root_gid"`
	RootMode uint32 `json:"root_mode"`
}

// ImageEntry is one container's filesystem changes, committed as an image
// and saved (docker image save format).
type ImageEntry struct {
	Service   string `json:"service"`
	Number    int    `json:"number"`
	Container string `json:"container"`
	Ref       string `json:"ref"` // the tag it is loaded under
	File      string `json:"file"`
	SHA256    string `json:"sha256"`
	Stored    int64  `json:"stored"`
}

// Size is what the snapshot takes on disk.
func (m *Manifest) Size() int64 {
	var n int64
	for _, v := range m.Volumes {
		n += v.Stored
	}
	for _, i := range m.Images {
		n += i.Stored
	}
	return n
}

const (
	manifestFile    = "manifest.json"
	manifestVersion = 2 // 2: volumes' checksums are XXH64
	partialPrefix   = ".partial-"
	journalFile     = ".restore-journal.json"
)

// Dir is where snapshots live: $XDG_DATA_HOME/devstack/snapshots, else
// ~/.local/share/devstack/snapshots. They are the user's data, not
// state: deleting the state directory must not lose them.
func Dir() (string, error) {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "devstack", "snapshots"), nil
	}
	home, err := os.UserHomeDir()
	if err == nil && !filepath.IsAbs(home) {
		err = fmt.Errorf("HOME is %q, not an absolute path", home)
	}
	if err != nil {
		return "", fmt.Errorf("unable to find a data directory for snapshots (set XDG_DATA_HOME or HOME to an absolute path): %w", err)
	}
	return filepath.Join(home, ".local", "share", "devstack", "snapshots"), nil
}

var validName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)

// CheckName refuses names that would not make a plain directory name.
func CheckName(name string) error {
	if !validName.MatchString(name) {
		return fmt.Errorf("snapshot name %q: use letters, digits, '.', '_' and '-' (not first), at most 128", name)
	}
	return nil
}

// Store is the snapshots of one project (or, for List, of all).
type Store struct {
	Root string // Dir(), or a test's directory
}

// DefaultStore is the store under Dir().
func DefaultStore() (Store, error) {
	d, err := Dir()
	return Store{Root: d}, err
}

func (s Store) projectDir(project string) string { return filepath.Join(s.Root, project) }
func (s Store) dir(project, name string) string  { return filepath.Join(s.Root, project, name) }

// NotFoundError is a snapshot that does not exist.
type NotFoundError struct{ Project, Name string }

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("project %s has no snapshot %q: `devstack snapshot list` shows those there are", e.Project, e.Name)
}

// Load reads a snapshot's manifest.
func (s Store) Load(project, name string) (*Manifest, error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	b, err := state.ReadFile(filepath.Join(s.dir(project, name), manifestFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, &NotFoundError{project, name}
	}
	if err != nil {
		return nil, fmt.Errorf("unable to read snapshot %s: %w", name, err)
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil || m.Name != name || m.Project != project {
		return nil, fmt.Errorf("snapshot %s of project %s is corrupted: its manifest (%s) is unreadable; remove it with `devstack snapshot rm %s`", name, project, filepath.Join(s.dir(project, name), manifestFile), name)
	}
	if m.Version > manifestVersion {
		return nil, fmt.Errorf("snapshot %s was saved by a newer devstack (format %d): update devstack to restore it", name, m.Version)
	}
	return &m, nil
}

// List returns the project's snapshots, oldest first; project "" lists
// every project's.
func (s Store) List(project string) ([]Manifest, error) {
	var projects []string
	if project != "" {
		projects = []string{project}
	} else {
		entries, err := os.ReadDir(s.Root)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("unable to list snapshots: %w", err)
		}
		for _, e := range entries {
			if e.IsDir() {
				projects = append(projects, e.Name())
			}
		}
	}
	var out []Manifest
	for _, p := range projects {
		entries, err := os.ReadDir(s.projectDir(p))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("unable to list snapshots: %w", err)
		}
		for _, e := range entries {
			if !e.IsDir() || !validName.MatchString(e.Name()) {
				continue // partial saves start with a dot
			}
			m, err := s.Load(p, e.Name())
			if err != nil {
				var nf *NotFoundError
				if errors.As(err, &nf) {
					continue
				}
				// Listed all the same, so that rm can be found.
				m = &Manifest{Name: e.Name(), Project: p}
			}
			out = append(out, *m)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Created.Equal(out[j].Created) {
			return out[i].Created.Before(out[j].Created)
		}
		return out[i].Project+"/"+out[i].Name < out[j].Project+"/"+out[j].Name
	})
	return out, nil
}

// Remove deletes a snapshot.
func (s Store) Remove(project, name string) error {
	if err := CheckName(name); err != nil {
		return err
	}
	unlock, err := s.lock(project)
	if err != nil {
		return err
	}
	defer unlock()
	dir := s.dir(project, name)
	if _, err := os.Lstat(dir); errors.Is(err, fs.ErrNotExist) {
		return &NotFoundError{project, name}
	}
	// Moved aside first, so that a crash mid-removal leaves no
	// half-snapshot that looks whole.
	aside := filepath.Join(s.projectDir(project), partialPrefix+"rm-"+name+"-"+randomID())
	if err := os.Rename(dir, aside); err != nil {
		return fmt.Errorf("unable to remove snapshot %s: %w", name, err)
	}
	if err := os.RemoveAll(aside); err != nil {
		return fmt.Errorf("unable to remove snapshot %s: %w", name, err)
	}
	return nil
}

// removeLeftovers deletes the partial directories a killed save or rm
// left behind.
func (s Store) removeLeftovers(project string) {
	entries, _ := os.ReadDir(s.projectDir(project))
	for _, e := range entries {
		if e.IsDir() && len(e.Name()) > len(partialPrefix) && e.Name()[:len(partialPrefix)] == partialPrefix {
			_ = os.RemoveAll(filepath.Join(s.projectDir(project), e.Name()))
		}
	}
}
