package ops

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/ipc"
)

// arrowWrite writes recs as an Arrow IPC file (or stream) named name under
// te's data root and returns the name.
func arrowWrite(te *testEnv, name string, stream bool, schema *arrow.Schema, recs ...arrow.RecordBatch) string {
	te.t.Helper()
	var buf bytes.Buffer
	var w interface {
		Write(arrow.RecordBatch) error
		Close() error
	}
	if stream {
		w = ipc.NewWriter(&buf, ipc.WithSchema(schema), ipc.WithAllocator(te.mem))
	} else {
		fw, err := ipc.NewFileWriter(&buf, ipc.WithSchema(schema), ipc.WithAllocator(te.mem))
		if err != nil {
			te.t.Fatal(err)
		}
		w = fw
	}
	for _, r := range recs {
		if err := w.Write(r); err != nil {
			te.t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		te.t.Fatal(err)
	}
	return te.file(name, buf.String())
}

// arrowRecs returns one batch per JSON document, released with the test.
func arrowRecs(te *testEnv, schema *arrow.Schema, docs ...string) []arrow.RecordBatch {
	var recs []arrow.RecordBatch
	for _, d := range docs {
		recs = append(recs, jsonRec(te.t, te.mem, schema, d))
	}
	te.t.Cleanup(func() {
		for _, r := range recs {
			r.Release()
		}
	})
	return recs
}

func TestReadArrow(t *testing.T) {
	for _, stream := range []bool{false, true} {
		te := newEnv(t, nil)
		recs := arrowRecs(te, peopleSchema, people1, "[]", people2)
		te.Task.With = map[string]any{"path": arrowWrite(te, "sub/p.arrow", stream, peopleSchema, recs...)}
		if err := te.run(readArrowOp()); err != nil {
			t.Fatal(err)
		}
		if !te.out().schema.Equal(peopleSchema) {
			t.Fatalf("schema %s", te.out().schema)
		}
		if got := te.table(); got != "ann|31|1.5\nbob|17|(null)\n(null)|(null)|3\ncid|45|-2\ndee|18|0.25" {
			t.Fatalf("stream %v, table:\n%s", stream, got)
		}
		if len(te.out().recs) != 3 || te.metrics["rows"] != int64(5) {
			t.Fatalf("stream %v: %d batches, metrics %v", stream, len(te.out().recs), te.metrics)
		}
	}
}

func TestReadArrowEmpty(t *testing.T) {
	for _, stream := range []bool{false, true} {
		te := newEnv(t, nil)
		te.Task.With = map[string]any{"path": arrowWrite(te, "e.arrow", stream, peopleSchema)}
		if err := te.run(readArrowOp()); err != nil {
			t.Fatal(err)
		}
		if te.out().rows() != 0 || !te.out().schema.Equal(peopleSchema) {
			t.Fatalf("stream %v: %d rows, schema %s", stream, te.out().rows(), te.out().schema)
		}
	}
}

func TestReadArrowErrors(t *testing.T) {
	te := newEnv(t, nil)
	good := arrowWrite(te, "good.arrow", false, peopleSchema, arrowRecs(te, peopleSchema, people1)...)
	data, err := os.ReadFile(filepath.Join(te.root, good))
	if err != nil {
		t.Fatal(err)
	}
	outside := filepath.Join(t.TempDir(), "x.arrow")
	if err := os.WriteFile(outside, data, 0o644); err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{
		"text.arrow":      "name,age\nann,31\n",
		"empty.arrow":     "",
		"truncated.arrow": string(data[:len(data)/2]),
		"magic.arrow":     "ARROW1\x00\x00garbage",
	} {
		te := newEnv(t, nil)
		te.Task.With = map[string]any{"path": te.file(name, content)}
		err := te.run(readArrowOp())
		wantErr(t, err, "read_arrow "+name+": ")
		if _, wrote := te.outputs["out"]; wrote && name != "truncated.arrow" {
			t.Errorf("%s: output opened", name)
		}
	}
	for path, want := range map[string]string{
		"../x.arrow":    "path ../x.arrow is outside the data roots",
		outside:         "is outside the data roots",
		"missing.arrow": "open missing.arrow: no such file or directory",
	} {
		te := newEnv(t, map[string]any{"path": path})
		wantErr(t, te.run(readArrowOp()), want)
	}
}

func TestReadArrowLarge(t *testing.T) {
	for _, stream := range []bool{false, true} {
		src := newEnv(t, nil)
		batches := genInput(src, 200_000, 6_000)
		rr, err := src.Inputs[0].Open()
		if err != nil {
			t.Fatal(err)
		}
		var recs []arrow.RecordBatch
		for rr.Next() {
			rec := rr.RecordBatch()
			rec.Retain()
			recs = append(recs, rec)
		}
		rr.Release()
		te := newEnv(t, nil)
		te.Task.With = map[string]any{"path": arrowWrite(te, "big.arrow", stream, genSchema, recs...)}
		for _, r := range recs {
			r.Release()
		}
		if err := te.run(readArrowOp()); err != nil {
			t.Fatal(err)
		}
		c := te.out()
		if len(c.recs) != batches || c.rows() != 200_000 {
			t.Fatalf("stream %v: %d batches, %d rows", stream, len(c.recs), c.rows())
		}
		k := int64(0)
		for _, rec := range c.recs {
			for r := range int(rec.NumRows()) {
				genCheckRow(t, rec, r, k, 0, 1, 2)
				k++
			}
		}
	}
}
