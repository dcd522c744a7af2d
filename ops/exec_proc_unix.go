//go:build unix

package ops

import (
	"fmt"
	"os/exec"
	"syscall"
)

// inNewGroup makes the command the leader of a process group of its own,
// so that it and everything it starts can be signalled together.
func inNewGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

// signalGroup sends SIGTERM, or SIGKILL when kill is set, to the
// command's process group.
func signalGroup(cmd *exec.Cmd, kill bool) {
	if cmd.Process == nil {
		return
	}
	sig := syscall.SIGTERM
	if kill {
		sig = syscall.SIGKILL
	}
	_ = syscall.Kill(-cmd.Process.Pid, sig)
}

// exitDescription says how the program ended: its exit code, or the
// signal that killed it.
func exitDescription(exit *exec.ExitError) string {
	if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		hint := ""
		if ws.Signal() == syscall.SIGKILL {
			hint = " (out of memory, or killed from outside?)"
		}
		return fmt.Sprintf("the program was killed by signal %s%s", ws.Signal(), hint)
	}
	return fmt.Sprintf("the program exited with code %d", exit.ExitCode())
}

// signalled reports whether the program died of a signal a failed
// allocation often ends in: SIGSEGV, SIGABRT, SIGBUS or SIGKILL.
func signalled(exit *exec.ExitError) bool {
	ws, ok := exit.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() {
		return false
	}
	switch ws.Signal() {
	case syscall.SIGSEGV, syscall.SIGABRT, syscall.SIGBUS, syscall.SIGKILL:
		return true
	}
	return false
}
