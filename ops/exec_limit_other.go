//go:build !linux

package ops

import (
	"errors"
	"os/exec"
)

// startProgram starts cmd; memory limits need Linux (prlimit).
func startProgram(cmd *exec.Cmd, memory int64) error {
	if memory > 0 {
		return errors.New("memory limits of exec tasks are only enforced on Linux")
	}
	return cmd.Start()
}

// FreeBytes is not known here.
func FreeBytes(string) (uint64, bool) { return 0, false }
