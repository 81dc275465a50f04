//go:build !unix

package kubetest

import "os"

// lockFile does nothing where there is no flock: the test cluster runs on
// Linux only.
func lockFile(*os.File) error { return nil }
