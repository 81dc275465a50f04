//go:build unix

package watch

import (
	"math"
	"syscall"
)

// raiseFileLimit raises the soft RLIMIT_NOFILE to the hard one (the Go
// runtime does so too when it can; macOS's hard limit may be "unlimited",
// which the kernel refuses, and then the soft value the runtime set
// stays) and returns the soft limit in force.
func raiseFileLimit() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return math.MaxInt32
	}
	if rl.Cur < rl.Max {
		want := rl
		want.Cur = rl.Max
		if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want) == nil {
			rl = want
		}
	}
	if rl.Cur > math.MaxInt32 {
		return math.MaxInt32
	}
	return int(rl.Cur)
}
