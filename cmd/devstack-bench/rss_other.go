//go:build !darwin && !windows

package main

import (
	"os"
	"syscall"
)

// peakRSS is the peak RSS (MB) wait4 reported: Maxrss is in KiB here.
func peakRSS(ps *os.ProcessState) float64 {
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		return float64(ru.Maxrss) / 1024
	}
	return 0
}
