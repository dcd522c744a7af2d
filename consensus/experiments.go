package consensus

import (
	"encoding/json"
	"fmt"
	"time"

	"go.etcd.io/bbolt"

	"github.com/forged-dev/forged/dag"
)

// MaxExperimentRuns bounds the runs of one experiment (a sweep's grid).
const MaxExperimentRuns = 1000

// Experiment is a set of runs of one pipeline started together, such as
// the grid of a parameter sweep.
type Experiment struct {
	ID       string `json:"id"`
	Pipeline string `json:"pipeline"`
	Version  int    `json:"version"`
	// Sweep holds the values each swept param took.
	Sweep     map[string][]any `json:"sweep,omitempty"`
	Runs      []string         `json:"runs"`
	CreatedAt time.Time        `json:"created_at"`
}

// SubmitExperiment starts every run of an experiment in one step: all of
// them, or none.
type SubmitExperiment struct {
	Experiment Experiment `json:"experiment"`
	Runs       []*dag.Run `json:"runs"`
	// Pipeline, when set, is the spec the runs are of, stored as a new
	// version (or the latest, when the same) as with SubmitRun.
	Pipeline *PutPipeline `json:"pipeline,omitempty"`
}

// Type implements Command.
func (*SubmitExperiment) Type() CommandType { return TypeSubmitExperiment }

func (p processor) submitExperiment(tx *bbolt.Tx, c *SubmitExperiment) (*Result, error) {
	e := c.Experiment
	if rej := validKey("experiment id", e.ID, maxRunIDLen); rej != nil {
		return rejected(rej), nil
	}
	if tx.Bucket(bucketExperiments).Get([]byte(e.ID)) != nil {
		return rejected(reject(CodeConflict, "experiment %s already exists", e.ID)), nil
	}
	if len(c.Runs) == 0 || len(c.Runs) > MaxExperimentRuns {
		return rejected(reject(CodeInvalid, "experiment %s has %d runs; want 1 to %d", e.ID, len(c.Runs), MaxExperimentRuns)), nil
	}
	// Everything that could refuse a run is checked before the first one
	// is written, so that the experiment starts whole or not at all.
	seen := map[string]bool{}
	for _, r := range c.Runs {
		switch {
		case r == nil:
			return rejected(reject(CodeInvalid, "experiment %s: a run is missing", e.ID)), nil
		case seen[r.ID] || tx.Bucket(bucketRuns).Get([]byte(r.ID)) != nil:
			return rejected(reject(CodeConflict, "run %s already exists", r.ID)), nil
		case validKey("run id", r.ID, maxRunIDLen) != nil || r.Status != dag.RunPending || len(r.Tasks) == 0:
			return rejected(reject(CodeInvalid, "experiment %s: run %s is not a new pending run with tasks", e.ID, r.ID)), nil
		}
		seen[r.ID] = true
	}
	e.Runs = e.Runs[:0]
	for i, r := range c.Runs {
		r.Experiment = e.ID
		sub := &SubmitRun{Run: r}
		if i == 0 {
			sub.Pipeline = c.Pipeline
		} else {
			r.Pipeline, r.Version = e.Pipeline, e.Version
		}
		res, err := p.submitRun(tx, sub)
		if err != nil {
			return nil, err
		}
		if res.Error != nil {
			if i == 0 {
				return res, nil // nothing written yet
			}
			return nil, fmt.Errorf("experiment %s: run %s refused after others were written: %v", e.ID, r.ID, res.Error)
		}
		e.Pipeline, e.Version = r.Pipeline, r.Version
		e.Runs = append(e.Runs, r.ID)
	}
	if err := putJSON(tx.Bucket(bucketExperiments), []byte(e.ID), &e); err != nil {
		return nil, err
	}
	return &Result{RunID: e.ID, Version: e.Version}, nil
}

// Experiment returns an experiment from the local replica, or an error
// wrapping ErrNotFound.
func (s *Store) Experiment(id string) (*Experiment, error) {
	var e *Experiment
	err := s.fsm.view(func(tx *bbolt.Tx) error {
		raw := tx.Bucket(bucketExperiments).Get([]byte(id))
		if raw == nil {
			return fmt.Errorf("experiment %s: %w", id, ErrNotFound)
		}
		e = &Experiment{}
		return json.Unmarshal(raw, e)
	})
	return e, err
}
