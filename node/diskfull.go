package node

import (
	"errors"
	"fmt"
	"strings"
	"syscall"

	"github.com/forged-dev/forged/dag"
	"github.com/forged-dev/forged/ops"
)

// diskFull names a full disk in a task's error: an error that is, or
// says, ENOSPC gets "disk full on node N" and the data dir's free space in
// front, so that the run's page says what to fix rather than a write
// deep in the output store.
func (n *Node) diskFull(err error) string {
	msg := err.Error()
	if strings.Contains(msg, "disk full") ||
		!errors.Is(err, syscall.ENOSPC) && !strings.Contains(strings.ToLower(msg), "no space left on device") {
		return msg
	}
	free := ""
	if b, ok := ops.FreeBytes(n.cfg.DataDir); ok {
		free = fmt.Sprintf(", %s free", dag.FormatBytes(int64(b)))
	}
	return fmt.Sprintf("disk full (ENOSPC) on node %s: no space left under its data dir %s%s: %s",
		n.cfg.Name, n.cfg.DataDir, free, msg)
}
