// Package state keeps devstack's own files — scratch history, reports and
// journals, sync records, answers the user gave — in the user's state
// directory, and writes them so that no other user can read them and no
// crash or planted symlink leaves a half-written or misplaced file: every
// directory is 0700, every file 0600, and a file is replaced by writing
// a new one under a unique name (O_EXCL|O_NOFOLLOW), syncing it, and
// renaming it into place.
//
// Design: devstack's own files under the user's state directory (never a
// shared temp dir): dirs 0700, files 0600, replaced whole (unique
// O_EXCL\|O_NOFOLLOW temp file, fsync, rename, fsync of the dir); caches
// (`WriteCache`) skip the fsyncs; used by every writer of state.
package state

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// MkdirAll creates dir and its missing parents 0700, and narrows dir
// itself to 0700 when an earlier devstack made it readable by others.
func MkdirAll(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("unable to create the state directory %s: %w", dir, err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("unable to create the state directory %s: %w", dir, err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("unable to make the state directory %s private: %w", dir, err)
		}
	}
	return nil
}

// OpenFile is os.OpenFile that never follows a symlink in the last
// element of name: a link planted where a state file goes makes it fail.
// It has os.OpenFile's signature, so bbolt can be given it.
func OpenFile(name string, flag int, perm os.FileMode) (*os.File, error) {
	return os.OpenFile(name, flag|noFollow, perm)
}

// ReadFile reads a state file, without following a symlink.
func ReadFile(name string) ([]byte, error) {
	f, err := OpenFile(name, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

// Create makes a new state file (0600) that must not exist yet, and
// syncs its directory so that the file outlives a crash.
func Create(name string) (*os.File, error) {
	f, err := OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	if err := SyncDir(filepath.Dir(name)); err != nil {
		f.Close()
		os.Remove(name)
		return nil, err
	}
	return f, nil
}

// WriteFile replaces the file at path with data, whole or not at all.
func WriteFile(path string, data []byte) error {
	return Write(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// tempPrefix starts the names of the files Write writes beside their
// target; Leftover recognises them.
const tempPrefix = ".tmp-"

// Write replaces the file at path with what fill writes, whole or not at
// all: fill writes a new file beside it under a unique name, created
// O_EXCL|O_NOFOLLOW so that nothing already there (a link planted to
// make devstack write elsewhere) is followed or reused; the file is
// synced, renamed over path, and the directory synced, so that after a
// crash path holds the old content or the new, never part of either.
func Write(path string, fill func(io.Writer) error) error {
	return write(path, fill, true)
}

// WriteCache is Write without the syncs, for a cache: a file a crash may
// lose or leave empty (its reader then rebuilds it) but that no reader
// may ever see half-written or misplaced, and that is rewritten too often
// to wait twice for a busy disk each time.
func WriteCache(path string, fill func(io.Writer) error) error {
	return write(path, fill, false)
}

func write(path string, fill func(io.Writer) error, sync bool) error {
	dir := filepath.Dir(path)
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return fmt.Errorf("unable to write %s: %w", path, err)
	}
	tmp := filepath.Join(dir, tempPrefix+filepath.Base(path)+"-"+hex.EncodeToString(b[:]))
	f, err := OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("unable to write %s: %w", path, err)
	}
	err = fill(f)
	if err == nil && sync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("unable to write %s: %w", path, err)
	}
	if !sync {
		return nil
	}
	if err := SyncDir(dir); err != nil {
		return fmt.Errorf("unable to write %s: %w", path, err)
	}
	return nil
}

// Leftover reports whether name (a file name, no directory) is a
// temporary file Write left when the process died mid-write.
func Leftover(name string) bool { return strings.HasPrefix(name, tempPrefix) }

// SyncDir flushes a directory's entries (a file created or renamed in
// it) to disk.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("unable to sync the directory %s: %w", dir, err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	// Some file systems cannot sync a directory; their renames are
	// then as durable as they get.
	if err != nil && !errors.Is(err, syscall.EINVAL) && !dirSyncUnsupported(err) {
		return fmt.Errorf("unable to sync the directory %s: %w", dir, err)
	}
	return nil
}
