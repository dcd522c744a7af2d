package ops

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// writeCSVRun runs write_csv and returns the file's content, checking the
// output row.
func writeCSVRun(t *testing.T, te *testEnv) string {
	t.Helper()
	if err := te.run(writeCSVOp()); err != nil {
		t.Fatal(err)
	}
	res := te.out()
	if !res.schema.Equal(writeCSVSchema) || res.rows() != 1 {
		t.Fatalf("write_csv output %s, %d rows", res.schema, res.rows())
	}
	rec := res.recs[0]
	path := rec.Column(0).(*array.String).Value(0)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Column(2).(*array.Int64).Value(0) != int64(len(data)) {
		t.Fatalf("bytes %d, file has %d", rec.Column(2).(*array.Int64).Value(0), len(data))
	}
	if tmps, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".*tmp")); len(tmps) != 0 {
		t.Fatalf("temp files left: %v", tmps)
	}
	if rows := rec.Column(1).(*array.Int64).Value(0); te.metrics["rows"] != rows {
		t.Fatalf("rows %d, metrics %v", rows, te.metrics)
	}
	return string(data)
}

func TestWriteCSV(t *testing.T) {
	te := newEnv(t, map[string]any{"path": "out/people.csv"})
	te.addJSONInput(peopleSchema, people1, `[]`, `[{"name":"x, \"y\"\nz","age":1,"score":1e21}]`)
	got := writeCSVRun(t, te)
	want := "name,age,score\nann,31,1.5\nbob,17,\n,,3\n\"x, \"\"y\"\"\nz\",1,1e+21\n"
	if got != want {
		t.Fatalf("file:\n%s\nwant:\n%s", got, want)
	}
	if p := te.out().recs[0].Column(0).(*array.String).Value(0); !strings.HasSuffix(p, filepath.Join("out", "people.csv")) {
		t.Fatalf("path %s", p)
	}
}

func TestWriteCSVOptions(t *testing.T) {
	for _, tc := range []struct {
		with map[string]any
		want string
	}{
		{map[string]any{"delimiter": ";", "header": false}, "ann;31;1.5\nbob;17;\n;;3\n"},
		{map[string]any{"delimiter": "tab", "header": "true"}, "name\tage\tscore\nann\t31\t1.5\nbob\t17\t\n\t\t3\n"},
	} {
		tc.with["path"] = "p.csv"
		te := newEnv(t, tc.with)
		te.addJSONInput(peopleSchema, people1)
		if got := writeCSVRun(t, te); got != tc.want {
			t.Errorf("%v: file:\n%q\nwant:\n%q", tc.with, got, tc.want)
		}
	}
}

// TestWriteCSVRoundTrip writes every common type and reads it back with
// read_csv.
func TestWriteCSVRoundTrip(t *testing.T) {
	schema := schemaOf(
		field("id", arrow.PrimitiveTypes.Int64),
		field("small", arrow.PrimitiveTypes.Int32),
		field("x", arrow.PrimitiveTypes.Float64),
		field("ok", arrow.FixedWidthTypes.Boolean),
		field("day", arrow.FixedWidthTypes.Date32),
		field("at", &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}),
		field("local", &arrow.TimestampType{Unit: arrow.Microsecond}),
		field("s", arrow.BinaryTypes.String),
	)
	doc := `[{"id":1,"small":-2,"x":0.1,"ok":true,"day":"2024-02-29","at":"2024-01-02T03:04:05.123456Z","local":"2024-01-02T03:04:05","s":"a,b"},
		{"id":-9007199254740993,"small":null,"x":-1e-7,"ok":false,"day":"1969-12-31","at":"1970-01-01T00:00:00Z","local":null,"s":"line\nbreak"},
		{"id":3,"small":7,"x":null,"ok":null,"day":null,"at":null,"local":"1999-12-31T23:59:59.5","s":null}]`
	wr := newEnv(t, map[string]any{"path": "rt.csv"})
	wr.addJSONInput(schema, doc)
	writeCSVRun(t, wr)

	rd := newEnv(t, map[string]any{"path": "rt.csv"})
	rd.DataRoots = wr.DataRoots
	if err := rd.run(readCSVOp()); err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, f := range rd.out().schema.Fields() {
		types = append(types, f.Type.String())
	}
	// read_csv widens int32 to int64.
	if got := strings.Join(types, " "); got != "int64 int64 float64 bool date32 timestamp[us, tz=UTC] timestamp[us] utf8" {
		t.Fatalf("read back as %s", got)
	}
	src := newEnv(t, nil)
	src.addJSONInput(schema, doc)
	if err := src.run(noopOp()); err != nil {
		t.Fatal(err)
	}
	if got, want := rd.table(), src.table(); got != want {
		t.Fatalf("read back:\n%s\nwrote:\n%s", got, want)
	}
}

func TestWriteCSVEmpty(t *testing.T) {
	for _, docs := range [][]string{nil, {"[]"}} {
		te := newEnv(t, map[string]any{"path": "e.csv"})
		te.addJSONInput(peopleSchema, docs...)
		if got := writeCSVRun(t, te); got != "name,age,score\n" {
			t.Fatalf("%v: file %q", docs, got)
		}
		if te.out().recs[0].Column(1).(*array.Int64).Value(0) != 0 {
			t.Fatal("rows not 0")
		}
	}
}

// writeCSVFailing yields its input's first batch, then fails.
type writeCSVFailing struct {
	array.RecordReader
	n int
}

func (f *writeCSVFailing) Next() bool {
	f.n++
	return f.n == 1 && f.RecordReader.Next()
}

func (f *writeCSVFailing) Err() error {
	if f.n > 1 {
		return errors.New("upstream broke")
	}
	return nil
}

func TestWriteCSVFailureLeavesNoFile(t *testing.T) {
	te := newEnv(t, map[string]any{"path": "keep.csv"})
	te.file("keep.csv", "old content\n")
	genInput(te, 10_000, 1_000)
	open := te.Inputs[0].Open
	te.Inputs[0].Open = func() (array.RecordReader, error) {
		rr, err := open()
		return &writeCSVFailing{RecordReader: rr}, err
	}
	wantErr(t, te.run(writeCSVOp()), "write_csv keep.csv: upstream broke")
	entries, _ := os.ReadDir(te.root)
	if len(entries) != 1 {
		t.Fatalf("files left: %v", entries)
	}
	if data, _ := os.ReadFile(filepath.Join(te.root, "keep.csv")); string(data) != "old content\n" {
		t.Fatalf("the old file became %q", data)
	}

	te = newEnv(t, map[string]any{"path": "new/c.csv"})
	genInput(te, 10_000, 1_000)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := writeCSVOp().Run(ctx, te.Env); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled write = %v", err)
	}
	if entries, _ := os.ReadDir(filepath.Join(te.root, "new")); len(entries) != 0 {
		t.Fatalf("files left: %v", entries)
	}
}

func TestWriteCSVErrors(t *testing.T) {
	outside := filepath.Join(t.TempDir(), "x.csv")
	for _, tc := range []struct {
		with map[string]any
		want string
	}{
		{map[string]any{"path": "../x.csv"}, "path ../x.csv is outside the data roots"},
		{map[string]any{"path": outside}, "is outside the data roots"},
		{map[string]any{"path": "."}, "write_csv .: it is a directory"},
		{map[string]any{}, "with.path is required"},
		{map[string]any{"path": "x.csv", "delimiter": ";;"}, `with.delimiter: want one character such as ",", ";" or "tab", got ";;"`},
		{map[string]any{"path": "x.csv", "delimiter": `"`}, "with.delimiter: want one character"},
		{map[string]any{"path": "x.csv", "delimiter": 1}, "with.delimiter: want a string, got 1 (int)"},
		{map[string]any{"path": "x.csv", "header": "maybe"}, "with.header: want true or false"},
	} {
		te := newEnv(t, tc.with)
		te.addJSONInput(peopleSchema, people1)
		wantErr(t, te.run(writeCSVOp()), tc.want)
	}
	if _, err := os.Stat(outside); err == nil {
		t.Fatal("wrote outside the data roots")
	}
}

func TestWriteCSVLarge(t *testing.T) {
	const rows = 200_000
	te := newEnv(t, map[string]any{"path": "big.csv"})
	genInput(te, rows, 3_000)
	got := writeCSVRun(t, te)
	var want strings.Builder
	want.WriteString("i,s,f\n")
	for i := range rows {
		s, f := strconv.Itoa(i), strconv.FormatFloat(float64(i)/2, 'g', -1, 64)
		if i%7 == 3 {
			s = ""
		}
		if i%11 == 5 {
			f = ""
		}
		fmt.Fprintf(&want, "%d,%s,%s\n", i, s, f)
	}
	if got != want.String() {
		t.Fatalf("file differs: %d bytes, want %d", len(got), want.Len())
	}
	if n := te.out().recs[0].Column(1).(*array.Int64).Value(0); n != rows {
		t.Fatalf("rows %d", n)
	}
}
