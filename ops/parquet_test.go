package ops

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

func TestParquetRoundTrip(t *testing.T) {
	// write_parquet: two input batches into a new sub directory.
	wr := newEnv(t, map[string]any{"path": "out/people.parquet"})
	wr.addJSONInput(peopleSchema, people1, people2)
	if err := wr.run(writeParquetOp()); err != nil {
		t.Fatal(err)
	}
	res := wr.out()
	if !res.schema.Equal(writeParquetSchema) || res.rows() != 1 {
		t.Fatalf("write_parquet output %s, %d rows", res.schema, res.rows())
	}
	rec := res.recs[0]
	path := rec.Column(0).(*array.String).Value(0)
	st, err := os.Stat(path)
	if err != nil || rec.Column(1).(*array.Int64).Value(0) != 5 || rec.Column(2).(*array.Int64).Value(0) != st.Size() {
		t.Fatalf("write_parquet row %s / %v", wr.table(), err)
	}
	if !strings.HasSuffix(path, filepath.Join("out", "people.parquet")) {
		t.Fatalf("path %s", path)
	}
	if tmps, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".*tmp")); len(tmps) != 0 {
		t.Fatalf("temp files left: %v", tmps)
	}

	// read_parquet: the same rows come back, in small batches.
	rd := newEnv(t, map[string]any{"path": path, "batch_rows": 2})
	rd.DataRoots = wr.DataRoots
	if err := rd.run(readParquetOp()); err != nil {
		t.Fatal(err)
	}
	if !rd.out().schema.Equal(peopleSchema) {
		t.Fatalf("schema %s", rd.out().schema)
	}
	if got := rd.table(); got != "ann|31|1.5\nbob|17|(null)\n(null)|(null)|3\ncid|45|-2\ndee|18|0.25" {
		t.Fatalf("table:\n%s", got)
	}
	if len(rd.out().recs) < 3 || rd.metrics["rows"] != int64(5) {
		t.Fatalf("%d batches, metrics %v", len(rd.out().recs), rd.metrics)
	}
}

func TestParquetEmptyAndErrors(t *testing.T) {
	wr := newEnv(t, map[string]any{"path": "empty.parquet"})
	wr.addInput(peopleSchema)
	if err := wr.run(writeParquetOp()); err != nil {
		t.Fatal(err)
	}
	rd := newEnv(t, map[string]any{"path": "empty.parquet"})
	rd.DataRoots = wr.DataRoots
	if err := rd.run(readParquetOp()); err != nil {
		t.Fatal(err)
	}
	if rd.out().rows() != 0 || rd.out().schema.NumFields() != 3 {
		t.Fatalf("empty parquet: %s", rd.out().schema)
	}

	te := newEnv(t, nil)
	te.Task.With = map[string]any{"path": te.file("bad.parquet", "not parquet at all")}
	wantErr(t, te.run(readParquetOp()), "not a readable Parquet file")

	te = newEnv(t, map[string]any{"path": "../x.parquet"})
	te.addJSONInput(peopleSchema, people1)
	wantErr(t, te.run(writeParquetOp()), "path ../x.parquet is outside the data roots")

	te = newEnv(t, map[string]any{"path": "."})
	te.addJSONInput(peopleSchema, people1)
	wantErr(t, te.run(writeParquetOp()), "is a directory")

	te = newEnv(t, map[string]any{"path": "/etc/passwd"})
	wantErr(t, te.run(readParquetOp()), "is outside the data roots")
}

func TestWriteParquetReplaces(t *testing.T) {
	te := newEnv(t, map[string]any{"path": "p.parquet"})
	te.file("p.parquet", "old content")
	schema := schemaOf(field("x", arrow.PrimitiveTypes.Int32))
	te.addJSONInput(schema, `[{"x":1},{"x":2}]`)
	if err := te.run(writeParquetOp()); err != nil {
		t.Fatal(err)
	}
	rd := newEnv(t, map[string]any{"path": "p.parquet"})
	rd.DataRoots = te.DataRoots
	if err := rd.run(readParquetOp()); err != nil {
		t.Fatal(err)
	}
	if rd.table() != "1\n2" {
		t.Fatalf("table %q", rd.table())
	}
}
