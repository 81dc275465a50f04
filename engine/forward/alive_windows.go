//go:build windows

package forward

import "os"

// alive reports whether a process with that pid runs: Windows has no
// signal 0 nor /proc, so a process that can be opened counts (a reused
// pid is taken for the forwarder).
func alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	p, err := os.FindProcess(pid) // opens the process on Windows
	if err != nil {
		return false
	}
	_ = p.Release()
	return true
}
