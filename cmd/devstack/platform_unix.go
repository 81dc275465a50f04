//go:build !windows

package main

import (
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Platform code of the commands: the terminal's size, output, detaching.

// watchResize calls changed on every SIGWINCH, the kernel's word that the
// terminal's window changed size, until stop is called.
func watchResize(changed func()) (stop func()) {
	winch := make(chan os.Signal, 1)
	signal.Notify(winch, syscall.SIGWINCH)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-winch:
				changed()
			case <-done:
				return
			}
		}
	}()
	return func() { signal.Stop(winch); close(done) }
}

// prepareOutput has nothing to do on a Unix terminal, which reads the
// container's escape sequences as they come.
func prepareOutput(io.Writer) (undo func()) { return func() {} }

// detached starts a process in a session of its own: the background
// forwarder outlives the terminal that started it.
func detached() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setsid: true} }
