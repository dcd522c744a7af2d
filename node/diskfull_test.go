package node

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"syscall"
	"testing"
)

// A task error that is ENOSPC, wrapped or only in words, names the full
// disk, the node and its data dir; other errors are left as they are.
func TestDiskFullNamesTheDisk(t *testing.T) {
	n := &Node{cfg: Config{Name: "n7", DataDir: t.TempDir()}}
	wrapped := fmt.Errorf("write output out: %w", &fs.PathError{Op: "write", Path: "/x/out.arrow", Err: syscall.ENOSPC})
	for _, err := range []error{wrapped, errors.New("commit out: write /x: no space left on device")} {
		got := n.diskFull(err)
		for _, want := range []string{"disk full (ENOSPC) on node n7", n.cfg.DataDir, " free: ", err.Error()} {
			if !strings.Contains(got, want) {
				t.Errorf("diskFull(%v) = %q, want it to contain %q", err, got, want)
			}
		}
	}
	for _, msg := range []string{"division by zero", "the program exited with code 1 — disk full (ENOSPC, no space left on device)"} {
		if got := n.diskFull(errors.New(msg)); got != msg {
			t.Errorf("diskFull(%q) = %q", msg, got)
		}
	}
}
