//go:build darwin

package main

import (
	"os"
	"syscall"
)

// peakRSS is the peak RSS (MB) wait4 reported: Maxrss is in bytes on macOS.
func peakRSS(ps *os.ProcessState) float64 {
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		return float64(ru.Maxrss) / (1 << 20)
	}
	return 0
}
