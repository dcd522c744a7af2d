package ops

import (
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"
)

func TestLimit(t *testing.T) {
	for _, tc := range []struct {
		n, offset any
		want      string
	}{
		{2, nil, "ann|31|1.5\nbob|17|(null)"},
		{2.0, 1, "bob|17|(null)\n(null)|(null)|3"},
		{"2", "2", "(null)|(null)|3\ncid|45|-2"}, // across the batch boundary
		{10, 3, "cid|45|-2\ndee|18|0.25"},
		{10, 5, ""},
		{10, 99, ""},
		{0, 0, ""},
	} {
		te := newEnv(t, map[string]any{"n": tc.n, "offset": tc.offset})
		te.addJSONInput(peopleSchema, people1, people2)
		if err := te.run(limitOp()); err != nil {
			t.Fatal(err)
		}
		if got := te.table(); got != tc.want {
			t.Errorf("n %v offset %v:\n%s\nwant:\n%s", tc.n, tc.offset, got, tc.want)
		}
		if !te.out().schema.Equal(peopleSchema) {
			t.Errorf("schema %s", te.out().schema)
		}
	}
}

func TestLimitEmpty(t *testing.T) {
	for _, docs := range [][]string{nil, {"[]"}, {"[]", people1}} {
		te := newEnv(t, map[string]any{"n": 1})
		te.addJSONInput(peopleSchema, docs...)
		if err := te.run(limitOp()); err != nil {
			t.Fatal(err)
		}
		want := int64(0)
		if len(docs) == 2 {
			want = 1
		}
		if te.out().rows() != want || !te.out().schema.Equal(peopleSchema) {
			t.Fatalf("%v: %d rows, schema %s", docs, te.out().rows(), te.out().schema)
		}
	}
}

func TestLimitErrors(t *testing.T) {
	for _, tc := range []struct {
		with map[string]any
		want string
	}{
		{map[string]any{}, "with.n is required"},
		{map[string]any{"n": -1}, "with.n: want 0 or more rows, got -1"},
		{map[string]any{"n": 1.5}, "with.n: want a whole number, got 1.5 (float64)"},
		{map[string]any{"n": "ten"}, "with.n: want a whole number"},
		{map[string]any{"n": 1, "offset": -2}, "with.offset: want 0 or more rows, got -2"},
		{map[string]any{"n": 1, "offset": []any{1}}, "with.offset: want a whole number, got a list"},
	} {
		te := newEnv(t, tc.with)
		te.addJSONInput(peopleSchema, people1)
		wantErr(t, te.run(limitOp()), tc.want)
	}
}

// limitCounting wraps an input's reader to count the batches read.
type limitCounting struct {
	array.RecordReader
	next *int
}

func (c limitCounting) Next() bool {
	ok := c.RecordReader.Next()
	if ok {
		*c.next++
	}
	return ok
}

func TestLimitLarge(t *testing.T) {
	const rows, batch, n, offset = 200_000, 3_000, 150_000, 12_345
	te := newEnv(t, map[string]any{"n": n, "offset": offset})
	batches := genInput(te, rows, batch)
	read := 0
	open := te.Inputs[0].Open
	te.Inputs[0].Open = func() (array.RecordReader, error) {
		rr, err := open()
		return limitCounting{rr, &read}, err
	}
	if err := te.run(limitOp()); err != nil {
		t.Fatal(err)
	}
	var k int64
	for _, rec := range te.out().recs {
		for r := range int(rec.NumRows()) {
			genCheckRow(t, rec, r, offset+k, 0, 1, 2)
			k++
		}
	}
	if k != n {
		t.Fatalf("%d rows, want %d", k, n)
	}
	// Rows up to offset+n lie in the first 55 batches; the rest is not read.
	if want := (offset + n + batch - 1) / batch; read != want || read >= batches {
		t.Fatalf("read %d batches of %d, want %d", read, batches, want)
	}
	if te.metrics["rows_out"] != int64(n) {
		t.Fatalf("metrics %v", te.metrics)
	}

	// n 0 reads nothing at all.
	te = newEnv(t, map[string]any{"n": 0})
	genInput(te, 10_000, 100)
	read = 0
	open = te.Inputs[0].Open
	te.Inputs[0].Open = func() (array.RecordReader, error) {
		rr, err := open()
		return limitCounting{rr, &read}, err
	}
	if err := te.run(limitOp()); err != nil {
		t.Fatal(err)
	}
	if read != 0 || te.out().rows() != 0 || !te.out().schema.Equal(genSchema) {
		t.Fatalf("n 0: read %d batches, wrote %d rows", read, te.out().rows())
	}
}
