package node

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/forged-dev/forged/api"
	"github.com/forged-dev/forged/consensus"
	"github.com/forged-dev/forged/dag"
)

// SubmitSweep starts one run per combination of the sweep's values (with
// params for the rest) as one experiment, all in one committed step. The
// pipeline is src when given (stored as a version), else the stored one.
func (n *Node) SubmitSweep(ctx context.Context, src []byte, pipeline string, version int, params map[string]any,
	sweep map[string][]any) (*consensus.Experiment, error) {
	var p *dag.Pipeline
	var put *consensus.PutPipeline
	var err error
	if len(src) > 0 {
		if p, err = dag.Parse(src, n.cfg.Ops); err != nil {
			return nil, err
		}
		put = &consensus.PutPipeline{Name: p.Name, Description: p.Description, Format: specFormat(src), Source: string(src), At: now()}
		version = 0
	} else {
		pv, err := n.store.Pipeline(pipeline, version)
		if err != nil {
			return nil, err
		}
		if p, err = n.specs.get(pv.Name, pv.Version); err != nil {
			return nil, err
		}
		version = pv.Version
	}
	grid, err := sweepGrid(sweep)
	if err != nil {
		return nil, err
	}
	exp := consensus.Experiment{ID: "x" + NewRunID(now()), Sweep: sweep, CreatedAt: now()}
	cmd := &consensus.SubmitExperiment{Experiment: exp, Pipeline: put}
	for _, point := range grid {
		merged := make(map[string]any, len(params)+len(point))
		for k, v := range params {
			merged[k] = v
		}
		for k, v := range point {
			merged[k] = v
		}
		run, err := n.newRun(p, version, merged)
		if err != nil {
			return nil, fmt.Errorf("sweep point %v: %w", point, err)
		}
		cmd.Runs = append(cmd.Runs, run)
	}
	res, err := n.apply(ctx, cmd)
	if err != nil {
		return nil, err
	}
	return n.store.Experiment(res.RunID)
}

// sweepGrid is every combination of the swept values, the params taken
// in name order and each param's values in the order given.
func sweepGrid(sweep map[string][]any) ([]map[string]any, error) {
	if len(sweep) == 0 {
		return nil, fmt.Errorf("%w: a sweep needs at least one param with values", api.ErrBadRequest)
	}
	names := make([]string, 0, len(sweep))
	total := 1
	for k, vals := range sweep {
		if len(vals) == 0 {
			return nil, fmt.Errorf("%w: sweep param %s has no values", api.ErrBadRequest, k)
		}
		names = append(names, k)
		total *= len(vals)
		if total > consensus.MaxExperimentRuns {
			return nil, fmt.Errorf("%w: the sweep makes more than %d runs", api.ErrBadRequest, consensus.MaxExperimentRuns)
		}
	}
	sort.Strings(names)
	grid := []map[string]any{{}}
	for _, name := range names {
		var next []map[string]any
		for _, point := range grid {
			for _, v := range sweep[name] {
				p := make(map[string]any, len(point)+1)
				for k, pv := range point {
					p[k] = pv
				}
				p[name] = v
				next = append(next, p)
			}
		}
		grid = next
	}
	return grid, nil
}

// Experiment returns an experiment and its runs from the local replica.
func (n *Node) Experiment(id string) (*consensus.Experiment, []*dag.Run, error) {
	e, err := n.store.Experiment(id)
	if err != nil {
		return nil, nil, err
	}
	runs := make([]*dag.Run, 0, len(e.Runs))
	for _, rid := range e.Runs {
		r, err := n.store.Run(rid)
		if errors.Is(err, consensus.ErrNotFound) {
			continue // deleted since
		}
		if err != nil {
			return nil, nil, err
		}
		runs = append(runs, r)
	}
	return e, runs, nil
}
