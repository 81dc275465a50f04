//go:build !windows

package state

import "os"

// Dir is devstack's state directory: $XDG_STATE_HOME/devstack, else
// ~/.local/state/devstack (see xdgDir).
func Dir() (string, error) {
	home, err := os.UserHomeDir()
	return xdgDir(os.Getenv("XDG_STATE_HOME"), home, err)
}

// dirSyncUnsupported: every error of a directory sync counts here (EINVAL
// is handled by the caller).
func dirSyncUnsupported(error) bool { return false }
