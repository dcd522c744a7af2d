package forge

import (
	"context"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/forged-dev/forged/dag"
	"github.com/forged-dev/forged/ops"
)

// runFunc adapts a Func to an operator: it reads the inputs whole, calls
// fn, and writes what it returns.
func runFunc(fn Func) ops.Func {
	return func(ctx context.Context, env *ops.Env) error {
		req := &Request{With: map[string]any{}, Params: env.Params, Mem: env.Mem, Log: env.Log, Run: env.Run}
		if env.Task != nil {
			req.Task = env.Task.Name
			if env.Task.With != nil {
				req.With = env.Task.With
			}
		}
		defer func() {
			for _, t := range req.Inputs {
				release(t.Records)
			}
		}()
		for _, in := range env.Inputs {
			t, err := readTable(ctx, in)
			if err != nil {
				return err
			}
			req.Inputs = append(req.Inputs, t)
		}
		res, err := fn(ctx, req)
		if res != nil {
			defer release(res.Records)
			for _, recs := range res.Outputs {
				defer release(recs)
			}
		}
		if err != nil {
			return err
		}
		if res == nil {
			res = &Result{}
		}
		if err := writeOutputs(env, res); err != nil {
			return err
		}
		for k, v := range res.Metrics {
			if env.Metrics != nil {
				env.Metrics(k, v)
			}
		}
		return nil
	}
}

func readTable(ctx context.Context, in ops.Input) (Table, error) {
	name := in.Need.Task
	if in.Need.Output != dag.DefaultOutput {
		name = in.Need.String()
	}
	rr, err := in.Open()
	if err != nil {
		return Table{}, fmt.Errorf("open input %s: %w", in.Need, err)
	}
	defer rr.Release()
	t := Table{Name: name, Schema: rr.Schema()}
	for rr.Next() {
		if err := ctx.Err(); err != nil {
			release(t.Records)
			return Table{}, err
		}
		rec := rr.RecordBatch()
		rec.Retain()
		t.Records = append(t.Records, rec)
	}
	if err := rr.Err(); err != nil {
		release(t.Records)
		return Table{}, fmt.Errorf("read input %s: %w", in.Need, err)
	}
	return t, nil
}

// writeOutputs writes the result's batches to the task's outputs.
func writeOutputs(env *ops.Env, res *Result) error {
	outs := res.Outputs
	if outs == nil {
		outs = map[string][]arrow.RecordBatch{dag.DefaultOutput: res.Records}
	}
	if env.Task != nil {
		for _, name := range env.Task.Outputs {
			if _, ok := outs[name]; !ok {
				return fmt.Errorf("the function returned nothing for output %q", name)
			}
		}
	}
	for name, recs := range outs {
		schema := res.Schema
		if len(recs) > 0 {
			schema = recs[0].Schema()
		}
		if schema == nil {
			return fmt.Errorf("output %s: the function returned no records and no Schema", name)
		}
		w, err := env.Output(name, schema)
		if err != nil {
			return err
		}
		for i, rec := range recs {
			if !rec.Schema().Equal(schema) {
				return fmt.Errorf("output %s: batch %d's schema %s differs from the first batch's %s", name, i, rec.Schema(), schema)
			}
			if err := w.Write(rec); err != nil {
				return err
			}
		}
	}
	return nil
}

func release(recs []arrow.RecordBatch) {
	for _, r := range recs {
		r.Release()
	}
}
