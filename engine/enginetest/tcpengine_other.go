//go:build !linux

package enginetest

import "testing"

// TCPURL needs Linux network namespaces: the test is skipped elsewhere.
func (h *SSHHost) TCPURL(t testing.TB) string {
	t.Skip("a tcp:// engine of the test's own needs Linux network namespaces")
	return ""
}
