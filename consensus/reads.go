package consensus

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"go.etcd.io/bbolt"

	"github.com/forged-dev/forged/dag"
)

// PipelineVersion is one stored version of a pipeline spec. Versions are
// immutable; a changed spec is a new version.
type PipelineVersion struct {
	Name        string `json:"name"`
	Version     int    `json:"version"`
	Description string `json:"description,omitempty"`
	// Format is "yaml" or "json".
	Format string `json:"format"`
	Source string `json:"source"`
	// Digest is the hex SHA-256 of Source; an unchanged spec keeps its
	// version.
	Digest    string    `json:"digest"`
	CreatedAt time.Time `json:"created_at"`
}

// PipelineSummary is a pipeline as listed: its latest version and how often
// it has run.
type PipelineSummary struct {
	Name          string    `json:"name"`
	Description   string    `json:"description,omitempty"`
	LatestVersion int       `json:"latest_version"`
	UpdatedAt     time.Time `json:"updated_at"`
	Runs          int       `json:"runs"`
}

// RunQuery selects runs for Runs, newest first. Empty fields do not
// filter.
type RunQuery struct {
	Pipeline string
	Status   dag.RunStatus
	// Tag keeps runs with this tag: "key=value", or "key" for any value.
	Tag string
	// Limit is the page size: 50 when 0 or less, at most 1000.
	Limit int
	// Cursor is the next cursor a previous call returned; empty starts
	// with the newest run.
	Cursor string
}

// Page sizes of RunQuery.
const (
	defaultRunLimit = 50
	maxRunLimit     = 1000
)

// Run returns a run from the local replica, or an error wrapping
// ErrNotFound.
func (s *Store) Run(id string) (*dag.Run, error) {
	var run *dag.Run
	err := s.fsm.view(func(tx *bbolt.Tx) (err error) {
		run, err = readRun(tx, id)
		return err
	})
	return run, err
}

// RunHeader returns a run without its tasks (Tasks is nil) from the local
// replica: one small record however many tasks the run has. It is for
// loops that only watch a run's status. The error wraps ErrNotFound when
// there is no such run.
func (s *Store) RunHeader(id string) (*dag.Run, error) {
	var run dag.Run
	var found bool
	err := s.fsm.view(func(tx *bbolt.Tx) (err error) {
		found, err = getJSON(tx.Bucket(bucketRuns), []byte(id), &run)
		return err
	})
	switch {
	case err != nil:
		return nil, fmt.Errorf("read run %s: %w", id, err)
	case !found:
		return nil, fmt.Errorf("run %s: %w", id, ErrNotFound)
	}
	return &run, nil
}

// Runs lists runs from the local replica, newest first, and returns the
// cursor of the next page ("" when there is none).
func (s *Store) Runs(q RunQuery) ([]*dag.Run, string, error) {
	var runs []*dag.Run
	var next string
	err := s.fsm.view(func(tx *bbolt.Tx) (err error) {
		runs, next, err = listRuns(tx, q)
		return err
	})
	return runs, next, err
}

// Active returns a summary of each run that still needs work, oldest
// first, as of the last applied batch. It costs no decoding: the views
// are built once per change by the FSM and shared; do not modify them.
func (s *Store) Active() []*ActiveRun { return s.fsm.live.current() }

// Task returns one task of a run from the local replica, or an error
// wrapping ErrNotFound.
func (s *Store) Task(runID, task string) (*dag.TaskRun, error) {
	var t *dag.TaskRun
	err := s.fsm.view(func(tx *bbolt.Tx) (err error) {
		t, err = loadTask(tx, runID, task)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read task %s/%s: %w", runID, task, err)
	}
	if t == nil {
		return nil, fmt.Errorf("task %s/%s: %w", runID, task, ErrNotFound)
	}
	return t, nil
}

// Pipeline returns one version of a pipeline (0: the latest), or an error
// wrapping ErrNotFound.
func (s *Store) Pipeline(name string, version int) (*PipelineVersion, error) {
	var pv *PipelineVersion
	err := s.fsm.view(func(tx *bbolt.Tx) (err error) {
		pv, err = readPipeline(tx, name, version)
		return err
	})
	return pv, err
}

// Pipelines lists every pipeline, sorted by name.
func (s *Store) Pipelines() ([]PipelineSummary, error) {
	var out []PipelineSummary
	err := s.fsm.view(func(tx *bbolt.Tx) (err error) {
		out, err = listPipelines(tx)
		return err
	})
	return out, err
}

// PipelineVersions lists a pipeline's versions, oldest first, or an error
// wrapping ErrNotFound when there is no such pipeline.
func (s *Store) PipelineVersions(name string) ([]PipelineVersion, error) {
	var out []PipelineVersion
	err := s.fsm.view(func(tx *bbolt.Tx) (err error) {
		out, err = listVersions(tx, name)
		return err
	})
	return out, err
}

func readRun(tx *bbolt.Tx, id string) (*dag.Run, error) {
	if id == "" {
		return nil, fmt.Errorf("read run: empty id: %w", ErrNotFound)
	}
	run, err := loadRun(tx, id)
	if err != nil {
		return nil, fmt.Errorf("read run %s: %w", id, err)
	}
	if run == nil {
		return nil, fmt.Errorf("run %s: %w", id, ErrNotFound)
	}
	return run, nil
}

// listRuns walks the runs (or the pipeline's index) backwards from the
// cursor, which is the ID of the first run of the page. It looks one match
// past the page to know whether there is a next one.
func listRuns(tx *bbolt.Tx, q RunQuery) ([]*dag.Run, string, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = defaultRunLimit
	}
	limit = min(limit, maxRunLimit)

	var c *bbolt.Cursor
	var prefix []byte
	if bytes.IndexByte([]byte(q.Pipeline), 0) >= 0 {
		return nil, "", nil // no stored name holds a NUL
	}
	if q.Pipeline != "" {
		c = tx.Bucket(bucketPipelineRuns).Cursor()
		prefix = pipelineRunKey(q.Pipeline, "")
	} else {
		c = tx.Bucket(bucketRuns).Cursor()
	}
	var k []byte
	if q.Cursor == "" {
		k = seekLast(c, prefix)
	} else {
		start := append(append([]byte(nil), prefix...), q.Cursor...)
		if k, _ = c.Seek(start); k == nil {
			k, _ = c.Last()
		} else if !bytes.Equal(k, start) {
			k, _ = c.Prev()
		}
	}
	runs := make([]*dag.Run, 0, min(limit, 64))
	for ; k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Prev() {
		id := string(k[len(prefix):])
		run, err := loadRun(tx, id)
		if err != nil {
			return nil, "", fmt.Errorf("list runs: %w", err)
		}
		if run == nil || (q.Status != "" && run.Status != q.Status) || !hasTag(run, q.Tag) {
			continue
		}
		if len(runs) == limit {
			return runs, id, nil
		}
		runs = append(runs, run)
	}
	return runs, "", nil
}

// seekLast positions c on the last key with the prefix (the last key of
// all without one).
func seekLast(c *bbolt.Cursor, prefix []byte) []byte {
	if len(prefix) == 0 {
		k, _ := c.Last()
		return k
	}
	// The prefix ends in 0x00 and names never hold one, so prefix with
	// its last byte raised to 0x01 is the first key past the range.
	end := append(append([]byte(nil), prefix[:len(prefix)-1]...), 1)
	k, _ := c.Seek(end)
	if k == nil {
		k, _ = c.Last()
	} else {
		k, _ = c.Prev()
	}
	return k
}

func readPipeline(tx *bbolt.Tx, name string, version int) (*PipelineVersion, error) {
	if version == 0 {
		head, err := loadHead(tx, name)
		if err != nil {
			return nil, fmt.Errorf("read pipeline %s: %w", name, err)
		}
		if head == nil {
			return nil, fmt.Errorf("pipeline %s: %w", name, ErrNotFound)
		}
		version = head.LatestVersion
	}
	pv, err := loadVersion(tx, name, version)
	if err != nil {
		return nil, fmt.Errorf("read pipeline %s version %d: %w", name, version, err)
	}
	if pv == nil {
		return nil, fmt.Errorf("pipeline %s version %d: %w", name, version, ErrNotFound)
	}
	return pv, nil
}

func listPipelines(tx *bbolt.Tx) ([]PipelineSummary, error) {
	var out []PipelineSummary
	err := tx.Bucket(bucketPipelines).ForEach(func(k, v []byte) error {
		var h pipelineHead
		if err := json.Unmarshal(v, &h); err != nil {
			return fmt.Errorf("list pipelines: decode %q: %w", k, err)
		}
		out = append(out, PipelineSummary{
			Name: h.Name, Description: h.Description, LatestVersion: h.LatestVersion,
			UpdatedAt: h.UpdatedAt, Runs: h.Runs,
		})
		return nil
	})
	return out, err
}

func listVersions(tx *bbolt.Tx, name string) ([]PipelineVersion, error) {
	if name == "" || bytes.IndexByte([]byte(name), 0) >= 0 {
		return nil, fmt.Errorf("pipeline %q: %w", name, ErrNotFound)
	}
	prefix := append([]byte(name), 0)
	var out []PipelineVersion
	c := tx.Bucket(bucketVersions).Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		var pv PipelineVersion
		if err := json.Unmarshal(v, &pv); err != nil {
			return nil, fmt.Errorf("list versions of %s: %w", name, err)
		}
		out = append(out, pv)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("pipeline %s: %w", name, ErrNotFound)
	}
	return out, nil
}

// hasTag reports whether the run has the tag "key=value" (or "key" with
// any value); an empty tag matches every run.
func hasTag(r *dag.Run, tag string) bool {
	if tag == "" {
		return true
	}
	k, v, withValue := strings.Cut(tag, "=")
	got, ok := r.Tags[k]
	return ok && (!withValue || got == v)
}
