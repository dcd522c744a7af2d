//go:build linux

package ops

import (
	"fmt"
	"os"
	"os/exec"

	"golang.org/x/sys/unix"
)

// gateScript holds the program back until its limits are set: the shell
// waits for a line on fd 3, then replaces itself with the program (same
// pid, same process group, limits inherited), closing fd 3 on the way.
const gateScript = `read -r _ <&3 || exit 125; exec "$0" "$@" 3<&-`

// startProgram starts cmd. With a memory limit it starts it behind a
// /bin/sh gate, sets the limit on the gate's process with prlimit(2) and
// only then lets it exec the program, so the program never runs a moment
// without its limit. The limit is RLIMIT_AS: the address space, which is
// what an allocation that would go past it fails on (ENOMEM).
func startProgram(cmd *exec.Cmd, memory int64) error {
	if memory <= 0 {
		return cmd.Start()
	}
	gateR, gateW, err := os.Pipe()
	if err != nil {
		return err
	}
	defer gateR.Close()
	defer gateW.Close()
	cmd.Args = append([]string{"sh", "-c", gateScript, cmd.Path}, cmd.Args[1:]...)
	cmd.Path = "/bin/sh"
	cmd.ExtraFiles = []*os.File{gateR}
	if err := cmd.Start(); err != nil {
		return err
	}
	lim := unix.Rlimit{Cur: uint64(memory), Max: uint64(memory)}
	if err := unix.Prlimit(cmd.Process.Pid, unix.RLIMIT_AS, &lim, nil); err != nil {
		signalGroup(cmd, true)
		_ = cmd.Wait()
		return fmt.Errorf("set the memory limit: %w", err)
	}
	if _, err := gateW.Write([]byte("go\n")); err != nil {
		signalGroup(cmd, true)
		_ = cmd.Wait()
		return fmt.Errorf("start the program after setting its memory limit: %w", err)
	}
	return nil
}

// FreeBytes is how many bytes an unprivileged writer may still write to
// the file system holding dir.
func FreeBytes(dir string) (uint64, bool) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, false
	}
	return st.Bavail * uint64(st.Bsize), true
}
