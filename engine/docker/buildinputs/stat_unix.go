//go:build linux

package buildinputs

import (
	"io/fs"
	"syscall"
)

// identity is what, beside size and mtime, tells a file was replaced or
// written to: its inode, and its change time, which a write or chmod
// moves and which (unlike mtime) nothing can set back.
func identity(fi fs.FileInfo) (ino uint64, ctime int64) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0
	}
	return uint64(st.Ino), st.Ctim.Nano()
}
