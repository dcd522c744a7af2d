package consensus

import (
	"fmt"

	"go.etcd.io/bbolt"
)

// maxRetryBudget bounds the attempts a retry may give one task.
const maxRetryBudget = 100

// RetryRun reopens a failed or cancelled run: its tasks that did not
// succeed, and everything downstream of them, run again; succeeded tasks
// keep their outputs (see dag.Run.Retry).
type RetryRun struct {
	RunID string `json:"run_id"`
	// Budget is the attempts each task gets (1 + its retries in the
	// pipeline's spec); a task not named gets one.
	Budget map[string]int `json:"budget,omitempty"`
}

// Type implements Command.
func (*RetryRun) Type() CommandType { return TypeRetryRun }

func (p processor) retryRun(tx *bbolt.Tx, c *RetryRun) (*Result, error) {
	for name, n := range c.Budget {
		if n < 1 || n > maxRetryBudget {
			return rejected(reject(CodeInvalid, "retry run %s: task %s: %d attempts is out of range 1..%d", c.RunID, name, n, maxRetryBudget)), nil
		}
	}
	set := p.newRunSet(tx)
	run, rej, err := set.get(c.RunID)
	if err != nil || rej != nil {
		return rejected(rej), err
	}
	if _, err := run.Retry(c.Budget); err != nil {
		return rejected(rejectionFor(fmt.Errorf("retry run %s: %w", c.RunID, err))), nil
	}
	set.changed(run)
	return &Result{RunID: run.ID, Version: run.Version}, set.save()
}
