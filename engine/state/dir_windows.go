//go:build windows

package state

import (
	"errors"
	"os"

	"golang.org/x/sys/windows"
)

// Dir is devstack's state directory: %LOCALAPPDATA%\devstack (see
// localAppDataDir).
func Dir() (string, error) {
	return localAppDataDir(os.Getenv("LOCALAPPDATA"))
}

// dirSyncUnsupported: Windows cannot flush a directory opened for
// reading (access denied or an invalid handle); NTFS journals the
// rename itself.
func dirSyncUnsupported(err error) bool {
	return errors.Is(err, windows.ERROR_ACCESS_DENIED) || errors.Is(err, windows.ERROR_INVALID_HANDLE) || errors.Is(err, windows.ERROR_INVALID_FUNCTION)
}
