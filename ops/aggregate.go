package ops

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"

	"github.com/forged-dev/forged/dag"
)

// aggregateOp is the aggregate operator: grouped statistics in one pass.
func aggregateOp() Op {
	return Op{Spec: dag.OpSpec{
		Name: "aggregate",
		Description: "Groups rows by the `by` columns (none: one group) and computes `aggs`, a list of " +
			"{fn, column, as} with fn count, count_distinct, sum, mean, min, max, stddev, var, median, " +
			"quantile (with q), first or last, skipping nulls; it streams in one pass, but median, " +
			"quantile and count_distinct keep each group's values in memory.",
		MinInputs: 1, MaxInputs: 1,
		Required: []string{"aggs"},
		Optional: []string{"by"},
	}, Run: runAggregate}
}

// aggSpec is one parsed entry of with.aggs.
type aggSpec struct {
	fn, column, as string
	q              float64
	col            int // the column's index; -1 for count without one
}

// aggFns are the aggregate functions, in documentation order.
var aggFns = []string{"count", "count_distinct", "sum", "mean", "min", "max", "stddev", "var", "median", "quantile", "first", "last"}

// aggNumber reads a number from a decoded `with` value.
func aggNumber(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case float32:
		return float64(n), true
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	case uint64:
		return float64(n), true
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(n), 64)
		return f, err == nil
	}
	return 0, false
}

func aggSpecsOf(w with) ([]aggSpec, error) {
	v, ok := w["aggs"]
	if !ok || v == nil {
		return nil, errors.New("with.aggs is required: a list of {fn, column, as}")
	}
	var items []any
	switch l := v.(type) {
	case []any:
		items = l
	case []map[string]any:
		for _, m := range l {
			items = append(items, m)
		}
	default:
		return nil, fmt.Errorf("with.aggs: want a list of {fn, column, as}, got %s", describeValue(v))
	}
	if len(items) == 0 {
		return nil, errors.New("with.aggs: want a list of {fn, column, as}, got an empty list")
	}
	specs := make([]aggSpec, len(items))
	for i, item := range items {
		s, err := aggSpecOf(item)
		if err != nil {
			return nil, fmt.Errorf("with.aggs[%d]: %w", i, err)
		}
		specs[i] = s
	}
	return specs, nil
}

func aggSpecOf(item any) (aggSpec, error) {
	s := aggSpec{col: -1}
	m, ok := item.(map[string]any)
	if !ok {
		return s, fmt.Errorf("want a mapping {fn, column, as}, got %s", describeValue(item))
	}
	text := func(key string) (string, error) {
		v, ok := m[key]
		if !ok || v == nil {
			return "", nil
		}
		str, ok := v.(string)
		if !ok {
			return "", fmt.Errorf("%s: want a string, got %s", key, describeValue(v))
		}
		return str, nil
	}
	for key := range m {
		if key != "fn" && key != "column" && key != "as" && key != "q" {
			return s, fmt.Errorf("unknown key %q (want fn, column, as and, for quantile, q)", key)
		}
	}
	var err error
	if s.fn, err = text("fn"); err != nil {
		return s, err
	}
	if s.column, err = text("column"); err != nil {
		return s, err
	}
	if s.as, err = text("as"); err != nil {
		return s, err
	}
	known := false
	for _, fn := range aggFns {
		known = known || fn == s.fn
	}
	switch {
	case s.fn == "":
		return s, fmt.Errorf("fn is required: one of %s", strings.Join(aggFns, ", "))
	case !known:
		return s, fmt.Errorf("fn: unknown function %q; want one of %s", s.fn, strings.Join(aggFns, ", "))
	case s.column == "" && s.fn != "count":
		return s, fmt.Errorf("column is required for %s", s.fn)
	}
	q, hasQ := m["q"]
	switch {
	case s.fn == "quantile" && (!hasQ || q == nil):
		return s, errors.New("q is required for quantile: a number from 0 to 1")
	case s.fn == "quantile":
		f, ok := aggNumber(q)
		if !ok || math.IsNaN(f) || f < 0 || f > 1 {
			return s, fmt.Errorf("q: want a number from 0 to 1, got %s", describeValue(q))
		}
		s.q = f
	case hasQ:
		return s, fmt.Errorf("q applies only to quantile, not %s", s.fn)
	case s.fn == "median":
		s.q = 0.5
	}
	if s.as == "" {
		s.as = s.fn
		if s.column != "" {
			s.as += "_" + s.column
		}
	}
	return s, nil
}

// aggPlan checks the specs against the input schema and returns the
// output schema.
func aggPlan(by []string, specs []aggSpec, in *arrow.Schema) ([]int, *arrow.Schema, error) {
	byIdx := make([]int, len(by))
	var fields []arrow.Field
	names := map[string]string{}
	taken := func(name, what string) error {
		if prev, dup := names[name]; dup {
			return fmt.Errorf("aggregate: output column %q would be both %s and %s; set a distinct `as`", name, prev, what)
		}
		names[name] = what
		return nil
	}
	for i, name := range by {
		found := in.FieldIndices(name)
		if len(found) == 0 {
			return nil, nil, fmt.Errorf("aggregate: no group column %q (available: %s)", name, columnNames(in))
		}
		f := in.Field(found[0])
		if !keyable(f.Type) {
			return nil, nil, fmt.Errorf("aggregate: group column %q has type %s, which cannot be grouped on", name, f.Type)
		}
		if err := taken(name, "a group column"); err != nil {
			return nil, nil, err
		}
		byIdx[i] = found[0]
		fields = append(fields, f)
	}
	for i := range specs {
		s := &specs[i]
		f := arrow.Field{Name: s.as, Type: arrow.PrimitiveTypes.Int64}
		if s.column != "" {
			found := in.FieldIndices(s.column)
			if len(found) == 0 {
				return nil, nil, fmt.Errorf("aggregate: %s: no column %q (available: %s)", s.fn, s.column, columnNames(in))
			}
			s.col = found[0]
			dt := in.Field(s.col).Type
			typ, err := aggResultType(s.fn, dt)
			if err != nil {
				return nil, nil, fmt.Errorf("aggregate: %s of column %q: %w", s.fn, s.column, err)
			}
			f.Type, f.Nullable = typ, s.fn != "count" && s.fn != "count_distinct"
		}
		if err := taken(s.as, s.fn+" of "+strconv.Quote(s.column)); err != nil {
			return nil, nil, err
		}
		fields = append(fields, f)
	}
	return byIdx, arrow.NewSchema(fields, nil), nil
}

func runAggregate(ctx context.Context, env *Env) error {
	w := withOf(env)
	by, err := w.strings("by", "column names", nil)
	if err != nil {
		return err
	}
	specs, err := aggSpecsOf(w)
	if err != nil {
		return err
	}
	rr, err := input(env, 0)
	if err != nil {
		return err
	}
	defer rr.Release()
	in := rr.Schema()
	byIdx, schema, err := aggPlan(by, specs, in)
	if err != nil {
		return err
	}
	states := make([]aggState, len(specs))
	defer func() {
		for _, st := range states {
			if st != nil {
				st.release()
			}
		}
	}()
	for i, s := range specs {
		var dt arrow.DataType
		if s.col >= 0 {
			dt = in.Field(s.col).Type
		}
		states[i] = newAggState(s, dt)
	}
	groups := &aggGroups{by: byIdx, ids: map[string]int32{}, pieces: make([][]arrow.Array, len(byIdx))}
	defer groups.release()
	if len(byIdx) == 0 {
		groups.n = 1 // one group over the whole table, even an empty one
	}
	cctx := compute.WithAllocator(ctx, env.Mem)
	var gids []int32
	rows, err := each(ctx, rr, func(rec arrow.RecordBatch) error {
		if gids, err = groups.assign(cctx, rec, gids); err != nil {
			return err
		}
		for i, s := range specs {
			var col arrow.Array
			if s.col >= 0 {
				col = rec.Column(s.col)
			}
			if err := states[i].add(cctx, col, gids, groups.n); err != nil {
				return fmt.Errorf("aggregate: %s of column %q: %w", s.fn, s.column, err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	cols := make([]arrow.Array, 0, schema.NumFields())
	defer func() {
		for _, c := range cols {
			c.Release()
		}
	}()
	for j, c := range byIdx {
		col, err := groups.column(env, j, in.Field(c).Type)
		if err != nil {
			return err
		}
		cols = append(cols, col)
	}
	for i, s := range specs {
		if err := ctx.Err(); err != nil {
			return err
		}
		col, err := states[i].result(cctx, env.Mem, groups.n)
		if err != nil {
			return fmt.Errorf("aggregate: %s of column %q: %w", s.fn, s.column, err)
		}
		cols = append(cols, col)
	}
	out, err := output(env, schema)
	if err != nil {
		return err
	}
	for start := 0; start < groups.n; start += joinBatchRows {
		if err := ctx.Err(); err != nil {
			return err
		}
		end := min(start+joinBatchRows, groups.n)
		if err := aggWriteSlice(out, schema, cols, start, end); err != nil {
			return err
		}
	}
	logf(env, "aggregate: %d rows into %d groups, %d aggregates", rows, groups.n, len(specs))
	metric(env, "rows_in", rows)
	metric(env, "groups", int64(groups.n))
	return nil
}

func aggWriteSlice(out RecordWriter, schema *arrow.Schema, cols []arrow.Array, start, end int) error {
	part := make([]arrow.Array, len(cols))
	for j, c := range cols {
		part[j] = array.NewSlice(c, int64(start), int64(end))
	}
	rec := array.NewRecordBatch(schema, part, int64(end-start))
	for _, p := range part {
		p.Release()
	}
	defer rec.Release()
	return out.Write(rec)
}

// aggGroups numbers groups in order of first appearance and keeps each
// group's key values, gathered batch by batch.
type aggGroups struct {
	by     []int
	ids    map[string]int32
	n      int
	pieces [][]arrow.Array // per group column: key values of new groups
	buf    []byte
	rows   []int32
}

func (g *aggGroups) release() {
	for _, ps := range g.pieces {
		for _, p := range ps {
			p.Release()
		}
	}
	g.pieces = nil
}

// assign returns the group of each row of rec, adding new groups.
func (g *aggGroups) assign(ctx context.Context, rec arrow.RecordBatch, gids []int32) ([]int32, error) {
	n := int(rec.NumRows())
	gids = gids[:0]
	if len(g.by) == 0 {
		for range n {
			gids = append(gids, 0)
		}
		return gids, nil
	}
	keyCols := make([]arrow.Array, len(g.by))
	for j, c := range g.by {
		keyCols[j] = rec.Column(c)
	}
	keyer, err := newRowKeyer(keyCols, nil)
	if err != nil {
		return nil, fmt.Errorf("aggregate: %w", err)
	}
	g.rows = g.rows[:0]
	for i := range n {
		g.buf = keyer.groupKey(g.buf, i)
		id, ok := g.ids[string(g.buf)]
		if !ok {
			if g.n == math.MaxInt32 {
				return nil, errors.New("aggregate: too many groups")
			}
			id = int32(g.n)
			g.ids[string(g.buf)] = id
			g.n++
			g.rows = append(g.rows, int32(i))
		}
		gids = append(gids, id)
	}
	if len(g.rows) == 0 {
		return gids, nil
	}
	b := array.NewInt32Builder(compute.GetAllocator(ctx))
	b.AppendValues(g.rows, nil)
	idx := b.NewArray()
	b.Release()
	defer idx.Release()
	for j, col := range keyCols {
		taken, err := compute.TakeArray(ctx, col, idx)
		if err != nil {
			return nil, fmt.Errorf("aggregate: gather group keys: %w", err)
		}
		g.pieces[j] = append(g.pieces[j], taken)
	}
	return gids, nil
}

// column returns the j-th group column's values, one per group.
func (g *aggGroups) column(env *Env, j int, dt arrow.DataType) (arrow.Array, error) {
	switch len(g.pieces[j]) {
	case 0:
		return array.MakeArrayOfNull(env.Mem, dt, 0), nil
	case 1:
		g.pieces[j][0].Retain()
		return g.pieces[j][0], nil
	}
	return array.Concatenate(g.pieces[j], env.Mem)
}
