//go:build !windows

package forward

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// alive reports whether a process with that pid runs a devstack.
func alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	// A reused pid: another program now. (A devstack under another name,
	// a test binary, still says "forward" or was given a project.)
	b, err := os.ReadFile(filepath.Join("/proc", fmt.Sprint(pid), "cmdline"))
	if err != nil {
		return true // no /proc: trust the signal
	}
	st, err := os.ReadFile(filepath.Join("/proc", fmt.Sprint(pid), "stat"))
	if err == nil && strings.Contains(string(st), ") Z ") {
		return false // a zombie holds no ports
	}
	return len(b) > 0
}
