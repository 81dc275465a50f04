//go:build windows

package docker

import "os/exec"

// ownProcessGroup: Windows has no process groups to signal.
func ownProcessGroup(*exec.Cmd) {}

// signalGroup ends the command itself (there is no SIGTERM to send).
func signalGroup(cmd *exec.Cmd, _ bool) { _ = cmd.Process.Kill() }
