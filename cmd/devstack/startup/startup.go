// Package startup turns the garbage collector off while the program's
// packages initialise, and Done turns it back on.
//
// Every devstack command pays for the initialisation of everything linked
// in (compose-go's JSON-schema library compiles five draft metaschemas,
// client-go registers its API types): a few megabytes of short-lived
// allocations that, with the collector's 4 MB starting goal, cost several
// collections before main runs — about a sixth of a `ps`. Initialisation
// order puts this package before those (Go initialises, among the packages
// whose imports are ready, the one whose import path sorts first, and
// "devstack/..." sorts before "github.com/...", "golang.org/...",
// "k8s.io/..."), so the collections are skipped rather than delayed.
//
// Import it for its side effect from package main, and call Done first
// thing in main.
package startup

import (
	"os"
	"runtime/debug"
)

// userGOGC records whether the user set GOGC: then the collector is left
// as they asked, before and after.
var userGOGC = os.Getenv("GOGC") != ""

func init() {
	if !userGOGC {
		debug.SetGCPercent(-1)
	}
}

// Done restores the collector's default pacing (GOGC=100).
func Done() {
	if !userGOGC {
		debug.SetGCPercent(100)
	}
}
