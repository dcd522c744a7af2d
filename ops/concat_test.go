package ops

import (
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// concatReordered is peopleSchema with its columns in another order.
var concatReordered = schemaOf(
	field("score", arrow.PrimitiveTypes.Float64),
	field("name", arrow.BinaryTypes.String),
	field("age", arrow.PrimitiveTypes.Int64),
)

func TestConcat(t *testing.T) {
	te := newEnv(t, nil)
	te.addJSONInput(peopleSchema, people1)
	te.addJSONInput(concatReordered, `[{"score":9.5,"name":"eve","age":null}]`, `[]`, `[{"score":null,"name":"fay","age":70}]`)
	te.addJSONInput(peopleSchema, people2)
	if err := te.run(concatOp()); err != nil {
		t.Fatal(err)
	}
	if !te.out().schema.Equal(peopleSchema) {
		t.Fatalf("schema %s", te.out().schema)
	}
	want := "ann|31|1.5\nbob|17|(null)\n(null)|(null)|3\n" +
		"eve|(null)|9.5\nfay|70|(null)\n" +
		"cid|45|-2\ndee|18|0.25"
	if got := te.table(); got != want {
		t.Fatalf("table:\n%s\nwant:\n%s", got, want)
	}
	if te.metrics["rows"] != int64(7) {
		t.Fatalf("metrics %v", te.metrics)
	}
}

func TestConcatNullable(t *testing.T) {
	strict := arrow.NewSchema([]arrow.Field{{Name: "x", Type: arrow.PrimitiveTypes.Int64}}, nil)
	loose := schemaOf(field("x", arrow.PrimitiveTypes.Int64))
	te := newEnv(t, nil)
	te.addJSONInput(strict, `[{"x":1}]`)
	te.addJSONInput(loose, `[{"x":null}]`)
	te.addJSONInput(strict, `[{"x":3}]`)
	if err := te.run(concatOp()); err != nil {
		t.Fatal(err)
	}
	if !te.out().schema.Field(0).Nullable || te.table() != "1\n(null)\n3" {
		t.Fatalf("schema %s, table %q", te.out().schema, te.table())
	}
}

func TestConcatEmpty(t *testing.T) {
	te := newEnv(t, nil)
	te.addJSONInput(peopleSchema)
	te.addJSONInput(concatReordered, "[]")
	if err := te.run(concatOp()); err != nil {
		t.Fatal(err)
	}
	if te.out().rows() != 0 || !te.out().schema.Equal(peopleSchema) {
		t.Fatalf("%d rows, schema %s", te.out().rows(), te.out().schema)
	}
}

func TestConcatErrors(t *testing.T) {
	for _, tc := range []struct {
		second *arrow.Schema
		want   string
	}{
		{schemaOf(field("name", arrow.BinaryTypes.String), field("score", arrow.PrimitiveTypes.Float64)),
			`concat: input up1.out has no column "age", which input up0.out has (its columns: name, score)`},
		{schemaOf(field("name", arrow.BinaryTypes.String), field("age", arrow.PrimitiveTypes.Int64), field("score", arrow.PrimitiveTypes.Float64), field("extra", arrow.PrimitiveTypes.Int8)),
			`concat: input up1.out has a column "extra" that input up0.out lacks`},
		{schemaOf(field("name", arrow.BinaryTypes.String), field("age", arrow.PrimitiveTypes.Int32), field("score", arrow.PrimitiveTypes.Float64)),
			`concat: column "age" is int64 in input up0.out but int32 in input up1.out`},
		{schemaOf(field("name", arrow.BinaryTypes.String), field("age", arrow.PrimitiveTypes.Int64), field("score", arrow.PrimitiveTypes.Float64), field("age", arrow.PrimitiveTypes.Int64)),
			`concat: input up1.out has two columns named "age"`},
	} {
		te := newEnv(t, nil)
		te.addJSONInput(peopleSchema, people1)
		te.addJSONInput(tc.second)
		wantErr(t, te.run(concatOp()), tc.want)
		if _, wrote := te.outputs["out"]; wrote {
			t.Errorf("output opened before the error %q", tc.want)
		}
	}

	te := newEnv(t, nil)
	wantErr(t, te.run(concatOp()), "op needs input 1, the task has 0")
}

func TestConcatLarge(t *testing.T) {
	te := newEnv(t, nil)
	b1 := genInput(te, 120_000, 3_000)
	b2 := genInput(te, 80_000, 7_000)
	// The second input has the columns in the order f, i, s.
	rev := schemaOf(genSchema.Field(2), genSchema.Field(0), genSchema.Field(1))
	rr, err := te.Inputs[1].Open()
	if err != nil {
		t.Fatal(err)
	}
	var recs []arrow.RecordBatch
	for rr.Next() {
		rec := rr.RecordBatch()
		recs = append(recs, array.NewRecordBatch(rev, []arrow.Array{rec.Column(2), rec.Column(0), rec.Column(1)}, rec.NumRows()))
	}
	rr.Release()
	t.Cleanup(func() {
		for _, r := range recs {
			r.Release()
		}
	})
	te.Inputs = te.Inputs[:1]
	te.addInput(rev, recs...)
	if err := te.run(concatOp()); err != nil {
		t.Fatal(err)
	}
	c := te.out()
	if len(c.recs) != b1+b2 || c.rows() != 200_000 {
		t.Fatalf("%d batches, %d rows", len(c.recs), c.rows())
	}
	k := int64(0)
	for _, rec := range c.recs {
		for r := range int(rec.NumRows()) {
			i := k
			if k >= 120_000 {
				i = k - 120_000
			}
			genCheckRow(t, rec, r, i, 0, 1, 2)
			k++
		}
	}
}
