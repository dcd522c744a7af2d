package ops

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

var (
	joinLeftSchema = schemaOf(
		field("id", arrow.PrimitiveTypes.Int64),
		field("name", arrow.BinaryTypes.String),
	)
	joinRightSchema = schemaOf(
		field("name", arrow.BinaryTypes.String),
		field("id", arrow.PrimitiveTypes.Int64),
		field("score", arrow.PrimitiveTypes.Float64),
	)
	joinLeftDocs = []string{
		`[{"id":1,"name":"ann"},{"id":2,"name":"bob"},{"id":null,"name":"nil"}]`,
		`[]`,
		`[{"id":3,"name":"cat"},{"id":1,"name":"ann2"}]`,
	}
	joinRightDocs = []string{
		`[{"name":"x","id":1,"score":1.5},{"name":"y","id":3,"score":null}]`,
		`[{"name":"z","id":1,"score":2.5},{"name":"w","id":4,"score":4},{"name":"v","id":null,"score":9}]`,
	}
)

// joinRun runs join over the two inputs, each given as JSON batches.
func joinRun(t *testing.T, with map[string]any, ls *arrow.Schema, ldocs []string, rs *arrow.Schema, rdocs []string) (*testEnv, error) {
	t.Helper()
	te := newEnv(t, with)
	te.addJSONInput(ls, ldocs...)
	te.addJSONInput(rs, rdocs...)
	return te, te.run(joinOp())
}

// joinSorted renders the output like testEnv.table, with rows sorted.
func joinSorted(te *testEnv) string {
	lines := strings.Split(te.table(), "\n")
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func TestJoinHows(t *testing.T) {
	for _, tc := range []struct {
		how  string
		want []string // in output order
	}{
		{"inner", []string{
			"1|ann|x|1.5", "1|ann|z|2.5",
			"3|cat|y|(null)",
			"1|ann2|x|1.5", "1|ann2|z|2.5",
		}},
		{"left", []string{
			"1|ann|x|1.5", "1|ann|z|2.5",
			"2|bob|(null)|(null)",
			"(null)|nil|(null)|(null)",
			"3|cat|y|(null)",
			"1|ann2|x|1.5", "1|ann2|z|2.5",
		}},
		{"outer", []string{
			"1|ann|x|1.5", "1|ann|z|2.5",
			"2|bob|(null)|(null)",
			"(null)|nil|(null)|(null)",
			"3|cat|y|(null)",
			"1|ann2|x|1.5", "1|ann2|z|2.5",
			"4|(null)|w|4", // unmatched right rows come last
			"(null)|(null)|v|9",
		}},
	} {
		t.Run(tc.how, func(t *testing.T) {
			with := map[string]any{"on": []any{"id"}}
			if tc.how != "inner" {
				with["how"] = tc.how
			}
			te, err := joinRun(t, with, joinLeftSchema, joinLeftDocs, joinRightSchema, joinRightDocs)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := te.table(), strings.Join(tc.want, "\n"); got != want {
				t.Fatalf("join %s:\n%s\nwant:\n%s", tc.how, got, want)
			}
			if got := columnNames(te.out().schema); got != "id, name, name_right, score" {
				t.Fatalf("columns = %s", got)
			}
			if te.metrics["rows_out"] != int64(len(tc.want)) || te.metrics["rows_right"] != int64(5) || te.metrics["rows_left"] != int64(5) {
				t.Fatalf("metrics = %v", te.metrics)
			}
		})
	}
}

func TestJoinSeveralKeysAndSuffix(t *testing.T) {
	ls := schemaOf(
		field("day", arrow.FixedWidthTypes.Date32),
		field("city", arrow.BinaryTypes.String),
		field("v", arrow.PrimitiveTypes.Int32),
	)
	rs := schemaOf(
		field("town", arrow.BinaryTypes.String),
		field("date", arrow.FixedWidthTypes.Date32),
		field("v", arrow.PrimitiveTypes.Int32),
		field("city", arrow.BinaryTypes.String),
	)
	left := []string{`[{"day":"2024-01-01","city":"paris","v":1},{"day":"2024-01-02","city":"paris","v":2},
		{"day":"2024-01-01","city":"rome","v":3},{"day":"2024-01-01","city":null,"v":4}]`}
	right := []string{`[{"town":"paris","date":"2024-01-01","v":10,"city":"fr"},{"town":"rome","date":"2024-01-02","v":20,"city":"it"},
		{"town":null,"date":"2024-01-01","v":30,"city":"??"},{"town":"rome","date":"2024-01-01","v":40,"city":"it"}]`}
	with := map[string]any{"left_on": []any{"city", "day"}, "right_on": []string{"town", "date"}, "how": "outer", "suffix": "_r"}
	te, err := joinRun(t, with, ls, left, rs, right)
	if err != nil {
		t.Fatal(err)
	}
	if got := columnNames(te.out().schema); got != "day, city, v, v_r, city_r" {
		t.Fatalf("columns = %s", got)
	}
	want := strings.Join([]string{
		"2024-01-01|paris|1|10|fr",
		"2024-01-02|paris|2|(null)|(null)",
		"2024-01-01|rome|3|40|it",
		"2024-01-01|(null)|4|(null)|(null)", // a null key matches nothing, not even a null
		"2024-01-02|rome|(null)|20|it",
		"2024-01-01|(null)|(null)|30|??",
	}, "\n")
	if got := te.table(); got != want {
		t.Fatalf("join:\n%s\nwant:\n%s", got, want)
	}
	for _, f := range te.out().schema.Fields() {
		if !f.Nullable {
			t.Errorf("outer join column %s is not nullable", f.Name)
		}
	}
}

func TestJoinKeyTypes(t *testing.T) {
	ts := &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}
	cases := []struct {
		name   string
		lt, rt arrow.DataType
		lv, rv string // JSON values of the key, three per side
		want   string // matched left names, sorted
	}{
		{"float", arrow.PrimitiveTypes.Float64, arrow.PrimitiveTypes.Float64, `0, 1.5, null`, `-0.0, 1.5, 2`, "a|0|a0\nb|1.5|a1"},
		{"float32", arrow.PrimitiveTypes.Float32, arrow.PrimitiveTypes.Float32, `0.25, 1, 7`, `7, 8, 0.25`, "a|0.25|a2\nc|7|a0"},
		{"bool", arrow.FixedWidthTypes.Boolean, arrow.FixedWidthTypes.Boolean, `true, false, null`, `null, false, false`, "b|false|a1\nb|false|a2"},
		{"uint16", arrow.PrimitiveTypes.Uint16, arrow.PrimitiveTypes.Uint16, `1, 2, 65535`, `65535, 3, 1`, "a|1|a2\nc|65535|a0"},
		{"timestamp", ts, ts, `"2024-01-01T00:00:00Z", "2024-01-01T00:00:01Z", null`, `"2024-01-01T00:00:01Z", null, "2023-01-01T00:00:00Z"`, "b|2024-01-01T00:00:01Z|a0"},
		{"int8 vs uint64", arrow.PrimitiveTypes.Int8, arrow.PrimitiveTypes.Uint64, `-1, 5, 127`, `18446744073709551615, 127, 5`, "b|5|a2\nc|127|a1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ls := schemaOf(field("n", arrow.BinaryTypes.String), field("k", tc.lt))
			rs := schemaOf(field("k", tc.rt), field("m", arrow.BinaryTypes.String))
			lv, rv := strings.Split(tc.lv, ", "), strings.Split(tc.rv, ", ")
			left := fmt.Sprintf(`[{"n":"a","k":%s},{"n":"b","k":%s},{"n":"c","k":%s}]`, lv[0], lv[1], lv[2])
			right := fmt.Sprintf(`[{"k":%s,"m":"a0"},{"k":%s,"m":"a1"},{"k":%s,"m":"a2"}]`, rv[0], rv[1], rv[2])
			te, err := joinRun(t, map[string]any{"on": []any{"k"}}, ls, []string{left}, rs, []string{right})
			if err != nil {
				t.Fatal(err)
			}
			if got := joinSorted(te); got != tc.want {
				t.Fatalf("join on %s:\n%s\nwant:\n%s", tc.name, got, tc.want)
			}
		})
	}
}

func TestJoinMixedIntWidthsOuter(t *testing.T) {
	ls := schemaOf(field("k", arrow.PrimitiveTypes.Int16), field("a", arrow.BinaryTypes.String))
	rs := schemaOf(field("k", arrow.PrimitiveTypes.Int64), field("b", arrow.BinaryTypes.String))
	te, err := joinRun(t, map[string]any{"on": []any{"k"}, "how": "outer"}, ls,
		[]string{`[{"k":1,"a":"x"},{"k":-2,"a":"y"}]`}, rs,
		[]string{`[{"k":1,"b":"p"},{"k":5000000000,"b":"q"}]`})
	if err != nil {
		t.Fatal(err)
	}
	if typ := te.out().schema.Field(0).Type; typ.ID() != arrow.INT64 {
		t.Fatalf("outer key type = %s, want int64", typ)
	}
	if got, want := te.table(), "1|x|p\n-2|y|(null)\n5000000000|(null)|q"; got != want {
		t.Fatalf("join:\n%s\nwant:\n%s", got, want)
	}
	// Inner and left joins keep the left key's type.
	te, err = joinRun(t, map[string]any{"on": []any{"k"}, "how": "left"}, ls,
		[]string{`[{"k":1,"a":"x"},{"k":-2,"a":"y"}]`}, rs, []string{`[{"k":1,"b":"p"}]`})
	if err != nil {
		t.Fatal(err)
	}
	if typ := te.out().schema.Field(0).Type; typ.ID() != arrow.INT16 {
		t.Fatalf("left key type = %s, want int16", typ)
	}
}

func TestJoinEmptyInputs(t *testing.T) {
	empty := [][]string{nil, {`[]`}}
	for _, how := range []string{"inner", "left", "outer"} {
		for e, none := range empty {
			with := map[string]any{"on": []any{"id"}, "how": how}
			// An empty right side: only left and outer joins keep rows.
			te, err := joinRun(t, with, joinLeftSchema, joinLeftDocs, joinRightSchema, none)
			if err != nil {
				t.Fatal(err)
			}
			want := "1|ann|(null)|(null)\n2|bob|(null)|(null)\n(null)|nil|(null)|(null)\n3|cat|(null)|(null)\n1|ann2|(null)|(null)"
			if how == "inner" {
				want = ""
			}
			if got := te.table(); got != want {
				t.Errorf("%s join, empty right %d:\n%s\nwant:\n%s", how, e, got, want)
			}
			// An empty left side: only outer joins keep the right rows.
			te, err = joinRun(t, with, joinLeftSchema, none, joinRightSchema, joinRightDocs)
			if err != nil {
				t.Fatal(err)
			}
			want = "1|(null)|x|1.5\n3|(null)|y|(null)\n1|(null)|z|2.5\n4|(null)|w|4\n(null)|(null)|v|9"
			if how != "outer" {
				want = ""
			}
			if got := te.table(); got != want {
				t.Errorf("%s join, empty left %d:\n%s\nwant:\n%s", how, e, got, want)
			}
			if got := columnNames(te.out().schema); got != "id, name, name_right, score" {
				t.Errorf("columns = %s", got)
			}
		}
	}
}

func TestJoinBadWith(t *testing.T) {
	ts := arrow.FixedWidthTypes.Timestamp_s
	for _, tc := range []struct {
		with map[string]any
		want string
	}{
		{map[string]any{}, "with.on (or left_on and right_on) is required"},
		{map[string]any{"on": []any{}}, "with.on: want a list of key columns"},
		{map[string]any{"on": "id"}, "with.on: want a list of column names"},
		{map[string]any{"on": []any{"id"}, "left_on": []any{"id"}}, "not both"},
		{map[string]any{"left_on": []any{"id"}}, "with.right_on is required"},
		{map[string]any{"right_on": []any{"id"}}, "with.left_on is required"},
		{map[string]any{"left_on": []any{"id", "name"}, "right_on": []any{"id"}}, "with.left_on has 2 columns and with.right_on 1"},
		{map[string]any{"on": []any{"id", "id"}}, `key column "id" is listed twice`},
		{map[string]any{"on": []any{"id"}, "how": "full"}, `with.how: want inner, left or outer, got "full"`},
		{map[string]any{"on": []any{"id"}, "suffix": 3}, "with.suffix: want a string"},
		{map[string]any{"on": []any{"idx"}}, `the left input has no key column "idx"`},
		{map[string]any{"left_on": []any{"id"}, "right_on": []any{"score2"}}, `the right input has no key column "score2"`},
		{map[string]any{"on": []any{"id", "name"}, "suffix": ""}, ""}, // fine: name is a key
		{map[string]any{"left_on": []any{"name"}, "right_on": []any{"id"}},
			`left "name" is utf8, right "id" is int64 (integer types of different widths are compared as int64`},
		{map[string]any{"left_on": []any{"id"}, "right_on": []any{"score"}}, `left "id" is int64, right "score" is float64`},
		{map[string]any{"on": []any{"id"}, "suffix": ""}, `right column "name" is renamed "name", which is also taken`},
	} {
		_, err := joinRun(t, tc.with, joinLeftSchema, joinLeftDocs, joinRightSchema, joinRightDocs)
		if tc.want == "" {
			if err != nil {
				t.Errorf("with %v: %v", tc.with, err)
			}
			continue
		}
		wantErr(t, err, tc.want)
	}
	// Timestamps of different units are different types.
	ls := schemaOf(field("t", ts))
	rs := schemaOf(field("t", arrow.FixedWidthTypes.Timestamp_ms))
	_, err := joinRun(t, map[string]any{"on": []any{"t"}}, ls, nil, rs, nil)
	wantErr(t, err, `left "t" is timestamp[s, tz=UTC], right "t" is timestamp[ms, tz=UTC]`)
	// Lists cannot be keys.
	ls = schemaOf(field("l", arrow.ListOf(arrow.PrimitiveTypes.Int64)))
	_, err = joinRun(t, map[string]any{"on": []any{"l"}}, ls, nil, ls, nil)
	wantErr(t, err, `left key column "l" has type list`)
	// One input is not enough.
	te := newEnv(t, map[string]any{"on": []any{"id"}})
	te.addJSONInput(joinLeftSchema, joinLeftDocs...)
	wantErr(t, te.run(joinOp()), "join needs exactly 2 inputs")
}

func TestJoinCancelled(t *testing.T) {
	te := newEnv(t, map[string]any{"on": []any{"id"}})
	te.addJSONInput(joinLeftSchema, joinLeftDocs...)
	te.addJSONInput(joinRightSchema, joinRightDocs...)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := joinOp().Run(ctx, te.Env); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

// joinInts builds one batch of Int64 columns from the given values; a
// value of joinNull is null.
func joinInts(mem memory.Allocator, schema *arrow.Schema, cols ...[]int64) arrow.RecordBatch {
	b := array.NewRecordBuilder(mem, schema)
	defer b.Release()
	for j, vals := range cols {
		fb := b.Field(j).(*array.Int64Builder)
		for _, v := range vals {
			if v == joinNull {
				fb.AppendNull()
			} else {
				fb.Append(v)
			}
		}
	}
	return b.NewRecordBatch()
}

const joinNull = -1 << 62

// TestJoinLarge streams 200k left rows in many batches against 60k right
// rows with repeated and null keys, and checks row counts and sums
// against a brute-force join.
func TestJoinLarge(t *testing.T) {
	const leftRows, rightRows, keys = 200_000, 60_000, 40_000
	rng := rand.New(rand.NewPCG(1, 2))
	key := func() int64 {
		if rng.IntN(50) == 0 {
			return joinNull
		}
		return rng.Int64N(keys)
	}
	ls := schemaOf(field("k", arrow.PrimitiveTypes.Int64), field("lv", arrow.PrimitiveTypes.Int64))
	rs := schemaOf(field("k", arrow.PrimitiveTypes.Int32), field("rv", arrow.PrimitiveTypes.Int64))
	rsBuild := schemaOf(field("k", arrow.PrimitiveTypes.Int64), field("rv", arrow.PrimitiveTypes.Int64))
	lk, lv := make([]int64, leftRows), make([]int64, leftRows)
	rk, rv := make([]int64, rightRows), make([]int64, rightRows)
	for i := range lk {
		lk[i], lv[i] = key(), int64(i)
	}
	for i := range rk {
		rk[i], rv[i] = key(), int64(i)*7+1
	}
	// Brute force: per key, the left and right rows holding it.
	rightByKey := map[int64][]int64{}
	for i, k := range rk {
		if k != joinNull {
			rightByKey[k] = append(rightByKey[k], rv[i])
		}
	}
	type totals struct{ rows, matched, lsum, rsum int64 }
	var inner totals
	var unmatchedLeft int64
	leftKeys := map[int64]bool{}
	for i, k := range lk {
		leftKeys[k] = true
		m := rightByKey[k]
		if k == joinNull || len(m) == 0 {
			unmatchedLeft++
			continue
		}
		for _, r := range m {
			inner.rows++
			inner.lsum += lv[i]
			inner.rsum += r
		}
	}
	var unmatchedRight, unmatchedRightSum int64
	for i, k := range rk {
		if k == joinNull || !leftKeys[k] {
			unmatchedRight++
			unmatchedRightSum += rv[i]
		}
	}
	if inner.rows < joinBatchRows {
		t.Fatalf("fixture too small: %d inner rows", inner.rows)
	}
	for _, how := range []string{"inner", "left", "outer"} {
		t.Run(how, func(t *testing.T) {
			te := newEnv(t, map[string]any{"on": []any{"k"}, "how": how})
			var lrecs, rrecs []arrow.RecordBatch
			for i := 0; i < leftRows; i += 7_919 {
				end := min(i+7_919, leftRows)
				lrecs = append(lrecs, joinInts(te.mem, ls, lk[i:end], lv[i:end]))
			}
			for i := 0; i < rightRows; i += 10_007 {
				end := min(i+10_007, rightRows)
				wide := joinInts(te.mem, rsBuild, rk[i:end], rv[i:end])
				k32, err := joinCast(compute.WithAllocator(context.Background(), te.mem), wide.Column(0), arrow.PrimitiveTypes.Int32, "k")
				if err != nil {
					t.Fatal(err)
				}
				rrecs = append(rrecs, array.NewRecordBatch(rs, []arrow.Array{k32, wide.Column(1)}, wide.NumRows()))
				k32.Release()
				wide.Release()
			}
			t.Cleanup(func() {
				for _, r := range append(lrecs, rrecs...) {
					r.Release()
				}
			})
			te.addInput(ls, lrecs...)
			te.addInput(rs, rrecs...)
			if err := te.run(joinOp()); err != nil {
				t.Fatal(err)
			}
			var got totals
			var nullLV, nullRV, rsumAll int64
			for _, rec := range te.out().recs {
				if rec.NumRows() > joinBatchRows {
					t.Fatalf("batch of %d rows", rec.NumRows())
				}
				l, r := rec.Column(1).(*array.Int64), rec.Column(2).(*array.Int64)
				for i := 0; i < int(rec.NumRows()); i++ {
					got.rows++
					switch {
					case l.IsNull(i):
						nullLV++
						rsumAll += r.Value(i)
					case r.IsNull(i):
						nullRV++
					default:
						got.lsum += l.Value(i)
						got.rsum += r.Value(i)
					}
				}
			}
			want := totals{rows: inner.rows, lsum: inner.lsum, rsum: inner.rsum}
			var wantNullRV, wantNullLV, wantRightOnlySum int64
			if how != "inner" {
				want.rows += unmatchedLeft
				wantNullRV = unmatchedLeft
			}
			if how == "outer" {
				want.rows += unmatchedRight
				wantNullLV, wantRightOnlySum = unmatchedRight, unmatchedRightSum
			}
			if got != want || nullRV != wantNullRV || nullLV != wantNullLV || rsumAll != wantRightOnlySum {
				t.Fatalf("got %+v, %d/%d null left/right, right-only sum %d; want %+v, %d/%d, %d",
					got, nullLV, nullRV, rsumAll, want, wantNullLV, wantNullRV, wantRightOnlySum)
			}
		})
	}
}

// TestJoinManyToManyBatches checks that one left batch whose matches
// exceed joinBatchRows is written in several batches.
func TestJoinManyToManyBatches(t *testing.T) {
	te := newEnv(t, map[string]any{"on": []any{"k"}})
	s := schemaOf(field("k", arrow.PrimitiveTypes.Int64))
	ones := make([]int64, 300)
	for i := range ones {
		ones[i] = 1
	}
	rec := joinInts(te.mem, s, ones)
	defer rec.Release()
	te.addInput(s, rec)
	te.addInput(s, rec)
	if err := te.run(joinOp()); err != nil {
		t.Fatal(err)
	}
	c := te.out()
	if c.rows() != 90_000 || len(c.recs) != 2 || c.recs[0].NumRows() != joinBatchRows {
		t.Fatalf("%d rows in %d batches", c.rows(), len(c.recs))
	}
}

// TestJoinRegisters checks that the new ops' specs are accepted by a
// registry (they are registered in Builtin separately).
func TestJoinRegisters(t *testing.T) {
	r := NewRegistry()
	for _, op := range []Op{joinOp(), aggregateOp(), splitOp()} {
		if err := r.Register(op); err != nil {
			t.Fatal(err)
		}
		if d := op.Spec.Description; d == "" || !strings.HasSuffix(d, ".") || strings.Count(d, ". ") > 0 {
			t.Errorf("op %s: want a one-sentence description, got %q", op.Spec.Name, d)
		}
	}
}
