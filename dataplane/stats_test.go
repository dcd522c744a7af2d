package dataplane

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/forged-dev/forged/dag"
)

// statsSchema has a column of each kind the collector treats apart.
var statsSchema = arrow.NewSchema([]arrow.Field{
	{Name: "id", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	{Name: "x", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "ok", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
	{Name: "price", Type: &arrow.Decimal128Type{Precision: 10, Scale: 2}, Nullable: true},
	{Name: "at", Type: arrow.FixedWidthTypes.Timestamp_us, Nullable: true},
	{Name: "small", Type: arrow.PrimitiveTypes.Uint8, Nullable: true},
}, nil)

// statsRow is one row of statsSchema; nil fields are null.
type statsRow struct {
	id    *int64
	x     *float64
	s     *string
	ok    *bool
	price *string
	at    *int64
	small *uint8
}

func ptr[T any](v T) *T { return &v }

func statsBatch(t *testing.T, mem memory.Allocator, rows []statsRow) arrow.RecordBatch {
	t.Helper()
	b := array.NewRecordBuilder(mem, statsSchema)
	defer b.Release()
	for _, r := range rows {
		appendOr(b.Field(0), r.id, func(v int64) { b.Field(0).(*array.Int64Builder).Append(v) })
		appendOr(b.Field(1), r.x, func(v float64) { b.Field(1).(*array.Float64Builder).Append(v) })
		appendOr(b.Field(2), r.s, func(v string) { b.Field(2).(*array.StringBuilder).Append(v) })
		appendOr(b.Field(3), r.ok, func(v bool) { b.Field(3).(*array.BooleanBuilder).Append(v) })
		appendOr(b.Field(4), r.price, func(v string) {
			n, err := decimal128.FromString(v, 10, 2)
			if err != nil {
				t.Fatal(err)
			}
			b.Field(4).(*array.Decimal128Builder).Append(n)
		})
		appendOr(b.Field(5), r.at, func(v int64) { b.Field(5).(*array.TimestampBuilder).Append(arrow.Timestamp(v)) })
		appendOr(b.Field(6), r.small, func(v uint8) { b.Field(6).(*array.Uint8Builder).Append(v) })
	}
	return b.NewRecordBatch()
}

func appendOr[T any](b array.Builder, v *T, appendValue func(T)) {
	if v == nil {
		b.AppendNull()
	} else {
		appendValue(*v)
	}
}

func statsByName(stats []dag.ColumnStats) map[string]dag.ColumnStats {
	m := map[string]dag.ColumnStats{}
	for _, s := range stats {
		m[s.Name] = s
	}
	return m
}

func near(p *float64, want float64) bool {
	return p != nil && math.Abs(*p-want) <= 1e-9*math.Max(1, math.Abs(want))
}

func fmtPtr(p *float64) string {
	if p == nil {
		return "nil"
	}
	return fmt.Sprint(*p)
}

func fmtStats(s dag.ColumnStats) string {
	return fmt.Sprintf("%s %s count %d nulls %d min %s max %s mean %s std %s distinct %d capped %v", s.Name, s.Type,
		s.Count, s.Nulls, fmtPtr(s.Min), fmtPtr(s.Max), fmtPtr(s.Mean), fmtPtr(s.Std), s.Distinct, s.DistinctCapped)
}

// An output written in batches, one of them a slice (an offset into its
// buffers), carries the stats of all its rows: nulls apart, NaN and the
// infinities counted but kept out of min, max, mean and std.
func TestOutputsCarryColumnStats(t *testing.T) {
	s, mem := newStore(t)
	defer mem.AssertSize(t, 0)
	w, err := s.Create(OutputRef{Run: "r", Task: "t", Output: "out"}, statsSchema)
	if err != nil {
		t.Fatal(err)
	}
	write := func(rec arrow.RecordBatch) {
		t.Helper()
		if err := w.Write(rec); err != nil {
			t.Fatal(err)
		}
		rec.Release()
	}
	write(statsBatch(t, mem, []statsRow{
		{id: ptr[int64](1), x: ptr(1.5), s: ptr("a"), ok: ptr(true), price: ptr("1.25"), at: ptr[int64](5), small: ptr[uint8](200)},
		{x: ptr(math.NaN()), s: ptr("b"), price: ptr("2.75")},
		{id: ptr[int64](3), x: ptr(2.5), s: ptr("a"), ok: ptr(true), small: ptr[uint8](255)},
	}))
	// The slice keeps rows 1 and 2 of four: id 4 (row 1) and a null id.
	full := statsBatch(t, mem, []statsRow{
		{id: ptr[int64](999), x: ptr(999.0), s: ptr("zzz")},
		{id: ptr[int64](4), x: ptr(math.Inf(1)), s: ptr("c"), ok: ptr(true)},
		{x: ptr(math.Inf(-1))},
		{id: ptr[int64](-999), s: ptr("yyy")},
	})
	write(full.NewSlice(1, 3))
	full.Release()
	write(statsBatch(t, mem, []statsRow{{id: ptr[int64](10)}}))
	meta, err := w.Commit()
	if err != nil {
		t.Fatal(err)
	}
	if len(meta.Stats) != len(statsSchema.Fields()) {
		t.Fatalf("stats of %d columns, want %d", len(meta.Stats), len(statsSchema.Fields()))
	}
	for i, f := range statsSchema.Fields() {
		if meta.Stats[i].Name != f.Name || meta.Stats[i].Type != f.Type.String() {
			t.Errorf("stats %d: %s %s, want %s %s", i, meta.Stats[i].Name, meta.Stats[i].Type, f.Name, f.Type)
		}
	}
	got := statsByName(meta.Stats)
	// id: 1, 3, 4, 10: mean 4.5, squared deviations 45, sample std √15.
	if st := got["id"]; st.Count != 4 || st.Nulls != 2 || !near(st.Min, 1) || !near(st.Max, 10) || !near(st.Mean, 4.5) ||
		!near(st.Std, math.Sqrt(15)) || st.Distinct != 0 {
		t.Errorf("id: %s", fmtStats(st))
	}
	// x: 1.5, NaN, 2.5, +Inf, -Inf and three nulls.
	if st := got["x"]; st.Count != 5 || st.Nulls != 1 || !near(st.Min, 1.5) || !near(st.Max, 2.5) || !near(st.Mean, 2) ||
		!near(st.Std, math.Sqrt(0.5)) {
		t.Errorf("x: %s", fmtStats(st))
	}
	if st := got["s"]; st.Count != 4 || st.Nulls != 2 || st.Distinct != 3 || st.DistinctCapped || st.Min != nil || st.Mean != nil {
		t.Errorf("s: %s", fmtStats(st))
	}
	if st := got["ok"]; st.Count != 3 || st.Nulls != 3 || st.Distinct != 1 {
		t.Errorf("ok: %s", fmtStats(st))
	}
	if st := got["price"]; st.Count != 2 || !near(st.Min, 1.25) || !near(st.Max, 2.75) || !near(st.Mean, 2) {
		t.Errorf("price: %s", fmtStats(st))
	}
	if st := got["at"]; st.Count != 1 || st.Nulls != 5 || st.Min != nil || st.Mean != nil || st.Distinct != 0 {
		t.Errorf("at: %s", fmtStats(st))
	}
	if st := got["small"]; st.Count != 2 || !near(st.Min, 200) || !near(st.Max, 255) || !near(st.Std, math.Sqrt(1512.5)) {
		t.Errorf("small: %s", fmtStats(st))
	}
	// The stats travel in the replicated state as JSON, and are kept in
	// the sidecar.
	if _, err := json.Marshal(meta); err != nil {
		t.Fatalf("meta is not JSON: %v", err)
	}
	again, err := s.Meta(OutputRef{Run: "r", Task: "t", Output: "out"})
	if err != nil {
		t.Fatal(err)
	}
	if len(again.Stats) != len(meta.Stats) || !near(again.Stats[0].Mean, 4.5) {
		t.Fatalf("meta read back: stats %+v", again.Stats)
	}
}

// An output with no rows, or with only nulls, has zero counts and no
// numbers; a column of one value has no deviation.
func TestColumnStatsOfEmptyAndNullOutputs(t *testing.T) {
	s, mem := newStore(t)
	defer mem.AssertSize(t, 0)
	w, err := s.Create(OutputRef{Run: "r", Task: "empty", Output: "out"}, statsSchema)
	if err != nil {
		t.Fatal(err)
	}
	meta, err := w.Commit()
	if err != nil {
		t.Fatal(err)
	}
	if meta.Rows != 0 || len(meta.Stats) != len(statsSchema.Fields()) {
		t.Fatalf("empty output: %d rows, stats %+v", meta.Rows, meta.Stats)
	}
	for _, st := range meta.Stats {
		if st.Count != 0 || st.Nulls != 0 || st.Min != nil || st.Max != nil || st.Mean != nil || st.Std != nil || st.Distinct != 0 {
			t.Errorf("empty output: %s", fmtStats(st))
		}
	}

	var c statsCollector
	nulls := statsBatch(t, mem, []statsRow{{}, {}})
	c.add(nulls)
	nulls.Release()
	one := statsBatch(t, mem, []statsRow{{id: ptr[int64](7), x: ptr(math.NaN())}})
	c.add(one)
	one.Release()
	got := statsByName(c.result(statsSchema))
	if st := got["id"]; st.Count != 1 || st.Nulls != 2 || !near(st.Mean, 7) || !near(st.Min, 7) || st.Std != nil {
		t.Errorf("id: %s", fmtStats(st))
	}
	if st := got["x"]; st.Count != 1 || st.Nulls != 2 || st.Min != nil || st.Mean != nil {
		t.Errorf("x (only NaN): %s", fmtStats(st))
	}
	if st := got["s"]; st.Count != 0 || st.Nulls != 3 || st.Distinct != 0 {
		t.Errorf("s: %s", fmtStats(st))
	}
}

// textSchema holds the same text plain and dictionary-encoded.
var textSchema = arrow.NewSchema([]arrow.Field{
	{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "cat", Type: &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int16, ValueType: arrow.BinaryTypes.String}, Nullable: true},
}, nil)

// textBatch has the values in both columns; nil is null.
func textBatch(t *testing.T, mem memory.Allocator, vals []*string) arrow.RecordBatch {
	t.Helper()
	b := array.NewRecordBuilder(mem, textSchema)
	defer b.Release()
	for _, v := range vals {
		appendOr(b.Field(0), v, func(v string) { b.Field(0).(*array.StringBuilder).Append(v) })
		appendOr(b.Field(1), v, func(v string) {
			if err := b.Field(1).(*array.BinaryDictionaryBuilder).AppendString(v); err != nil {
				t.Fatal(err)
			}
		})
	}
	return b.NewRecordBatch()
}

// Dictionary columns count the distinct values their rows use, whatever
// each batch's dictionary holds, as text columns do.
func TestColumnStatsOfDictionaries(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	var c statsCollector
	rec := textBatch(t, mem, []*string{ptr("red"), nil, ptr("blue"), ptr("red")})
	c.add(rec)
	rec.Release()
	// A slice whose dictionary also holds values outside it (zzz).
	full := textBatch(t, mem, []*string{ptr("zzz"), ptr("green"), nil, ptr("red"), ptr("zzz")})
	rec = full.NewSlice(1, 4)
	full.Release()
	c.add(rec)
	rec.Release()
	for _, st := range c.result(textSchema) {
		if st.Count != 5 || st.Nulls != 2 || st.Distinct != 3 || st.DistinctCapped {
			t.Errorf("%s", fmtStats(st))
		}
	}
}

// Distinct values are counted up to dag.DistinctCap, then the count stops
// and says so.
func TestColumnStatsDistinctCap(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	for _, tc := range []struct {
		values int
		want   int
		capped bool
	}{{10, 10, false}, {dag.DistinctCap, dag.DistinctCap, false}, {dag.DistinctCap + 1, dag.DistinctCap, true}, {5000, dag.DistinctCap, true}} {
		var c statsCollector
		// Batches of 300 rows, each value twice.
		var vals []*string
		flush := func() {
			rec := textBatch(t, mem, vals)
			c.add(rec)
			rec.Release()
			vals = vals[:0]
		}
		for i := 0; i < 2*tc.values; i++ {
			vals = append(vals, ptr(fmt.Sprintf("v%d", i%tc.values)))
			if len(vals) == 300 {
				flush()
			}
		}
		flush()
		for _, st := range c.result(textSchema) {
			if st.Distinct != tc.want || st.DistinctCapped != tc.capped || st.Count != int64(2*tc.values) {
				t.Errorf("%d values: %s", tc.values, fmtStats(st))
			}
		}
	}
}

// A text column's distinct values are counted over its first
// dag.DistinctSample values; past them the count says it is a sample.
// Dictionary columns hash each used entry once and are never sampled.
func TestColumnStatsDistinctSample(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	for _, tc := range []struct {
		values  int
		sampled bool
	}{{dag.DistinctSample, false}, {dag.DistinctSample + 1, true}} {
		var c statsCollector
		vals := make([]*string, 0, 8192)
		// The first values take 5 distinct ones, the last one a sixth.
		for i := 0; i < tc.values; i++ {
			v := fmt.Sprintf("v%d", i%5)
			if i == tc.values-1 {
				v = "last"
			}
			vals = append(vals, ptr(v))
			if len(vals) == cap(vals) || i == tc.values-1 {
				rec := textBatch(t, mem, vals)
				c.add(rec)
				rec.Release()
				vals = vals[:0]
			}
		}
		got := statsByName(c.result(textSchema))
		text, dict := got[textSchema.Field(0).Name], got[textSchema.Field(1).Name]
		if want := map[bool]int{false: 6, true: 5}[tc.sampled]; text.Distinct != want || text.DistinctSampled != tc.sampled || text.Count != int64(tc.values) {
			t.Errorf("%d values, text: %s (sampled %v), want %d distinct", tc.values, fmtStats(text), text.DistinctSampled, want)
		}
		if dict.Distinct != 6 || dict.DistinctSampled {
			t.Errorf("%d values, dictionary: %s (sampled %v), want 6 distinct", tc.values, fmtStats(dict), dict.DistinctSampled)
		}
	}
}

// Only the first dag.StatsColumnsMax columns of a wide output get stats.
func TestColumnStatsOfWideOutputs(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	var fields []arrow.Field
	for i := 0; i < dag.StatsColumnsMax+6; i++ {
		fields = append(fields, arrow.Field{Name: fmt.Sprintf("c%d", i), Type: arrow.PrimitiveTypes.Int32})
	}
	schema := arrow.NewSchema(fields, nil)
	b := array.NewRecordBuilder(mem, schema)
	defer b.Release()
	for i := range fields {
		b.Field(i).(*array.Int32Builder).AppendValues([]int32{int32(i), int32(i) + 2}, nil)
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	var c statsCollector
	c.add(rec)
	got := c.result(schema)
	if len(got) != dag.StatsColumnsMax {
		t.Fatalf("stats of %d columns, want %d", len(got), dag.StatsColumnsMax)
	}
	last := got[dag.StatsColumnsMax-1]
	if last.Name != fmt.Sprintf("c%d", dag.StatsColumnsMax-1) || last.Count != 2 || !near(last.Mean, float64(dag.StatsColumnsMax)) {
		t.Fatalf("last stats: %s", fmtStats(last))
	}
}

// Folding batches of any size in gives the mean and deviation computed
// over all the values at once, even far from zero.
func TestColumnStatsMergeBatches(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	schema := arrow.NewSchema([]arrow.Field{{Name: "x", Type: arrow.PrimitiveTypes.Float64}}, nil)
	rng := rand.New(rand.NewPCG(1, 2))
	var all []float64
	var c statsCollector
	for len(all) < 20000 {
		n := 1 + rng.IntN(3000)
		vals := make([]float64, n)
		for i := range vals {
			vals[i] = 1e9 + rng.NormFloat64()*3
		}
		all = append(all, vals...)
		b := array.NewFloat64Builder(mem)
		b.AppendValues(vals, nil)
		col := b.NewArray()
		b.Release()
		rec := array.NewRecordBatch(schema, []arrow.Array{col}, int64(n))
		col.Release()
		c.add(rec)
		rec.Release()
	}
	var sum float64
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, v := range all {
		sum += v
		lo, hi = min(lo, v), max(hi, v)
	}
	mean := sum / float64(len(all))
	var m2 float64
	for _, v := range all {
		m2 += (v - mean) * (v - mean)
	}
	std := math.Sqrt(m2 / float64(len(all)-1))
	st := c.result(schema)[0]
	if st.Count != int64(len(all)) || *st.Min != lo || *st.Max != hi || math.Abs(*st.Mean-mean) > 1e-12*mean || math.Abs(*st.Std-std) > 1e-9*std {
		t.Fatalf("stats %s, want mean %v std %v", fmtStats(st), mean, std)
	}
}

// Values whose mean overflows give no mean rather than one JSON cannot
// hold.
func TestColumnStatsOverflowStaysJSON(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	var c statsCollector
	rec := statsBatch(t, mem, []statsRow{{x: ptr(math.MaxFloat64)}, {x: ptr(math.MaxFloat64)}})
	c.add(rec)
	rec.Release()
	st := statsByName(c.result(statsSchema))["x"]
	if !near(st.Max, math.MaxFloat64) || st.Mean != nil || st.Std != nil {
		t.Fatalf("x: %s", fmtStats(st))
	}
	if _, err := json.Marshal(st); err != nil {
		t.Fatal(err)
	}
}
