package ops

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"

	"github.com/forged-dev/forged/dag"
	"github.com/forged-dev/forged/ops/expr"
)

func selectOp() Op {
	return Op{Spec: dag.OpSpec{
		Name:        "select",
		Description: "Keeps the listed columns, in the listed order.",
		MinInputs:   1, MaxInputs: 1,
		Required: []string{"columns"},
	}, Run: runSelect}
}

func runSelect(ctx context.Context, env *Env) error {
	cols, err := withOf(env).strings("columns", "column names", nil)
	if err != nil {
		return err
	}
	if len(cols) == 0 {
		return errors.New("with.columns: want a list of column names, got an empty list")
	}
	rr, err := input(env, 0)
	if err != nil {
		return err
	}
	defer rr.Release()
	in := rr.Schema()
	idx := make([]int, len(cols))
	fields := make([]arrow.Field, len(cols))
	seen := map[string]bool{}
	for i, name := range cols {
		found := in.FieldIndices(name)
		if len(found) == 0 {
			return fmt.Errorf("select: no column %q (available: %s)", name, columnNames(in))
		}
		if seen[name] {
			return fmt.Errorf("select: column %q is listed twice", name)
		}
		seen[name] = true
		idx[i], fields[i] = found[0], in.Field(found[0])
	}
	md := in.Metadata()
	schema := arrow.NewSchema(fields, &md)
	out, err := output(env, schema)
	if err != nil {
		return err
	}
	arrs := make([]arrow.Array, len(idx))
	rows, err := each(ctx, rr, func(rec arrow.RecordBatch) error {
		for i, j := range idx {
			arrs[i] = rec.Column(j)
		}
		sel := array.NewRecordBatch(schema, arrs, rec.NumRows())
		defer sel.Release()
		return out.Write(sel)
	})
	if err != nil {
		return err
	}
	logf(env, "select: %d columns of %d, %d rows", len(cols), in.NumFields(), rows)
	return nil
}

func filterOp() Op {
	return Op{Spec: dag.OpSpec{
		Name: "filter",
		Description: "Keeps the rows where `expr` is true (null counts as false), for example " +
			"`age >= 18 and country in ('fr', 'de')`.",
		MinInputs: 1, MaxInputs: 1,
		Required: []string{"expr"},
	}, Run: runFilter}
}

func runFilter(ctx context.Context, env *Env) error {
	src, err := withOf(env).required("expr")
	if err != nil {
		return err
	}
	e, err := expr.Parse(src)
	if err != nil {
		return fmt.Errorf("with.expr: %w", err)
	}
	rr, err := input(env, 0)
	if err != nil {
		return err
	}
	defer rr.Release()
	schema := rr.Schema()
	// Check types before reading any data, so a typo fails at once.
	dt, err := expr.Check(ctx, env.Mem, e, schema)
	if err != nil {
		return fmt.Errorf("with.expr: %w", err)
	}
	if dt.ID() != arrow.BOOL && dt.ID() != arrow.NULL {
		return fmt.Errorf("with.expr: %s gives %s values, want a condition that is true or false", e, dt)
	}
	out, err := output(env, schema)
	if err != nil {
		return err
	}
	cctx := compute.WithAllocator(ctx, env.Mem)
	var kept int64
	rows, err := each(ctx, rr, func(rec arrow.RecordBatch) error {
		mask, err := expr.Eval(ctx, env.Mem, e, rec)
		if err != nil {
			return fmt.Errorf("with.expr: %w", err)
		}
		defer mask.Release()
		if mask.DataType().ID() != arrow.BOOL {
			return nil // all null: no row is kept
		}
		sel, err := compute.FilterRecordBatch(cctx, rec, mask, compute.DefaultFilterOptions())
		if err != nil {
			return fmt.Errorf("filter: %w", err)
		}
		defer sel.Release()
		kept += sel.NumRows()
		if sel.NumRows() == 0 {
			return nil
		}
		return out.Write(sel)
	})
	if err != nil {
		return err
	}
	logf(env, "filter: kept %d of %d rows", kept, rows)
	metric(env, "rows_in", rows)
	metric(env, "rows_out", kept)
	return nil
}

func noopOp() Op {
	return Op{Spec: dag.OpSpec{
		Name:        "noop",
		Description: "Passes its first input through unchanged (an empty table without inputs).",
		MinInputs:   0, MaxInputs: -1,
	}, Run: func(ctx context.Context, env *Env) error { return passThrough(ctx, env) }}
}

// passThrough copies the first input to the output, or writes an empty
// zero-column table when there is none.
func passThrough(ctx context.Context, env *Env) error {
	if len(env.Inputs) == 0 {
		_, err := output(env, arrow.NewSchema(nil, nil))
		return err
	}
	rr, err := input(env, 0)
	if err != nil {
		return err
	}
	defer rr.Release()
	rows, err := copyToOutput(ctx, env, rr)
	if err != nil {
		return err
	}
	logf(env, "passed %d rows through", rows)
	return nil
}

// copyToOutput writes every batch of rr to the task's output, which takes
// rr's schema, and returns the rows written.
func copyToOutput(ctx context.Context, env *Env, rr array.RecordReader) (int64, error) {
	out, err := output(env, rr.Schema())
	if err != nil {
		return 0, err
	}
	return each(ctx, rr, out.Write)
}

func sleepOp() Op {
	return Op{Spec: dag.OpSpec{
		Name:        "sleep",
		Description: "Waits for `duration` (such as 30s), then passes its first input through like noop.",
		MinInputs:   0, MaxInputs: -1,
		Required: []string{"duration"},
	}, Run: runSleep}
}

func runSleep(ctx context.Context, env *Env) error {
	s, err := withOf(env).required("duration")
	if err != nil {
		return err
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return fmt.Errorf("with.duration: want a duration such as 500ms, 30s or 5m, got %q", s)
	}
	logf(env, "sleeping %s", d)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return ctx.Err()
	}
	return passThrough(ctx, env)
}

func failOp() Op {
	return Op{Spec: dag.OpSpec{
		Name:        "fail",
		Description: "Fails with `message`; for testing retries and failure handling.",
		MinInputs:   0, MaxInputs: -1,
		Optional: []string{"message"},
	}, Run: runFail}
}

func runFail(_ context.Context, env *Env) error {
	msg, ok, err := withOf(env).str("message")
	if err != nil {
		return err
	}
	if !ok || msg == "" {
		msg = "task failed on purpose"
	}
	logf(env, "failing: %s", msg)
	return errors.New(msg)
}
