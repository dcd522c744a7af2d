package ops

import (
	"fmt"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"
)

// select and filter stream a large input batch by batch and get every
// row right.
func TestSelectAndFilterStreamLargeInputs(t *testing.T) {
	const rows, batch = 200_000, 4096
	te := newEnv(t, map[string]any{"columns": []any{"f", "i", "s"}})
	batches := genInput(te, rows, batch)
	if err := te.run(selectOp()); err != nil {
		t.Fatal(err)
	}
	if got := len(te.out().recs); got != batches {
		t.Fatalf("select wrote %d batches for %d", got, batches)
	}
	k := int64(0)
	for _, rec := range te.out().recs {
		for r := 0; r < int(rec.NumRows()); r++ {
			genCheckRow(t, rec, r, k, 1, 2, 0)
			k++
		}
	}
	if k != rows {
		t.Fatalf("select wrote %d rows", k)
	}

	te = newEnv(t, map[string]any{"expr": "i % 3 == 0 and s is not null"})
	genInput(te, rows, batch)
	if err := te.run(filterOp()); err != nil {
		t.Fatal(err)
	}
	var want []int64
	for i := int64(0); i < rows; i++ {
		if i%3 == 0 && i%7 != 3 {
			want = append(want, i)
		}
	}
	got := genInts(te, "i")
	if len(got) != len(want) {
		t.Fatalf("filter kept %d rows, want %d", len(got), len(want))
	}
	for j := range want {
		if got[j] != want[j] {
			t.Fatalf("row %d: i = %d, want %d", j, got[j], want[j])
		}
	}
}

// An input with no batches, or only empty ones, gives an empty output
// with the right schema.
func TestSelectAndFilterEmptyInputs(t *testing.T) {
	for _, zeroRowBatch := range []bool{false, true} {
		for name, op := range map[string]Op{"select": selectOp(), "filter": filterOp()} {
			t.Run(fmt.Sprintf("%s/zero-row-batch=%v", name, zeroRowBatch), func(t *testing.T) {
				te := newEnv(t, map[string]any{"columns": []any{"s"}, "expr": "i > 1"})
				if op.Spec.Name == "select" {
					delete(te.Task.With, "expr")
				} else {
					delete(te.Task.With, "columns")
				}
				if zeroRowBatch {
					genInput(te, 0, 10)
					b := array.NewRecordBuilder(te.mem, genSchema)
					rec := b.NewRecordBatch()
					b.Release()
					t.Cleanup(rec.Release)
					te.Inputs = te.Inputs[:0]
					te.addInput(genSchema, rec)
				} else {
					te.addInput(genSchema)
				}
				if err := te.run(op); err != nil {
					t.Fatal(err)
				}
				if te.out().rows() != 0 || te.out().schema.NumFields() == 0 {
					t.Fatalf("output %s with %d rows", te.out().schema, te.out().rows())
				}
			})
		}
	}
}

// read_csv streams a large file in batches of batch_rows.
func TestReadCSVStreamsLargeFiles(t *testing.T) {
	const rows = 200_000
	var sb strings.Builder
	sb.WriteString("i,s,f\n")
	for i := 0; i < rows; i++ {
		s, f := fmt.Sprint(i), fmt.Sprint(float64(i)/2)
		if i%7 == 3 {
			s = ""
		}
		if i%11 == 5 {
			f = ""
		}
		fmt.Fprintf(&sb, "%d,%s,%s\n", i, s, f)
	}
	te := newEnv(t, map[string]any{"batch_rows": 10_000})
	te.Task.With["path"] = te.file("big.csv", sb.String())
	if err := te.run(readCSVOp()); err != nil {
		t.Fatal(err)
	}
	c := te.out()
	if len(c.recs) != rows/10_000 || c.rows() != rows {
		t.Fatalf("%d batches, %d rows", len(c.recs), c.rows())
	}
	k := int64(0)
	for _, rec := range c.recs {
		for r := 0; r < int(rec.NumRows()); r++ {
			if got := rec.Column(0).(*array.Int64).Value(r); got != k {
				t.Fatalf("row %d: i = %d", k, got)
			}
			if (k%7 == 3) != rec.Column(1).IsNull(r) || (k%11 == 5) != rec.Column(2).IsNull(r) {
				t.Fatalf("row %d: nulls s=%v f=%v", k, rec.Column(1).IsNull(r), rec.Column(2).IsNull(r))
			}
			k++
		}
	}
}

// write_parquet then read_parquet round-trips a large input exactly.
func TestParquetRoundTripsLargeInputs(t *testing.T) {
	const rows = 200_000
	wr := newEnv(t, map[string]any{"path": "big.parquet"})
	genInput(wr, rows, 8192)
	if err := wr.run(writeParquetOp()); err != nil {
		t.Fatal(err)
	}
	rd := newEnv(t, map[string]any{"path": "big.parquet", "batch_rows": 16_384})
	rd.DataRoots = wr.DataRoots
	if err := rd.run(readParquetOp()); err != nil {
		t.Fatal(err)
	}
	if len(rd.out().recs) < rows/16_384 || rd.out().rows() != rows {
		t.Fatalf("%d batches, %d rows", len(rd.out().recs), rd.out().rows())
	}
	k := int64(0)
	for _, rec := range rd.out().recs {
		for r := 0; r < int(rec.NumRows()); r++ {
			genCheckRow(t, rec, r, k, 0, 1, 2)
			k++
		}
	}
}
