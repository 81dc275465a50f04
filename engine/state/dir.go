package state

import (
	"fmt"
	"path/filepath"
	"strings"
)

// The two places a state directory can be, as pure functions of the
// environment so that both are tested on any system; Dir (one file per
// platform) picks the one its system uses.

// xdgDir is $XDG_STATE_HOME/devstack, else ~/.local/state/devstack (Linux,
// macOS). There is no fallback to a shared directory such as /tmp, where
// another user could read the files or plant links: without either
// variable it is an error.
func xdgDir(xdgStateHome, home string, homeErr error) (string, error) {
	if xdgStateHome != "" && filepath.IsAbs(xdgStateHome) {
		return filepath.Join(xdgStateHome, "devstack"), nil
	}
	if homeErr == nil && !filepath.IsAbs(home) {
		homeErr = fmt.Errorf("HOME is %q, not an absolute path", home)
	}
	if homeErr != nil {
		return "", fmt.Errorf("unable to find a state directory for devstack (set XDG_STATE_HOME or HOME to an absolute path): %w", homeErr)
	}
	return filepath.Join(home, ".local", "state", "devstack"), nil
}

// localAppDataDir is %LOCALAPPDATA%\devstack (Windows): the user's own,
// unroamed application data, where Windows programs keep state. Written
// with Windows separators whatever system runs it.
func localAppDataDir(localAppData string) (string, error) {
	if !windowsAbs(localAppData) {
		return "", fmt.Errorf("unable to find a state directory for devstack: LOCALAPPDATA is %q, not an absolute path (set it to your local application data folder, e.g. C:\\Users\\you\\AppData\\Local)", localAppData)
	}
	return strings.TrimRight(localAppData, `\/`) + `\devstack`, nil
}

// windowsAbs reports whether p is an absolute Windows path: a drive
// letter with a separator (C:\, C:/) or a UNC path (\\server\share).
func windowsAbs(p string) bool {
	if strings.HasPrefix(p, `\\`) || strings.HasPrefix(p, "//") {
		return len(p) > 2
	}
	return len(p) >= 3 && (p[0]|0x20 >= 'a' && p[0]|0x20 <= 'z') && p[1] == ':' && (p[2] == '\\' || p[2] == '/')
}
