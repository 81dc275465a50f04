package watch

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// Mode is how a Watcher learns of changes.
type Mode int

const (
	// PerFile: the kernel reports every change (inotify and Windows watch
	// a directory's files through the directory; kqueue needs one open
	// file per watched file, which fsnotify opens).
	PerFile Mode = iota
	// Directories: only directories are watched (one open file each);
	// a directory that changes is rescanned at once, and every directory
	// is rescanned on a period for files written in place, which a
	// directory's kqueue watch does not see.
	Directories
	// Poll: not even the directories fit: every directory is rescanned on
	// a period.
	Poll
)

// Strategy is the mode a Watcher chose and why.
type Strategy struct {
	Mode Mode
	// PerFileCost is true where a per-file watch holds an open file
	// (kqueue: macOS).
	PerFileCost bool
	// Files and Dirs were counted below the roots (directories SkipDir
	// skips and what is in them are not), when PerFileCost.
	Files, Dirs int
	// Limit is the process's open-file limit (RLIMIT_NOFILE, its soft
	// value after raising it to the hard one); Budget the part of it the
	// watches may take, the rest being left to the engine's connections,
	// log streams and files being read.
	Limit, Budget int
	// Every is the rescan period (Directories and Poll).
	Every time.Duration
}

// Fallback reports whether per-file watches did not fit.
func (s Strategy) Fallback() bool { return s.Mode != PerFile }

func (s Strategy) String() string {
	switch {
	case s.Mode == PerFile && !s.PerFileCost:
		return "every change reported by the kernel (watches of directories cover their files)"
	case s.Mode == PerFile:
		return fmt.Sprintf("one watch per file (kqueue): %d files and %d directories, within the limit of %d open files", s.Files, s.Dirs, s.Limit)
	}
	why := fmt.Sprintf("per-file watches of %d files and %d directories (kqueue holds an open file for each) do not fit the limit of %d open files", s.Files, s.Dirs, s.Limit)
	if s.Mode == Directories {
		return fmt.Sprintf("%s: watching the %d directories instead, rescanning a directory when it changes and all of them every %v for files written in place", why, s.Dirs, s.Every)
	}
	return fmt.Sprintf("%s, nor do watches of the directories alone: rescanning every directory every %v", why, s.Every)
}

// plan picks the mode for the roots. Where a watch costs no open file
// per file it is always PerFile and nothing is counted.
func plan(roots []string, skipDir func(string) bool, perFileCost bool, limit int, every time.Duration) Strategy {
	s := Strategy{PerFileCost: perFileCost, Limit: limit, Every: every}
	if !perFileCost {
		return s
	}
	// A quarter of the limit (at least 128 files) stays with the rest of
	// devstack.
	s.Budget = limit - max(128, limit/4)
	for _, r := range roots {
		s.Dirs++ // the root's parent, watched to see the root come and go
		_ = filepath.WalkDir(r, func(path string, d fs.DirEntry, err error) error {
			switch {
			case err != nil:
				return nil
			case !d.IsDir():
				s.Files++
			case skipDir(path):
				return filepath.SkipDir
			default:
				s.Dirs++
			}
			return nil
		})
	}
	switch {
	case s.Files+s.Dirs <= s.Budget:
		s.Mode = PerFile
	case s.Dirs <= s.Budget:
		s.Mode = Directories
	default:
		s.Mode = Poll
	}
	return s
}

// Plan says which mode Start would choose for these roots now (for
// `sync explain`); it raises the soft file limit as Start does.
func Plan(roots []string, skipDir func(string) bool) Strategy {
	if skipDir == nil {
		skipDir = func(string) bool { return false }
	}
	return plan(roots, skipDir, costsPerFile, raiseFileLimit(), defaultEvery)
}

// defaultEvery is the rescan period of the fallback modes; a pass that
// takes long stretches it (see scanner.loop).
const defaultEvery = time.Second

// existsDir reports whether p is a directory (not a link to one).
func existsDir(p string) bool {
	fi, err := os.Lstat(p)
	return err == nil && fi.IsDir()
}

// dirNotifier tells which directories' entries changed.
type dirNotifier interface {
	add(dir string) error
	remove(dir string)
	close() error
}

// costsPerFile is perFileCost (one file per platform); tests set it to
// check the macOS strategy on Linux.
var costsPerFile = perFileCost
