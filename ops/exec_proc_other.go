//go:build !unix

package ops

import (
	"fmt"
	"os/exec"
)

// inNewGroup does nothing here: there are no process groups.
func inNewGroup(*exec.Cmd) {}

// signalGroup kills the command itself; its children are not reached.
func signalGroup(cmd *exec.Cmd, _ bool) {
	if cmd.Process != nil {
		_ = cmd.Process.Kill()
	}
}

// exitDescription says with which code the program exited.
func exitDescription(exit *exec.ExitError) string {
	return fmt.Sprintf("the program exited with code %d", exit.ExitCode())
}

// signalled is false: there are no signals here.
func signalled(*exec.ExitError) bool { return false }
