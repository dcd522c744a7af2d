package consensus

import (
	"bytes"
	"time"

	"go.etcd.io/bbolt"
)

// DeleteRun removes a finished run from the state for good: its record,
// its tasks and its place in its pipeline's list. Each node then deletes
// the run's output files, logs and artifacts it holds (see node).
type DeleteRun struct {
	RunID string    `json:"run_id"`
	At    time.Time `json:"at"`
}

// Type implements Command.
func (*DeleteRun) Type() CommandType { return TypeDeleteRun }

func (p processor) deleteRun(tx *bbolt.Tx, c *DeleteRun) (*Result, error) {
	if rej := validKey("run id", c.RunID, maxRunIDLen); rej != nil {
		return rejected(rej), nil
	}
	run, err := loadRun(tx, c.RunID)
	if err != nil {
		return nil, err
	}
	if run == nil {
		return rejected(reject(CodeNotFound, "run %s not found", c.RunID)), nil
	}
	if !run.Status.Terminal() || runActive(run) {
		return rejected(reject(CodeConflict, "run %s is %s: cancel it, and let it end, before deleting it", c.RunID, run.Status)), nil
	}
	tasks := tx.Bucket(bucketTasks)
	prefix := append([]byte(c.RunID), 0)
	var keys [][]byte
	cur := tasks.Cursor()
	for k, _ := cur.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = cur.Next() {
		keys = append(keys, append([]byte(nil), k...))
	}
	for _, k := range keys {
		if err := tasks.Delete(k); err != nil {
			return nil, err
		}
	}
	for _, del := range []struct {
		b   []byte
		key []byte
	}{
		{bucketRuns, []byte(c.RunID)},
		{bucketTaskOrder, []byte(c.RunID)},
		{bucketActive, []byte(c.RunID)},
		{bucketPipelineRuns, pipelineRunKey(run.Pipeline, c.RunID)},
	} {
		if err := tx.Bucket(del.b).Delete(del.key); err != nil {
			return nil, err
		}
	}
	if head, err := loadHead(tx, run.Pipeline); err == nil && head != nil && head.Runs > 0 {
		head.Runs--
		if err := putJSON(tx.Bucket(bucketPipelines), []byte(run.Pipeline), head); err != nil {
			return nil, err
		}
	}
	return &Result{RunID: c.RunID}, nil
}
