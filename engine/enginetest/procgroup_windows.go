//go:build windows

package enginetest

import "os/exec"

// ownProcessGroup: Windows has no process groups (the SSH test host runs
// on Linux only).
func ownProcessGroup(*exec.Cmd) {}

// killGroup kills the command itself.
func killGroup(cmd *exec.Cmd) { _ = cmd.Process.Kill() }
