//go:build !unix

package scratch

import (
	"errors"
	"os"
)

// lockFile cannot lock here: journals are then never swept (a running
// rebuild's could not be told from an interrupted one's).
func lockFile(*os.File) error { return errors.New("file locks are not supported on this system") }
