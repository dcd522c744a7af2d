package ops

import (
	"context"
	"fmt"
	"io"

	"github.com/forged-dev/forged/dag"
)

func limitOp() Op {
	return Op{Spec: dag.OpSpec{
		Name:        "limit",
		Description: "Keeps `n` rows after skipping the first `offset` (default 0), and stops reading the input once it has them.",
		MinInputs:   1, MaxInputs: 1,
		Required: []string{"n"},
		Optional: []string{"offset"},
	}, Run: runLimit}
}

// limitArgs reads with.n (required) and with.offset, both at least 0.
func limitArgs(w with) (n, offset int64, err error) {
	if v, ok := w["n"]; !ok || v == nil {
		return 0, 0, fmt.Errorf("with.n is required")
	}
	ni, err := w.int("n", 0)
	if err != nil {
		return 0, 0, err
	}
	if ni < 0 {
		return 0, 0, fmt.Errorf("with.n: want 0 or more rows, got %d", ni)
	}
	oi, err := w.int("offset", 0)
	if err != nil {
		return 0, 0, err
	}
	if oi < 0 {
		return 0, 0, fmt.Errorf("with.offset: want 0 or more rows, got %d", oi)
	}
	return int64(ni), int64(oi), nil
}

func runLimit(ctx context.Context, env *Env) error {
	n, offset, err := limitArgs(withOf(env))
	if err != nil {
		return err
	}
	rr, err := input(env, 0)
	if err != nil {
		return err
	}
	defer rr.Release()
	out, err := output(env, rr.Schema())
	if err != nil {
		return err
	}
	var seen, kept int64 // rows read, rows written
	for kept < n && rr.Next() {
		if err := ctx.Err(); err != nil {
			return err
		}
		rec := rr.RecordBatch()
		rows := rec.NumRows()
		lo := max(offset-seen, 0)
		seen += rows
		if lo >= rows {
			continue
		}
		hi := min(rows, lo+n-kept)
		if lo == 0 && hi == rows {
			err = out.Write(rec)
		} else {
			part := rec.NewSlice(lo, hi)
			err = out.Write(part)
			part.Release()
		}
		if err != nil {
			return err
		}
		kept += hi - lo
	}
	if err := rr.Err(); err != nil && err != io.EOF {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	logf(env, "limit: kept %d rows after skipping %d (read %d)", kept, min(offset, seen), seen)
	metric(env, "rows_out", kept)
	return nil
}
