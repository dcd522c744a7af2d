package ops

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"

	"github.com/forged-dev/forged/dag"
	"github.com/forged-dev/forged/ops/expr"
)

func deriveOp() Op {
	return Op{Spec: dag.OpSpec{
		Name: "derive",
		Description: "Computes columns from expressions, in order, such as `columns: [{total: \"price * qty\"}, " +
			"{big: \"total > 100\"}]`; a column of the same name is replaced in place, otherwise it is appended.",
		MinInputs: 1, MaxInputs: 1,
		Required: []string{"columns"},
	}, Run: runDerive}
}

// deriveColumn is one computed column of a derive task.
type deriveColumn struct {
	name string
	e    expr.Expr
	// sees is the schema the expression reads; typ is its result type and
	// at where the result goes in the next schema.
	sees *arrow.Schema
	typ  arrow.DataType
	at   int
}

// deriveColumns reads with.columns: a list whose items are {name: expr}
// or {name: ..., expr: ...} mappings.
func deriveColumns(w with) ([]deriveColumn, error) {
	v, ok := w["columns"]
	if !ok || v == nil {
		return nil, errors.New("with.columns is required")
	}
	list, isList := v.([]any)
	if !isList {
		hint := ""
		if _, isMap := v.(map[string]any); isMap {
			hint = " (a list keeps the columns in order: write `- name: expr` items)"
		}
		return nil, fmt.Errorf("with.columns: want a list of {name: expr} mappings, got %s%s", describeValue(v), hint)
	}
	if len(list) == 0 {
		return nil, errors.New("with.columns: want a list of {name: expr} mappings, got an empty list")
	}
	cols := make([]deriveColumn, len(list))
	for i, item := range list {
		at := fmt.Sprintf("with.columns[%d]", i)
		m, isMap := item.(map[string]any)
		if !isMap {
			return nil, fmt.Errorf("%s: want a mapping {name: expr}, got %s", at, describeValue(item))
		}
		var name, src string
		switch {
		case len(m) == 2 && m["name"] != nil && m["expr"] != nil:
			n, isStr := m["name"].(string)
			if !isStr || strings.TrimSpace(n) == "" {
				return nil, fmt.Errorf("%s.name: want a column name, got %s", at, describeValue(m["name"]))
			}
			s, isStr := m["expr"].(string)
			if !isStr {
				return nil, fmt.Errorf("%s.expr: want the expression as a string, got %s", at, describeValue(m["expr"]))
			}
			name, src = n, s
		case len(m) == 1:
			for k, x := range m {
				s, isStr := x.(string)
				if !isStr {
					return nil, fmt.Errorf("%s.%s: want the expression as a string, got %s", at, k, describeValue(x))
				}
				name, src = k, s
			}
			if strings.TrimSpace(name) == "" {
				return nil, fmt.Errorf("%s: want a column name, got an empty one", at)
			}
		default:
			keys := make([]string, 0, len(m))
			for k := range m {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			return nil, fmt.Errorf("%s: want {name: expr} or {name: ..., expr: ...}, got the keys %s", at, strings.Join(keys, ", "))
		}
		e, err := expr.Parse(src)
		if err != nil {
			return nil, fmt.Errorf("%s (%s): %w", at, name, err)
		}
		cols[i] = deriveColumn{name: name, e: e}
	}
	return cols, nil
}

// derivePlan type-checks each expression against the columns it will
// see and returns the output schema.
func derivePlan(ctx context.Context, env *Env, in *arrow.Schema, cols []deriveColumn) (*arrow.Schema, error) {
	md := in.Metadata()
	fields := in.Fields()
	for i := range cols {
		c := &cols[i]
		c.sees = arrow.NewSchema(fields, &md)
		dt, err := expr.Check(ctx, env.Mem, c.e, c.sees)
		if err != nil {
			return nil, fmt.Errorf("with.columns[%d] (%s): %w", i, c.name, err)
		}
		c.typ = dt
		f := arrow.Field{Name: c.name, Type: dt, Nullable: true}
		if idx := c.sees.FieldIndices(c.name); len(idx) > 0 {
			c.at = idx[0]
			fields[c.at] = f
		} else {
			c.at = len(fields)
			fields = append(fields, f)
		}
	}
	return arrow.NewSchema(fields, &md), nil
}

func runDerive(ctx context.Context, env *Env) error {
	cols, err := deriveColumns(withOf(env))
	if err != nil {
		return err
	}
	rr, err := input(env, 0)
	if err != nil {
		return err
	}
	defer rr.Release()
	schema, err := derivePlan(ctx, env, rr.Schema(), cols)
	if err != nil {
		return err
	}
	out, err := output(env, schema)
	if err != nil {
		return err
	}
	rows, err := each(ctx, rr, func(rec arrow.RecordBatch) error {
		res, err := deriveBatch(ctx, env, rec, schema, cols)
		if err != nil {
			return err
		}
		defer res.Release()
		return out.Write(res)
	})
	if err != nil {
		return err
	}
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = c.name
	}
	logf(env, "derive: %s over %d rows", strings.Join(names, ", "), rows)
	return nil
}

// deriveBatch evaluates the columns over one batch, each seeing the ones
// computed before it.
func deriveBatch(ctx context.Context, env *Env, rec arrow.RecordBatch, schema *arrow.Schema, cols []deriveColumn) (arrow.RecordBatch, error) {
	n := rec.NumRows()
	arrs := append(make([]arrow.Array, 0, schema.NumFields()), rec.Columns()...)
	var owned []arrow.Array
	defer func() {
		for _, a := range owned {
			a.Release()
		}
	}()
	for i, c := range cols {
		cur := array.NewRecordBatch(c.sees, arrs, n)
		res, err := expr.Eval(ctx, env.Mem, c.e, cur)
		cur.Release()
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, fmt.Errorf("with.columns[%d] (%s): %w", i, c.name, err)
		}
		if !arrow.TypeEqual(res.DataType(), c.typ) {
			cast, err := compute.CastArray(compute.WithAllocator(ctx, env.Mem), res, compute.SafeCastOptions(c.typ))
			res.Release()
			if err != nil {
				return nil, fmt.Errorf("with.columns[%d] (%s): a batch gave values that are not %s: %w", i, c.name, c.typ, err)
			}
			res = cast
		}
		owned = append(owned, res)
		if c.at < len(arrs) {
			arrs[c.at] = res
		} else {
			arrs = append(arrs, res)
		}
	}
	return array.NewRecordBatch(schema, arrs, n), nil
}
