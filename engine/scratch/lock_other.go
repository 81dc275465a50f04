//go:build !unix

package scratch

import (
	"errors"
	"os"
	"time"
)

// lockFile cannot lock here: journals are then never swept (a running
// rebuild's could not be told from an interrupted one's).
func lockFile(*os.File) error { return errors.New("file locks are not supported on this system") }

// lockShared does nothing here: bbolt, which locks the file itself, is
// trusted to keep a writer out of the way.
func lockShared(*os.File, time.Duration) error { return nil }
