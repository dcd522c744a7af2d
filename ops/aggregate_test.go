package ops

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

var (
	aggTestSchema = schemaOf(
		field("city", arrow.BinaryTypes.String),
		field("n", arrow.PrimitiveTypes.Int64),
		field("x", arrow.PrimitiveTypes.Float64),
		field("day", arrow.FixedWidthTypes.Date32),
	)
	aggTestDocs = []string{
		`[{"city":"a","n":1,"x":1.0,"day":"2024-01-03"},
		  {"city":"b","n":2,"x":null,"day":"2024-01-01"},
		  {"city":null,"n":5,"x":2.0,"day":null},
		  {"city":"a","n":null,"x":3.0,"day":"2024-01-01"}]`,
		`[]`,
		`[{"city":"a","n":4,"x":5.0,"day":"2024-01-02"},
		  {"city":null,"n":null,"x":null,"day":"2024-01-05"},
		  {"city":"b","n":2,"x":4.0,"day":null}]`,
	}
)

// aggFn builds one with.aggs entry; kv are extra key, value pairs.
func aggFn(fn, column string, kv ...any) map[string]any {
	m := map[string]any{"fn": fn}
	if column != "" {
		m["column"] = column
	}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	return m
}

func aggRun(t *testing.T, with map[string]any, schema *arrow.Schema, docs ...string) (*testEnv, error) {
	t.Helper()
	te := newEnv(t, with)
	te.addJSONInput(schema, docs...)
	return te, te.run(aggregateOp())
}

func aggAllFns() []any {
	return []any{
		aggFn("count", ""),
		aggFn("count", "n"),
		aggFn("count_distinct", "n"),
		aggFn("sum", "n"),
		aggFn("sum", "x"),
		aggFn("mean", "x"),
		aggFn("min", "day"),
		aggFn("max", "n"),
		aggFn("stddev", "x"),
		aggFn("var", "x"),
		aggFn("median", "x"),
		aggFn("quantile", "x", "q", 0.25, "as", "q25"),
		aggFn("first", "x"),
		aggFn("last", "n"),
		aggFn("max", "city"),
	}
}

func TestAggregateGroups(t *testing.T) {
	te, err := aggRun(t, map[string]any{"by": []any{"city"}, "aggs": aggAllFns()}, aggTestSchema, aggTestDocs...)
	if err != nil {
		t.Fatal(err)
	}
	wantCols := "city, count, count_n, count_distinct_n, sum_n, sum_x, mean_x, min_day, max_n, stddev_x, var_x, median_x, q25, first_x, last_n, max_city"
	if got := columnNames(te.out().schema); got != wantCols {
		t.Fatalf("columns = %s", got)
	}
	var types []string
	for _, f := range te.out().schema.Fields() {
		types = append(types, f.Type.String())
	}
	if got := strings.Join(types, ","); got != "utf8,int64,int64,int64,int64,float64,float64,date32,int64,float64,float64,float64,float64,float64,int64,utf8" {
		t.Fatalf("types = %s", got)
	}
	want := strings.Join([]string{
		"a|3|2|2|5|9|3|2024-01-01|4|2|4|3|2|1|4|a",
		"b|2|2|1|4|4|4|2024-01-01|2|(null)|(null)|4|4|4|2|b",
		"(null)|2|1|1|5|2|2|2024-01-05|5|(null)|(null)|2|2|2|5|(null)",
	}, "\n")
	if got := te.table(); got != want {
		t.Fatalf("aggregate:\n%s\nwant:\n%s", got, want)
	}
	if te.metrics["groups"] != int64(3) || te.metrics["rows_in"] != int64(7) {
		t.Fatalf("metrics = %v", te.metrics)
	}
}

func TestAggregateWholeTable(t *testing.T) {
	aggs := []any{aggFn("count", ""), aggFn("sum", "n"), aggFn("mean", "x"), aggFn("min", "day", "as", "first_day"), aggFn("quantile", "n", "q", "1")}
	for _, by := range []any{nil, []any{}} {
		with := map[string]any{"aggs": aggs}
		if by != nil {
			with["by"] = by
		}
		te, err := aggRun(t, with, aggTestSchema, aggTestDocs...)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := te.table(), "7|14|3|2024-01-01|5"; got != want {
			t.Fatalf("aggregate by %v: %s, want %s", by, got, want)
		}
	}
}

func TestAggregateEmptyInput(t *testing.T) {
	for name, docs := range map[string][]string{"no batches": nil, "empty batch": {`[]`}} {
		t.Run(name, func(t *testing.T) {
			te, err := aggRun(t, map[string]any{"aggs": aggAllFns()}, aggTestSchema, docs...)
			if err != nil {
				t.Fatal(err)
			}
			want := "0|0|0|(null)|(null)|(null)|(null)|(null)|(null)|(null)|(null)|(null)|(null)|(null)|(null)"
			if got := te.table(); got != want {
				t.Fatalf("empty, no by:\n%s\nwant:\n%s", got, want)
			}
			te, err = aggRun(t, map[string]any{"by": []any{"city", "day"}, "aggs": aggAllFns()}, aggTestSchema, docs...)
			if err != nil {
				t.Fatal(err)
			}
			if c := te.out(); c.rows() != 0 || c.schema.NumFields() != 17 {
				t.Fatalf("empty, by: %d rows, schema %s", c.rows(), c.schema)
			}
		})
	}
}

func TestAggregateSeveralKeys(t *testing.T) {
	schema := schemaOf(
		field("k", arrow.PrimitiveTypes.Uint8),
		field("ok", arrow.FixedWidthTypes.Boolean),
		field("v", arrow.PrimitiveTypes.Float32),
		field("u", arrow.PrimitiveTypes.Uint64),
	)
	te, err := aggRun(t, map[string]any{
		"by":   []any{"ok", "k"},
		"aggs": []any{aggFn("count", ""), aggFn("min", "v"), aggFn("max", "u"), aggFn("sum", "u"), aggFn("first", "v"), aggFn("last", "v")},
	}, schema,
		`[{"k":1,"ok":true,"v":1.5,"u":18446744073709551615},{"k":1,"ok":null,"v":-1,"u":3},{"k":null,"ok":true,"v":2,"u":null}]`,
		`[{"k":1,"ok":true,"v":0.5,"u":2},{"k":null,"ok":null,"v":null,"u":null},{"k":1,"ok":null,"v":4,"u":9}]`,
	)
	if err == nil || !strings.Contains(err.Error(), `sum of column "u": the sum overflows int64`) {
		t.Fatalf("err = %v, want the overflow of sum u", err)
	}
	te, err = aggRun(t, map[string]any{
		"by":   []any{"ok", "k"},
		"aggs": []any{aggFn("count", ""), aggFn("min", "v"), aggFn("max", "u"), aggFn("first", "v"), aggFn("last", "v")},
	}, schema,
		`[{"k":1,"ok":true,"v":1.5,"u":18446744073709551615},{"k":1,"ok":null,"v":-1,"u":3},{"k":null,"ok":true,"v":2,"u":null}]`,
		`[{"k":1,"ok":true,"v":0.5,"u":2},{"k":null,"ok":null,"v":null,"u":null},{"k":1,"ok":null,"v":4,"u":9}]`,
	)
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Join([]string{
		"true|1|2|0.5|18446744073709551615|1.5|0.5",
		"(null)|1|2|-1|9|-1|4",
		"true|(null)|1|2|(null)|2|2",
		"(null)|(null)|1|(null)|(null)|(null)|(null)",
	}, "\n")
	if got := te.table(); got != want {
		t.Fatalf("aggregate:\n%s\nwant:\n%s", got, want)
	}
}

func TestAggregateBadWith(t *testing.T) {
	listSchema := schemaOf(field("l", arrow.ListOf(arrow.PrimitiveTypes.Int64)), field("n", arrow.PrimitiveTypes.Int64))
	for _, tc := range []struct {
		with map[string]any
		want string
	}{
		{map[string]any{}, "with.aggs is required"},
		{map[string]any{"aggs": "count"}, "with.aggs: want a list of {fn, column, as}, got count (string)"},
		{map[string]any{"aggs": []any{}}, "got an empty list"},
		{map[string]any{"aggs": []any{"count"}}, "with.aggs[0]: want a mapping"},
		{map[string]any{"aggs": []any{aggFn("count", ""), aggFn("avg", "x")}}, `with.aggs[1]: fn: unknown function "avg"`},
		{map[string]any{"aggs": []any{map[string]any{"column": "x"}}}, "with.aggs[0]: fn is required"},
		{map[string]any{"aggs": []any{aggFn("sum", "")}}, "with.aggs[0]: column is required for sum"},
		{map[string]any{"aggs": []any{aggFn("sum", "x", "col", "y")}}, `with.aggs[0]: unknown key "col"`},
		{map[string]any{"aggs": []any{aggFn("sum", "x", "as", 3)}}, "with.aggs[0]: as: want a string"},
		{map[string]any{"aggs": []any{aggFn("quantile", "x")}}, "q is required for quantile"},
		{map[string]any{"aggs": []any{aggFn("quantile", "x", "q", 1.5)}}, "q: want a number from 0 to 1, got 1.5"},
		{map[string]any{"aggs": []any{aggFn("quantile", "x", "q", "half")}}, "q: want a number from 0 to 1"},
		{map[string]any{"aggs": []any{aggFn("mean", "x", "q", 0.5)}}, "q applies only to quantile, not mean"},
		{map[string]any{"aggs": []any{aggFn("sum", "city")}}, `aggregate: sum of column "city": want a numeric column, got utf8`},
		{map[string]any{"aggs": []any{aggFn("mean", "day")}}, `aggregate: mean of column "day": want a numeric column, got date32`},
		{map[string]any{"aggs": []any{aggFn("median", "city")}}, `median of column "city": want a numeric column`},
		{map[string]any{"aggs": []any{aggFn("max", "nope")}}, `aggregate: max: no column "nope"`},
		{map[string]any{"by": []any{"town"}, "aggs": []any{aggFn("count", "")}}, `no group column "town"`},
		{map[string]any{"by": "city", "aggs": []any{aggFn("count", "")}}, "with.by: want a list of column names"},
		{map[string]any{"by": []any{"city"}, "aggs": []any{aggFn("first", "x", "as", "city")}}, `output column "city" would be both a group column and first of "x"`},
		{map[string]any{"aggs": []any{aggFn("sum", "n"), aggFn("sum", "n")}}, `output column "sum_n" would be both`},
	} {
		_, err := aggRun(t, tc.with, aggTestSchema, aggTestDocs...)
		wantErr(t, err, tc.want)
	}
	_, err := aggRun(t, map[string]any{"by": []any{"l"}, "aggs": []any{aggFn("count", "")}}, listSchema)
	wantErr(t, err, `group column "l" has type list`)
	_, err = aggRun(t, map[string]any{"aggs": []any{aggFn("min", "l")}}, listSchema)
	wantErr(t, err, `min of column "l": values of type list`)
	_, err = aggRun(t, map[string]any{"aggs": []any{aggFn("count_distinct", "l")}}, listSchema)
	wantErr(t, err, `count_distinct of column "l"`)
	// first, last and count take any type.
	te, err := aggRun(t, map[string]any{"aggs": []any{aggFn("first", "l"), aggFn("last", "l"), aggFn("count", "l")}}, listSchema,
		`[{"l":null,"n":1},{"l":[1,2],"n":2},{"l":[3],"n":3},{"l":null,"n":4}]`)
	if err != nil {
		t.Fatal(err)
	}
	if got := te.table(); got != "[1,2]|[3]|2" {
		t.Fatalf("first and last of lists: %s", got)
	}
}

func TestAggregateCancelled(t *testing.T) {
	te := newEnv(t, map[string]any{"aggs": []any{aggFn("count", "")}})
	te.addJSONInput(aggTestSchema, aggTestDocs...)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := aggregateOp().Run(ctx, te.Env); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

// aggWant is a group's directly computed aggregates.
type aggWant struct {
	rows, nonNull int64
	distinct      map[int64]bool
	sum           int64
	xs            []float64 // non-null x, in input order
	minS, maxS    string
	first, last   float64
	hasX          bool
}

// TestAggregateLarge streams 200k rows in many batches into about 30k
// groups and checks every aggregate against a direct computation.
func TestAggregateLarge(t *testing.T) {
	const rows, keys, batch = 200_000, 30_000, 3_989
	schema := schemaOf(
		field("k", arrow.PrimitiveTypes.Int32),
		field("n", arrow.PrimitiveTypes.Int64),
		field("x", arrow.PrimitiveTypes.Float64),
		field("s", arrow.BinaryTypes.String),
	)
	te := newEnv(t, map[string]any{"by": []any{"k"}, "aggs": []any{
		aggFn("count", ""), aggFn("count", "n"), aggFn("count_distinct", "n"), aggFn("sum", "n"),
		aggFn("sum", "x"), aggFn("mean", "x"), aggFn("var", "x"), aggFn("quantile", "x", "q", 0.9),
		aggFn("min", "s"), aggFn("max", "s"), aggFn("first", "x"), aggFn("last", "x"),
	}})
	rng := rand.New(rand.NewPCG(3, 4))
	groups := map[int64]*aggWant{} // key -1: null
	var order []int64
	var recs []arrow.RecordBatch
	b := array.NewRecordBuilder(te.mem, schema)
	defer b.Release()
	for i := range rows {
		k := int64(rng.IntN(keys+1)) - 1
		g := groups[k]
		if g == nil {
			g = &aggWant{distinct: map[int64]bool{}}
			groups[k] = g
			order = append(order, k)
		}
		g.rows++
		if k < 0 {
			b.Field(0).AppendNull()
		} else {
			b.Field(0).(*array.Int32Builder).Append(int32(k))
		}
		if rng.IntN(10) == 0 {
			b.Field(1).AppendNull()
		} else {
			n := rng.Int64N(1000) - 300
			b.Field(1).(*array.Int64Builder).Append(n)
			g.nonNull++
			g.distinct[n] = true
			g.sum += n
		}
		if rng.IntN(7) == 0 {
			b.Field(2).AppendNull()
		} else {
			x := rng.NormFloat64() * 100
			b.Field(2).(*array.Float64Builder).Append(x)
			if !g.hasX {
				g.first, g.hasX = x, true
			}
			g.last = x
			g.xs = append(g.xs, x)
		}
		s := fmt.Sprintf("s%06d", rng.IntN(1_000_000))
		b.Field(3).(*array.StringBuilder).Append(s)
		if g.minS == "" || s < g.minS {
			g.minS = s
		}
		g.maxS = max(g.maxS, s)
		if (i+1)%batch == 0 || i == rows-1 {
			recs = append(recs, b.NewRecordBatch())
		}
	}
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	te.addInput(schema, recs...)
	if err := te.run(aggregateOp()); err != nil {
		t.Fatal(err)
	}
	var row int
	for _, rec := range te.out().recs {
		cols := rec.Columns()
		for i := range int(rec.NumRows()) {
			key := int64(-1)
			if cols[0].IsValid(i) {
				key = int64(cols[0].(*array.Int32).Value(i))
			}
			if row >= len(order) || key != order[row] {
				t.Fatalf("row %d has group %d, want groups in order of appearance", row, key)
			}
			row++
			g := groups[key]
			f := func(c int) float64 { return cols[c].(*array.Float64).Value(i) }
			n := func(c int) int64 { return cols[c].(*array.Int64).Value(i) }
			str := func(c int) string { return cols[c].(*array.String).Value(i) }
			if n(1) != g.rows || n(2) != g.nonNull || n(3) != int64(len(g.distinct)) || (g.nonNull > 0 && n(4) != g.sum) || (g.nonNull == 0) != cols[4].IsNull(i) {
				t.Fatalf("group %d: counts and sum %d %d %d %d, want %d %d %d %d", key, n(1), n(2), n(3), n(4), g.rows, g.nonNull, len(g.distinct), g.sum)
			}
			if str(9) != g.minS || str(10) != g.maxS {
				t.Fatalf("group %d: min, max %s %s, want %s %s", key, str(9), str(10), g.minS, g.maxS)
			}
			if !g.hasX {
				for c := 5; c <= 12; c++ {
					if c != 9 && c != 10 && cols[c].IsValid(i) {
						t.Fatalf("group %d without x: column %d is not null", key, c)
					}
				}
				continue
			}
			var sum float64
			for _, x := range g.xs {
				sum += x
			}
			mean := sum / float64(len(g.xs))
			var ss float64
			for _, x := range g.xs {
				ss += (x - mean) * (x - mean)
			}
			sorted := slices.Sorted(slices.Values(g.xs))
			pos := 0.9 * float64(len(sorted)-1)
			lo := int(pos)
			q := sorted[lo]
			if lo+1 < len(sorted) {
				q += (pos - float64(lo)) * (sorted[lo+1] - sorted[lo])
			}
			if f(5) != sum || f(6) != mean || math.Abs(f(8)-q) > 1e-9 || f(11) != g.first || f(12) != g.last {
				t.Fatalf("group %d: sum, mean, q90, first, last %v %v %v %v %v, want %v %v %v %v %v",
					key, f(5), f(6), f(8), f(11), f(12), sum, mean, q, g.first, g.last)
			}
			if len(g.xs) < 2 {
				if cols[7].IsValid(i) {
					t.Fatalf("group %d: variance of one value is %v, want null", key, f(7))
				}
			} else if v := ss / float64(len(g.xs)-1); math.Abs(f(7)-v) > 1e-9*v {
				t.Fatalf("group %d: variance %v, want %v", key, f(7), v)
			}
		}
	}
	if row != len(order) {
		t.Fatalf("%d groups, want %d", row, len(order))
	}
}

// TestAggregateManyGroups checks that more than joinBatchRows groups are
// written in several batches.
func TestAggregateManyGroups(t *testing.T) {
	const groups = 100_000
	schema := schemaOf(field("k", arrow.PrimitiveTypes.Int64))
	te := newEnv(t, map[string]any{"by": []any{"k"}, "aggs": []any{aggFn("count", "", "as", "n"), aggFn("last", "k")}})
	b := array.NewInt64Builder(te.mem)
	for i := range 2 * groups {
		b.Append(int64(i % groups))
	}
	col := b.NewArray()
	b.Release()
	rec := array.NewRecordBatch(schema, []arrow.Array{col}, int64(col.Len()))
	col.Release()
	defer rec.Release()
	te.addInput(schema, rec)
	if err := te.run(aggregateOp()); err != nil {
		t.Fatal(err)
	}
	c := te.out()
	if c.rows() != groups || len(c.recs) != 2 || c.recs[0].NumRows() != joinBatchRows {
		t.Fatalf("%d groups in %d batches", c.rows(), len(c.recs))
	}
	var next int64
	for _, r := range c.recs {
		k, n, last := r.Column(0).(*array.Int64), r.Column(1).(*array.Int64), r.Column(2).(*array.Int64)
		for i := range int(r.NumRows()) {
			if k.Value(i) != next || n.Value(i) != 2 || last.Value(i) != next {
				t.Fatalf("row %d: %d %d %d", next, k.Value(i), n.Value(i), last.Value(i))
			}
			next++
		}
	}
}
