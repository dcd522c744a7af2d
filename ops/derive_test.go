package ops

import (
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

var deriveSchema = schemaOf(
	field("item", arrow.BinaryTypes.String),
	field("price", arrow.PrimitiveTypes.Float64),
	field("qty", arrow.PrimitiveTypes.Int64),
)

const (
	deriveRows1 = `[{"item":"pen","price":1.5,"qty":10},{"item":"ink","price":null,"qty":3},{"item":null,"price":40,"qty":3}]`
	deriveRows2 = `[{"item":"pad","price":2,"qty":null},{"item":"bag","price":120,"qty":1}]`
)

func deriveTypes(s *arrow.Schema) string {
	var parts []string
	for _, f := range s.Fields() {
		parts = append(parts, f.Name+":"+f.Type.String())
	}
	return strings.Join(parts, " ")
}

func TestDerive(t *testing.T) {
	te := newEnv(t, map[string]any{"columns": []any{
		map[string]any{"name": "total", "expr": "price * qty"},
		map[string]any{"big": "total > 100"},
		map[string]any{"qty": "qty + 1"}, // replaces qty in place
		map[string]any{"name": "label", "expr": "upper(coalesce(item, 'none'))"},
	}})
	te.addJSONInput(deriveSchema, deriveRows1, deriveRows2)
	if err := te.run(deriveOp()); err != nil {
		t.Fatal(err)
	}
	if got := deriveTypes(te.out().schema); got != "item:utf8 price:float64 qty:int64 total:float64 big:bool label:utf8" {
		t.Fatalf("schema %s", got)
	}
	want := "pen|1.5|11|15|false|PEN\n" +
		"ink|(null)|4|(null)|(null)|INK\n" +
		"(null)|40|4|120|true|NONE\n" +
		"pad|2|(null)|(null)|(null)|PAD\n" +
		"bag|120|2|120|true|BAG"
	if got := te.table(); got != want {
		t.Fatalf("table:\n%s\nwant:\n%s", got, want)
	}
	if len(te.out().recs) != 2 {
		t.Fatalf("%d batches, want one per input batch", len(te.out().recs))
	}
}

func TestDeriveSeesEarlierColumns(t *testing.T) {
	// price is replaced first, and the next expression reads the new one;
	// an expression may change a column's type.
	te := newEnv(t, map[string]any{"columns": []any{
		map[string]any{"price": "coalesce(price, 0) * 2"},
		map[string]any{"twice": "price * 2"},
		map[string]any{"qty": "qty > 2"},
	}})
	te.addJSONInput(deriveSchema, deriveRows1)
	if err := te.run(deriveOp()); err != nil {
		t.Fatal(err)
	}
	if got := deriveTypes(te.out().schema); got != "item:utf8 price:float64 qty:bool twice:float64" {
		t.Fatalf("schema %s", got)
	}
	if got := te.table(); got != "pen|3|true|6\nink|0|true|0\n(null)|80|true|160" {
		t.Fatalf("table:\n%s", got)
	}
}

func TestDeriveEmpty(t *testing.T) {
	for _, docs := range [][]string{nil, {"[]"}} {
		te := newEnv(t, map[string]any{"columns": []any{map[string]any{"total": "price * qty"}}})
		te.addJSONInput(deriveSchema, docs...)
		if err := te.run(deriveOp()); err != nil {
			t.Fatal(err)
		}
		if te.out().rows() != 0 || deriveTypes(te.out().schema) != "item:utf8 price:float64 qty:int64 total:float64" {
			t.Fatalf("%d rows, schema %s", te.out().rows(), te.out().schema)
		}
	}
}

func TestDeriveErrors(t *testing.T) {
	for _, tc := range []struct {
		columns any
		want    string
	}{
		{[]any{map[string]any{"total": "price * qty"}, map[string]any{"big": "totl > 100"}},
			`with.columns[1] (big): column 1: unknown column "totl" (available: item, price, qty, total)`},
		{[]any{map[string]any{"x": "item * 2"}}, "with.columns[0] (x): column 6, in (item * 2): * needs numbers, got utf8 and int64"},
		{[]any{map[string]any{"x": "price >"}}, "with.columns[0] (x): column 8: "},
		{[]any{map[string]any{"x": 3}}, "with.columns[0].x: want the expression as a string, got 3 (int)"},
		{[]any{map[string]any{"name": "x", "expr": true}}, "with.columns[0].expr: want the expression as a string"},
		{[]any{map[string]any{"name": "", "expr": "1"}}, "with.columns[0].name: want a column name"},
		{[]any{map[string]any{"a": "1", "b": "2"}}, "with.columns[0]: want {name: expr} or {name: ..., expr: ...}, got the keys a, b"},
		{[]any{"total"}, "with.columns[0]: want a mapping {name: expr}, got total (string)"},
		{map[string]any{"total": "price * qty"}, "got a mapping (a list keeps the columns in order"},
		{[]any{}, "got an empty list"},
		{nil, "with.columns is required"},
	} {
		te := newEnv(t, map[string]any{"columns": tc.columns})
		te.addJSONInput(deriveSchema, deriveRows1)
		wantErr(t, te.run(deriveOp()), tc.want)
		if _, wrote := te.outputs["out"]; wrote {
			t.Errorf("%v: output opened before the error", tc.columns)
		}
	}
}

func TestDeriveLarge(t *testing.T) {
	te := newEnv(t, map[string]any{"columns": []any{
		map[string]any{"j": "i * 2 + 1"},
		map[string]any{"round": "i % 1000 == 0"},
		map[string]any{"s": "length(s)"},
	}})
	batches := genInput(te, 200_000, 4_096)
	if err := te.run(deriveOp()); err != nil {
		t.Fatal(err)
	}
	c := te.out()
	if len(c.recs) != batches || deriveTypes(c.schema) != "i:int64 s:int64 f:float64 j:int64 round:bool" {
		t.Fatalf("%d batches of %d, schema %s", len(c.recs), batches, deriveTypes(c.schema))
	}
	var k int64
	rounds := 0
	for _, rec := range c.recs {
		is := rec.Column(0).(*array.Int64)
		lens := rec.Column(1).(*array.Int64)
		js := rec.Column(3).(*array.Int64)
		rs := rec.Column(4).(*array.Boolean)
		for r := range int(rec.NumRows()) {
			if is.Value(r) != k || js.Value(r) != 2*k+1 || rs.Value(r) != (k%1000 == 0) {
				t.Fatalf("row %d: i %d j %d round %v", k, is.Value(r), js.Value(r), rs.Value(r))
			}
			if k%7 == 3 != lens.IsNull(r) || !lens.IsNull(r) && lens.Value(r) != int64(len(strconv.FormatInt(k, 10))) {
				t.Fatalf("row %d: length(s) = %s", k, lens.ValueStr(r))
			}
			if rs.Value(r) {
				rounds++
			}
			k++
		}
	}
	if k != 200_000 || rounds != 200 {
		t.Fatalf("%d rows, %d rounds", k, rounds)
	}
}
