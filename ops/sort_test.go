package ops

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

func TestSort(t *testing.T) {
	for _, tc := range []struct {
		by    []any
		nulls any
		want  string
	}{
		{[]any{"-age"}, nil, "cid|45|-2\nann|31|1.5\ndee|18|0.25\nbob|17|(null)\n(null)|(null)|3"},
		{[]any{"-age"}, "first", "(null)|(null)|3\ncid|45|-2\nann|31|1.5\ndee|18|0.25\nbob|17|(null)"},
		{[]any{"score"}, "last", "cid|45|-2\ndee|18|0.25\nann|31|1.5\n(null)|(null)|3\nbob|17|(null)"},
		{[]any{"name"}, "first", "(null)|(null)|3\nann|31|1.5\nbob|17|(null)\ncid|45|-2\ndee|18|0.25"},
	} {
		te := newEnv(t, map[string]any{"by": tc.by, "nulls": tc.nulls})
		te.addJSONInput(peopleSchema, people1, people2)
		if err := te.run(sortOp()); err != nil {
			t.Fatal(err)
		}
		if got := te.table(); got != tc.want {
			t.Errorf("by %v nulls %v:\n%s\nwant:\n%s", tc.by, tc.nulls, got, tc.want)
		}
		if !te.out().schema.Equal(peopleSchema) {
			t.Errorf("schema %s", te.out().schema)
		}
	}
}

func TestSortStableMultiKey(t *testing.T) {
	schema := schemaOf(field("g", arrow.BinaryTypes.String), field("v", arrow.PrimitiveTypes.Int64), field("id", arrow.PrimitiveTypes.Int64))
	te := newEnv(t, map[string]any{"by": []any{"g", "-v"}})
	te.addJSONInput(schema,
		`[{"g":"b","v":1,"id":0},{"g":"a","v":1,"id":1},{"g":"b","v":2,"id":2},{"g":"a","v":1,"id":3}]`,
		`[]`,
		`[{"g":"a","v":2,"id":4},{"g":"b","v":1,"id":5},{"g":null,"v":9,"id":6},{"g":"a","v":null,"id":7},{"g":"a","v":1,"id":8}]`)
	if err := te.run(sortOp()); err != nil {
		t.Fatal(err)
	}
	// Within g=a: v descending, nulls last, ties in input order.
	if got := genInts(te, "id"); !slices.Equal(got, []int64{4, 1, 3, 8, 7, 2, 0, 5, 6}) {
		t.Fatalf("ids %v", got)
	}
}

// NaN sorts above every number, whatever the batches; arrow-go 18.8's
// sort_indices kernel gets this wrong for descending multi-chunk input.
func TestSortNaN(t *testing.T) {
	schema := schemaOf(field("x", arrow.PrimitiveTypes.Float64), field("id", arrow.PrimitiveTypes.Int64))
	nan := math.NaN()
	mk := func(te *testEnv, from int64, vals ...float64) arrow.RecordBatch {
		b := array.NewRecordBuilder(te.mem, schema)
		defer b.Release()
		for i, v := range vals {
			if math.IsInf(v, -1) {
				b.Field(0).AppendNull()
			} else {
				b.Field(0).(*array.Float64Builder).Append(v)
			}
			b.Field(1).(*array.Int64Builder).Append(from + int64(i))
		}
		return b.NewRecordBatch()
	}
	null := math.Inf(-1)
	for _, tc := range []struct {
		by    string
		nulls string
		want  []int64
	}{
		{"x", "last", []int64{2, 5, 0, 6, 1, 4, 3, 7}},
		{"-x", "last", []int64{1, 4, 6, 0, 5, 2, 3, 7}},
		{"-x", "first", []int64{3, 7, 1, 4, 6, 0, 5, 2}},
		{"x", "first", []int64{3, 7, 2, 5, 0, 6, 1, 4}},
	} {
		te := newEnv(t, map[string]any{"by": []any{tc.by}, "nulls": tc.nulls})
		r1, r2 := mk(te, 0, 3, nan, 1, null), mk(te, 4, nan, 2, 5, null)
		te.addInput(schema, r1, r2)
		t.Cleanup(func() { r1.Release(); r2.Release() })
		if err := te.run(sortOp()); err != nil {
			t.Fatal(err)
		}
		if got := genInts(te, "id"); !slices.Equal(got, tc.want) {
			t.Errorf("by %s nulls %s: ids %v, want %v", tc.by, tc.nulls, got, tc.want)
		}
	}
}

func TestSortTypes(t *testing.T) {
	schema := schemaOf(
		field("b", arrow.FixedWidthTypes.Boolean),
		field("u", arrow.PrimitiveTypes.Uint8),
		field("f", arrow.PrimitiveTypes.Float32),
		field("d", arrow.FixedWidthTypes.Date32),
		field("ts", &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}),
		field("i16", arrow.PrimitiveTypes.Int16),
	)
	doc := `[{"b":true,"u":200,"f":-1.5,"d":"2024-03-01","ts":"2024-01-01T00:00:01Z","i16":-5},
		{"b":false,"u":7,"f":2.25,"d":"1999-12-31","ts":"2023-06-01T00:00:00Z","i16":300},
		{"b":null,"u":null,"f":null,"d":null,"ts":null,"i16":null},
		{"b":true,"u":0,"f":0,"d":"2024-02-29","ts":"2024-01-01T00:00:00Z","i16":-300}]`
	for col, want := range map[string]string{"b": "1 0 3 2", "u": "3 1 0 2", "f": "0 3 1 2", "d": "1 3 0 2", "ts": "1 3 0 2", "i16": "3 0 1 2"} {
		te := newEnv(t, map[string]any{"by": []any{col}})
		te.addJSONInput(schema, doc)
		if err := te.run(sortOp()); err != nil {
			t.Fatal(err)
		}
		// Find each output row's input position by its u and i16 pair.
		var got []string
		for _, line := range strings.Split(te.table(), "\n") {
			cells := strings.Split(line, "|")
			got = append(got, map[string]string{"200": "0", "7": "1", "(null)": "2", "0": "3"}[cells[1]])
		}
		if strings.Join(got, " ") != want {
			t.Errorf("by %s: rows %s, want %s\n%s", col, strings.Join(got, " "), want, te.table())
		}
	}
}

func TestSortEmpty(t *testing.T) {
	for _, docs := range [][]string{nil, {"[]"}, {"[]", "[]"}} {
		te := newEnv(t, map[string]any{"by": []any{"age"}})
		te.addJSONInput(peopleSchema, docs...)
		if err := te.run(sortOp()); err != nil {
			t.Fatal(err)
		}
		if te.out().rows() != 0 || !te.out().schema.Equal(peopleSchema) {
			t.Fatalf("%d rows, schema %s", te.out().rows(), te.out().schema)
		}
	}
}

func TestSortErrors(t *testing.T) {
	listSchema := schemaOf(field("id", arrow.PrimitiveTypes.Int64), field("tags", arrow.ListOf(arrow.BinaryTypes.String)))
	for _, tc := range []struct {
		with   map[string]any
		schema *arrow.Schema
		doc    string
		want   string
	}{
		{map[string]any{"by": []any{"-agee"}}, peopleSchema, people1, `with.by: no column "agee" in the input (columns: name, age, score)`},
		{map[string]any{"by": []any{"age", "-age"}}, peopleSchema, people1, `with.by: column "age" is listed twice`},
		{map[string]any{"by": []any{}}, peopleSchema, people1, "with.by: want a list of column names"},
		{map[string]any{"by": "age"}, peopleSchema, people1, "with.by: want a list of column names"},
		{map[string]any{"by": []any{"age"}, "nulls": "middle"}, peopleSchema, people1, `with.nulls: want first or last, got "middle"`},
		{map[string]any{"by": []any{"id", "tags"}}, listSchema, `[{"id":1,"tags":["a"]}]`, `with.by: column "tags" holds list<item: utf8, nullable> values, which cannot be sorted`},
	} {
		te := newEnv(t, tc.with)
		te.addJSONInput(tc.schema, tc.doc)
		wantErr(t, te.run(sortOp()), tc.want)
	}

	te := newEnv(t, map[string]any{"by": []any{"age"}})
	te.addJSONInput(peopleSchema, people1)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := sortOp().Run(ctx, te.Env); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled sort = %v", err)
	}
}

// TestSortLarge sorts 200k rows in uneven batches by three keys and checks
// every row against a plain stable sort of the same values.
func TestSortLarge(t *testing.T) {
	t.Run("nulls last", func(t *testing.T) { sortLarge(t, 200_000, false) })
	t.Run("nulls first", func(t *testing.T) { sortLarge(t, 70_000, true) })
}

func sortLarge(t *testing.T, rows int, nullsFirst bool) {
	schema := schemaOf(
		field("k1", arrow.PrimitiveTypes.Int64),
		field("k2", arrow.BinaryTypes.String),
		field("k3", arrow.PrimitiveTypes.Float64),
		field("id", arrow.PrimitiveTypes.Int64),
	)
	type row struct {
		k1     int64
		k2     string
		k3     float64
		n1, n2 bool // k1, k2 null
		n3     bool
	}
	rng := rand.New(rand.NewPCG(1, 2))
	data := make([]row, rows)
	for i := range data {
		data[i] = row{k1: rng.Int64N(40), k2: "s" + strconv.Itoa(rng.IntN(30)), k3: float64(rng.IntN(5)),
			n1: rng.IntN(20) == 0, n2: rng.IntN(15) == 0, n3: rng.IntN(25) == 0}
		if rng.IntN(30) == 0 {
			data[i].k3 = math.NaN()
		}
	}
	te := newEnv(t, map[string]any{"by": []any{"k1", "-k2", "-k3"}, "nulls": map[bool]string{false: "last", true: "first"}[nullsFirst]})
	b := array.NewRecordBuilder(te.mem, schema)
	var recs []arrow.RecordBatch
	for lo := 0; lo < rows; {
		hi := min(lo+1+rng.IntN(9000), rows)
		for i := lo; i < hi; i++ {
			d := data[i]
			if d.n1 {
				b.Field(0).AppendNull()
			} else {
				b.Field(0).(*array.Int64Builder).Append(d.k1)
			}
			if d.n2 {
				b.Field(1).AppendNull()
			} else {
				b.Field(1).(*array.StringBuilder).Append(d.k2)
			}
			if d.n3 {
				b.Field(2).AppendNull()
			} else {
				b.Field(2).(*array.Float64Builder).Append(d.k3)
			}
			b.Field(3).(*array.Int64Builder).Append(int64(i))
		}
		recs = append(recs, b.NewRecordBatch())
		lo = hi
	}
	b.Release()
	t.Cleanup(func() {
		for _, r := range recs {
			r.Release()
		}
	})
	te.addInput(schema, recs...)
	if err := te.run(sortOp()); err != nil {
		t.Fatal(err)
	}

	// The reference: nulls placed first or last whatever the direction;
	// NaN above every number.
	nullCmp := func(na, nb bool) (int, bool) {
		switch {
		case na && nb:
			return 0, true
		case na == nullsFirst && na:
			return -1, true
		case na:
			return 1, true
		case nb && nullsFirst:
			return 1, true
		case nb:
			return -1, true
		}
		return 0, false
	}
	want := make([]int64, rows)
	for i := range want {
		want[i] = int64(i)
	}
	sort.SliceStable(want, func(x, y int) bool {
		a, b := data[want[x]], data[want[y]]
		if c, ok := nullCmp(a.n1, b.n1); ok {
			if c != 0 {
				return c < 0
			}
		} else if a.k1 != b.k1 {
			return a.k1 < b.k1
		}
		if c, ok := nullCmp(a.n2, b.n2); ok {
			if c != 0 {
				return c < 0
			}
		} else if a.k2 != b.k2 {
			return a.k2 > b.k2
		}
		if c, ok := nullCmp(a.n3, b.n3); ok {
			return c < 0
		}
		an, bn := math.IsNaN(a.k3), math.IsNaN(b.k3)
		switch {
		case an && bn:
			return false
		case an || bn:
			return an // descending: NaN, the largest, first
		}
		return a.k3 > b.k3
	})
	got := genInts(te, "id")
	if len(got) != rows {
		t.Fatalf("%d rows", len(got))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("nulls first %v: row %d is input row %d, want %d", nullsFirst, i, got[i], want[i])
		}
	}
	c := te.out()
	if want := (rows + sortBatchRows - 1) / sortBatchRows; len(c.recs) != want {
		t.Fatalf("%d output batches, want %d of at most 64k rows", len(c.recs), want)
	}
	for _, rec := range c.recs {
		if rec.NumRows() > sortBatchRows {
			t.Fatalf("an output batch has %d rows", rec.NumRows())
		}
	}
}

// TestSortIndicesCancel stops a sort in the middle of its comparisons.
func TestSortIndicesCancel(t *testing.T) {
	mem := newEnv(t, nil).mem
	b := array.NewInt64Builder(mem)
	defer b.Release()
	for i := range 100_000 {
		b.Append(int64(i * 7919 % 100_003))
	}
	arr := b.NewArray()
	defer arr.Release()
	keys := []sortKey{{name: "x", arr: arr, cmp: comparator(arr)}}
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	keys[0].cmp = func(i, j int64) int {
		if calls++; calls == 1000 {
			cancel()
		}
		return comparator(arr)(i, j)
	}
	if _, err := sortIndices(ctx, keys, int64(arr.Len()), false); !errors.Is(err, context.Canceled) {
		t.Fatalf("sortIndices = %v", err)
	}
	if calls > 1000+0x10000 {
		t.Fatalf("%d comparisons after the cancel", calls-1000)
	}
}
