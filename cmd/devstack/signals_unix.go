package main

import (
	"os"
	"os/signal"
	"syscall"
)

func notifySignals(ch chan os.Signal) { signal.Notify(ch, os.Interrupt, syscall.SIGTERM) }
func stopSignals(ch chan os.Signal)   { signal.Stop(ch) }

func signalName(s os.Signal) string {
	if s == os.Interrupt {
		return "SIGINT"
	}
	return "SIGTERM"
}
