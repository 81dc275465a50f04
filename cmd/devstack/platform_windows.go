//go:build windows

package main

import (
	"io"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/windows"
)

// resizePoll is how often the console's size is read: Windows has no
// SIGWINCH, so, as the docker CLI does, the size is polled and a change
// forwarded (openTerminal's send skips a size already sent).
const resizePoll = 250 * time.Millisecond

// watchResize calls changed every resizePoll until stop is called.
func watchResize(changed func()) (stop func()) {
	done := make(chan struct{})
	go func() {
		tick := time.NewTicker(resizePoll)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
				changed()
			case <-done:
				return
			}
		}
	}()
	return func() { close(done) }
}

// prepareOutput lets the console interpret the escape sequences a
// container's terminal writes (colours, cursor moves), as Windows
// Terminal and conhost do once virtual terminal processing is on.
func prepareOutput(w io.Writer) (undo func()) {
	f, ok := w.(*os.File)
	if !ok {
		return func() {}
	}
	h := windows.Handle(f.Fd())
	var mode uint32
	if windows.GetConsoleMode(h, &mode) != nil {
		return func() {}
	}
	if windows.SetConsoleMode(h, mode|windows.ENABLE_VIRTUAL_TERMINAL_PROCESSING|windows.DISABLE_NEWLINE_AUTO_RETURN) != nil {
		return func() {}
	}
	return func() { _ = windows.SetConsoleMode(h, mode) }
}

// detached starts a process in a process group of its own, without the
// console: the background forwarder outlives the console that started it.
func detached() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{CreationFlags: syscall.CREATE_NEW_PROCESS_GROUP | windows.DETACHED_PROCESS}
}
