package ops

import (
	"strconv"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// genSchema is the schema of genInput's batches: i counts rows from 0,
// s is i as text (null when i%7 == 3) and f is i/2 (null when i%11 == 5).
var genSchema = schemaOf(
	field("i", arrow.PrimitiveTypes.Int64),
	field("s", arrow.BinaryTypes.String),
	field("f", arrow.PrimitiveTypes.Float64),
)

// genInput adds an input of rows rows in batches of batch rows (the last
// one shorter) and returns how many batches it made.
func genInput(te *testEnv, rows, batch int) int {
	var recs []arrow.RecordBatch
	b := array.NewRecordBuilder(te.mem, genSchema)
	defer b.Release()
	for lo := 0; lo < rows; lo += batch {
		for i := lo; i < min(lo+batch, rows); i++ {
			b.Field(0).(*array.Int64Builder).Append(int64(i))
			if i%7 == 3 {
				b.Field(1).AppendNull()
			} else {
				b.Field(1).(*array.StringBuilder).Append(strconv.Itoa(i))
			}
			if i%11 == 5 {
				b.Field(2).AppendNull()
			} else {
				b.Field(2).(*array.Float64Builder).Append(float64(i) / 2)
			}
		}
		recs = append(recs, b.NewRecordBatch())
	}
	te.t.Cleanup(func() {
		for _, r := range recs {
			r.Release()
		}
	})
	te.addInput(genSchema, recs...)
	return len(recs)
}

// genCheckRow fails unless row k of an output of genSchema's columns (in
// the given positions) is input row i.
func genCheckRow(t testing.TB, rec arrow.RecordBatch, k int, i int64, ci, cs, cf int) {
	t.Helper()
	if got := rec.Column(ci).(*array.Int64).Value(k); got != i {
		t.Fatalf("row %d: i = %d, want %d", k, got, i)
	}
	s := rec.Column(cs).(*array.String)
	if i%7 == 3 {
		if !s.IsNull(k) {
			t.Fatalf("row %d (i %d): s = %q, want null", k, i, s.Value(k))
		}
	} else if s.IsNull(k) || s.Value(k) != strconv.FormatInt(i, 10) {
		t.Fatalf("row %d (i %d): s = %q", k, i, s.ValueStr(k))
	}
	f := rec.Column(cf).(*array.Float64)
	if i%11 == 5 {
		if !f.IsNull(k) {
			t.Fatalf("row %d (i %d): f = %v, want null", k, i, f.Value(k))
		}
	} else if f.IsNull(k) || f.Value(k) != float64(i)/2 {
		t.Fatalf("row %d (i %d): f = %s", k, i, f.ValueStr(k))
	}
}

// genInts returns the named int64 column of the output, row by row.
func genInts(te *testEnv, name string) []int64 {
	te.t.Helper()
	c := te.out()
	idx := c.schema.FieldIndices(name)
	if len(idx) == 0 {
		te.t.Fatalf("no column %q in the output %s", name, c.schema)
	}
	var out []int64
	for _, rec := range c.recs {
		out = append(out, rec.Column(idx[0]).(*array.Int64).Int64Values()...)
	}
	return out
}
