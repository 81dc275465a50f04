//go:build windows

package watch

import "math"

// raiseFileLimit: Windows has no per-process open-file limit to raise
// (and watches a directory's files through one handle).
func raiseFileLimit() int { return math.MaxInt32 }
