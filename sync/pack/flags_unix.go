//go:build unix

package pack

import "syscall"

// openFlags: never follow a link in the last component, never block
// opening a FIFO.
const openFlags = syscall.O_NOFOLLOW | syscall.O_NONBLOCK
