package ops

import (
	"context"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/forged-dev/forged/dag"
)

func concatOp() Op {
	return Op{Spec: dag.OpSpec{
		Name: "concat",
		Description: "Appends its inputs one after another; every input must have the same column names and types, " +
			"in any order (the output takes the first input's order).",
		MinInputs: 2, MaxInputs: -1,
	}, Run: runConcat}
}

// concatLayout checks that s has the columns of first, with the same
// types, and returns where each of first's columns is in s. need names
// the inputs in errors.
func concatLayout(first, s *arrow.Schema, firstNeed, need dag.Need) ([]int, error) {
	if err := concatUnique(s, need); err != nil {
		return nil, err
	}
	at := make([]int, first.NumFields())
	for k, f := range first.Fields() {
		idx := s.FieldIndices(f.Name)
		if len(idx) == 0 {
			return nil, fmt.Errorf("concat: input %s has no column %q, which input %s has (its columns: %s)", need, f.Name, firstNeed, columnNames(s))
		}
		if g := s.Field(idx[0]); !arrow.TypeEqual(f.Type, g.Type) {
			return nil, fmt.Errorf("concat: column %q is %s in input %s but %s in input %s", f.Name, f.Type, firstNeed, g.Type, need)
		}
		at[k] = idx[0]
	}
	for _, g := range s.Fields() {
		if len(first.FieldIndices(g.Name)) == 0 {
			return nil, fmt.Errorf("concat: input %s has a column %q that input %s lacks", need, g.Name, firstNeed)
		}
	}
	return at, nil
}

// concatUnique refuses a schema with two columns of one name, which
// could not be matched by name.
func concatUnique(s *arrow.Schema, need dag.Need) error {
	seen := map[string]bool{}
	for _, f := range s.Fields() {
		if seen[f.Name] {
			return fmt.Errorf("concat: input %s has two columns named %q", need, f.Name)
		}
		seen[f.Name] = true
	}
	return nil
}

func runConcat(ctx context.Context, env *Env) error {
	// Open every input first, so that a mismatch fails before any row is
	// written.
	readers := make([]array.RecordReader, 0, len(env.Inputs))
	defer func() {
		for _, rr := range readers {
			rr.Release()
		}
	}()
	for i := range max(len(env.Inputs), 1) {
		rr, err := input(env, i)
		if err != nil {
			return err
		}
		readers = append(readers, rr)
	}
	first := readers[0].Schema()
	firstNeed := env.Inputs[0].Need
	if err := concatUnique(first, firstNeed); err != nil {
		return err
	}
	fields := first.Fields()
	layouts := make([][]int, len(readers))
	for i, rr := range readers {
		at, err := concatLayout(first, rr.Schema(), firstNeed, env.Inputs[i].Need)
		if err != nil {
			return err
		}
		layouts[i] = at
		for k, j := range at {
			fields[k].Nullable = fields[k].Nullable || rr.Schema().Field(j).Nullable
		}
	}
	md := first.Metadata()
	schema := arrow.NewSchema(fields, &md)
	out, err := output(env, schema)
	if err != nil {
		return err
	}
	cols := make([]arrow.Array, len(fields))
	var total int64
	for i, rr := range readers {
		at := layouts[i]
		rows, err := each(ctx, rr, func(rec arrow.RecordBatch) error {
			if rec.NumRows() == 0 {
				return nil
			}
			for k, j := range at {
				cols[k] = rec.Column(j)
			}
			joined := array.NewRecordBatch(schema, cols, rec.NumRows())
			defer joined.Release()
			return out.Write(joined)
		})
		if err != nil {
			return err
		}
		logf(env, "concat: %d rows from %s", rows, env.Inputs[i].Need)
		total += rows
	}
	logf(env, "concat: %d rows from %d inputs", total, len(readers))
	metric(env, "rows", total)
	return nil
}
