//go:build unix

package scratch

import (
	"os"
	"syscall"
)

// lockFile takes an exclusive lock on f without waiting; it fails while
// another open file holds one. The lock goes when f is closed, or when
// the process dies.
func lockFile(f *os.File) error {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
}
