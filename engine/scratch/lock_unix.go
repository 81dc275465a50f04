//go:build unix

package scratch

import (
	"os"
	"syscall"
	"time"
)

// lockFile takes an exclusive lock on f without waiting; it fails while
// another open file holds one. The lock goes when f is closed, or when
// the process dies.
func lockFile(f *os.File) error {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
}

// lockShared takes a shared lock on f (the one bbolt's readers take),
// waiting up to wait while a writer holds the exclusive one.
func lockShared(f *os.File, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB)
		if err != syscall.EWOULDBLOCK || time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond) // flock cannot wait with a deadline; bbolt polls the same way
	}
}
