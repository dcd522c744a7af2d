package consensus

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/bbolt"

	"github.com/forged-dev/forged/dag"
)

// The layout of state.db. Every value is JSON; keys are chosen so that
// bbolt's byte order is the order readers want.
var (
	// bucketMeta holds keyApplied and keySchema.
	bucketMeta = []byte("meta")
	// bucketPipelines maps a pipeline name to its pipelineHead.
	bucketPipelines = []byte("pipelines")
	// bucketVersions maps name 0x00 version(uint32 BE) to a
	// PipelineVersion.
	bucketVersions = []byte("pipeline_versions")
	// bucketRuns maps a run ID to its header: the dag.Run without its
	// tasks. Run IDs sort by time, so the bucket iterates oldest first.
	bucketRuns = []byte("runs")
	// bucketTasks maps runID 0x00 task name to that task's dag.TaskRun, so
	// a transition rewrites one small record, not the whole run.
	bucketTasks = []byte("run_tasks")
	// bucketTaskOrder maps a run ID to the names of its tasks in spec
	// order (a JSON array), written once when the run is submitted.
	bucketTaskOrder = []byte("run_task_order")
	// bucketActive holds the IDs of runs that still need work or
	// attention (see runActive); values are empty.
	bucketActive = []byte("active_runs")
	// bucketPipelineRuns indexes runs by pipeline: name 0x00 runID, empty
	// values.
	bucketPipelineRuns = []byte("pipeline_runs")
	// bucketDatasets maps name 0x00 version(uint32 BE) to a DatasetVersion.
	bucketDatasets = []byte("datasets")
	// bucketModels maps name 0x00 version(uint32 BE) to a ModelVersion.
	bucketModels = []byte("model_versions")
	// bucketModelAliases maps a model name to its ModelAliases.
	bucketModelAliases = []byte("model_aliases")
	// bucketExperiments maps an experiment ID to its Experiment.
	bucketExperiments = []byte("experiments")

	allBuckets = [][]byte{bucketMeta, bucketPipelines, bucketVersions, bucketRuns, bucketTasks,
		bucketTaskOrder, bucketActive, bucketPipelineRuns, bucketDatasets, bucketModels, bucketModelAliases, bucketExperiments}

	keyApplied = []byte("applied_index")
	keySchema  = []byte("schema")
)

// schemaVersion is the layout above; a state file from a newer release is
// refused rather than misread, one from an older release is migrated.
// Version 1 kept each run, tasks included, in one record.
const schemaVersion = 2

// Bounds on keys, well under bbolt's limit, so that a command can never
// make a put fail half way through a batch.
const (
	maxNameLen  = 256
	maxRunIDLen = 128
)

// initState creates the buckets and checks the schema version.
func initState(tx *bbolt.Tx) error {
	for _, name := range allBuckets {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	meta := tx.Bucket(bucketMeta)
	v := meta.Get(keySchema)
	switch {
	case v == nil:
		return meta.Put(keySchema, u64(schemaVersion))
	case len(v) != 8:
		return errors.New("state schema version is corrupt")
	case binary.BigEndian.Uint64(v) > schemaVersion:
		return fmt.Errorf("state was written by a newer forged (schema %d, this build reads %d)",
			binary.BigEndian.Uint64(v), schemaVersion)
	case binary.BigEndian.Uint64(v) == 1:
		if err := migrateRunsV1(tx); err != nil {
			return fmt.Errorf("migrate state from schema 1: %w", err)
		}
		return meta.Put(keySchema, u64(schemaVersion))
	}
	return nil
}

// migrateRunsV1 splits each whole-run record of schema 1 into a header,
// its task order and one record per task.
func migrateRunsV1(tx *bbolt.Tx) error {
	var runs []*dag.Run
	err := tx.Bucket(bucketRuns).ForEach(func(k, v []byte) error {
		var r dag.Run
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("decode run %q: %w", k, err)
		}
		runs = append(runs, &r)
		return nil
	})
	if err != nil {
		return err
	}
	for _, r := range runs {
		if err := saveNewRun(tx, r); err != nil {
			return err
		}
	}
	return nil
}

// appliedIndex is the last raft index whose effects tx holds.
func appliedIndex(tx *bbolt.Tx) uint64 {
	b := tx.Bucket(bucketMeta)
	if b == nil {
		return 0
	}
	v := b.Get(keyApplied)
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

func setAppliedIndex(tx *bbolt.Tx, idx uint64) error {
	return tx.Bucket(bucketMeta).Put(keyApplied, u64(idx))
}

func u64(v uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	return b[:]
}

// pipelineHead is the per-pipeline record: what the latest version is and
// how many runs it has had.
type pipelineHead struct {
	Name          string    `json:"name"`
	Description   string    `json:"description,omitempty"`
	LatestVersion int       `json:"latest_version"`
	Digest        string    `json:"digest"`
	UpdatedAt     time.Time `json:"updated_at"`
	Runs          int       `json:"runs"`
}

func versionKey(name string, version int) []byte {
	k := make([]byte, 0, len(name)+5)
	k = append(k, name...)
	k = append(k, 0)
	return binary.BigEndian.AppendUint32(k, uint32(version))
}

func pipelineRunKey(pipeline, runID string) []byte {
	k := make([]byte, 0, len(pipeline)+1+len(runID))
	k = append(k, pipeline...)
	k = append(k, 0)
	return append(k, runID...)
}

// getJSON decodes the value under key into v; false when absent. The
// decoded value owns its memory, so it outlives the transaction.
func getJSON(b *bbolt.Bucket, key []byte, v any) (bool, error) {
	raw := b.Get(key)
	if raw == nil {
		return false, nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return true, fmt.Errorf("decode %q: %w", key, err)
	}
	return true, nil
}

func putJSON(b *bbolt.Bucket, key []byte, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", key, err)
	}
	return b.Put(key, raw)
}

func loadHead(tx *bbolt.Tx, name string) (*pipelineHead, error) {
	var h pipelineHead
	ok, err := getJSON(tx.Bucket(bucketPipelines), []byte(name), &h)
	if err != nil || !ok {
		return nil, err
	}
	return &h, nil
}

func loadVersion(tx *bbolt.Tx, name string, version int) (*PipelineVersion, error) {
	var v PipelineVersion
	ok, err := getJSON(tx.Bucket(bucketVersions), versionKey(name, version), &v)
	if err != nil || !ok {
		return nil, err
	}
	return &v, nil
}

func taskKey(runID, task string) []byte {
	k := make([]byte, 0, len(runID)+1+len(task))
	k = append(k, runID...)
	k = append(k, 0)
	return append(k, task...)
}

// loadRun returns the run with its tasks in spec order, or nil when there
// is none.
func loadRun(tx *bbolt.Tx, id string) (*dag.Run, error) {
	var r dag.Run
	ok, err := getJSON(tx.Bucket(bucketRuns), []byte(id), &r)
	if err != nil || !ok {
		return nil, err
	}
	var order []string
	if _, err := getJSON(tx.Bucket(bucketTaskOrder), []byte(id), &order); err != nil {
		return nil, err
	}
	tasks := tx.Bucket(bucketTasks)
	r.Tasks = make([]dag.TaskRun, len(order))
	for i, name := range order {
		ok, err := getJSON(tasks, taskKey(id, name), &r.Tasks[i])
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("run %s: task %s is missing from the state", id, name)
		}
	}
	return &r, nil
}

// loadTask returns one task of a run, or nil when there is none.
func loadTask(tx *bbolt.Tx, runID, task string) (*dag.TaskRun, error) {
	var t dag.TaskRun
	ok, err := getJSON(tx.Bucket(bucketTasks), taskKey(runID, task), &t)
	if err != nil || !ok {
		return nil, err
	}
	return &t, nil
}

// saveNewRun writes a whole run: header, task order and every task.
func saveNewRun(tx *bbolt.Tx, r *dag.Run) error {
	order := make([]string, len(r.Tasks))
	for i := range r.Tasks {
		order[i] = r.Tasks[i].Name
	}
	if err := putJSON(tx.Bucket(bucketTaskOrder), []byte(r.ID), order); err != nil {
		return err
	}
	all := make([]int, len(r.Tasks))
	for i := range all {
		all[i] = i
	}
	r.TakeChanged()
	return saveRun(tx, r, all)
}

// saveRun writes the run's header and the given tasks, and keeps the
// active index in step with the run.
func saveRun(tx *bbolt.Tx, r *dag.Run, changed []int) error {
	header := *r
	header.Tasks = nil
	if err := putJSON(tx.Bucket(bucketRuns), []byte(r.ID), &header); err != nil {
		return err
	}
	tasks := tx.Bucket(bucketTasks)
	for _, i := range changed {
		if err := putJSON(tasks, taskKey(r.ID, r.Tasks[i].Name), &r.Tasks[i]); err != nil {
			return err
		}
	}
	active := tx.Bucket(bucketActive)
	if runActive(r) {
		return active.Put([]byte(r.ID), nil)
	}
	return active.Delete([]byte(r.ID))
}

// runActive says whether a run still needs the scheduler or a worker: it
// is not terminal, or it is but still has attempts queued or running (a
// cancelled run's running tasks must still be closed by their workers).
func runActive(r *dag.Run) bool {
	if !r.Status.Terminal() {
		return true
	}
	for i := range r.Tasks {
		if s := r.Tasks[i].Status; s == dag.TaskQueued || s == dag.TaskRunning {
			return true
		}
	}
	return false
}

// validKey checks a name or ID used as (part of) a key.
func validKey(what, s string, max int) *Rejection {
	switch {
	case s == "":
		return reject(CodeInvalid, "%s is required", what)
	case len(s) > max:
		return reject(CodeInvalid, "%s is longer than %d bytes", what, max)
	case bytes.IndexByte([]byte(s), 0) >= 0:
		return reject(CodeInvalid, "%s contains a NUL byte", what)
	}
	return nil
}

func reject(code, format string, args ...any) *Rejection {
	return &Rejection{Code: code, Message: fmt.Sprintf(format, args...)}
}
