package ops

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/forged-dev/forged/dag"
)

func renameOp() Op {
	return Op{Spec: dag.OpSpec{
		Name:        "rename",
		Description: "Renames columns by the `columns` mapping {old: new}, keeping their order and values.",
		MinInputs:   1, MaxInputs: 1,
		Required: []string{"columns"},
	}, Run: runRename}
}

// renameMapping reads with.columns as {old: new}.
func renameMapping(w with) (map[string]string, error) {
	v, ok := w["columns"]
	if !ok || v == nil {
		return nil, errors.New("with.columns is required")
	}
	m, isMap := v.(map[string]any)
	if !isMap {
		return nil, fmt.Errorf("with.columns: want a mapping of old names to new names, got %s", describeValue(v))
	}
	if len(m) == 0 {
		return nil, errors.New("with.columns: want a mapping of old names to new names, got an empty mapping")
	}
	out := make(map[string]string, len(m))
	for old, nv := range m {
		s, isStr := nv.(string)
		if !isStr || s == "" {
			return nil, fmt.Errorf("with.columns.%s: want the new name as a non-empty string, got %s", old, describeValue(nv))
		}
		out[old] = s
	}
	return out, nil
}

// renameSchema applies the mapping to in, checking that every old name
// exists and that no new name clashes with another column.
func renameSchema(in *arrow.Schema, mapping map[string]string) (*arrow.Schema, error) {
	olds := make([]string, 0, len(mapping))
	for old := range mapping {
		olds = append(olds, old)
	}
	sort.Strings(olds) // for the same error every time
	for _, old := range olds {
		if len(in.FieldIndices(old)) == 0 {
			return nil, fmt.Errorf("with.columns: no column %q in the input (columns: %s)", old, columnNames(in))
		}
	}
	fields := in.Fields()
	renamed := make([]bool, len(fields))
	for i, f := range fields {
		if nn, ok := mapping[f.Name]; ok {
			fields[i].Name = nn
			renamed[i] = true
		}
	}
	owner := map[string]int{}
	for i, f := range fields {
		j, dup := owner[f.Name]
		if !dup {
			owner[f.Name] = i
			continue
		}
		if !renamed[i] && !renamed[j] {
			continue // a duplicate the input already had
		}
		switch {
		case renamed[i] && renamed[j]:
			return nil, fmt.Errorf("with.columns: %q and %q are both renamed to %q", in.Field(j).Name, in.Field(i).Name, f.Name)
		case renamed[i]:
			return nil, fmt.Errorf("with.columns: renaming %q to %q clashes with the column %q", in.Field(i).Name, f.Name, f.Name)
		default:
			return nil, fmt.Errorf("with.columns: renaming %q to %q clashes with the column %q", in.Field(j).Name, f.Name, f.Name)
		}
	}
	md := in.Metadata()
	return arrow.NewSchema(fields, &md), nil
}

func runRename(ctx context.Context, env *Env) error {
	mapping, err := renameMapping(withOf(env))
	if err != nil {
		return err
	}
	rr, err := input(env, 0)
	if err != nil {
		return err
	}
	defer rr.Release()
	schema, err := renameSchema(rr.Schema(), mapping)
	if err != nil {
		return err
	}
	out, err := output(env, schema)
	if err != nil {
		return err
	}
	rows, err := each(ctx, rr, func(rec arrow.RecordBatch) error {
		renamed := array.NewRecordBatch(schema, rec.Columns(), rec.NumRows())
		defer renamed.Release()
		return out.Write(renamed)
	})
	if err != nil {
		return err
	}
	logf(env, "rename: %d columns renamed, %d rows", len(mapping), rows)
	return nil
}
