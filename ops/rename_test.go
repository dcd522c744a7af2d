package ops

import (
	"strings"
	"testing"
)

func TestRename(t *testing.T) {
	te := newEnv(t, map[string]any{"columns": map[string]any{"name": "who", "score": "points"}})
	te.addJSONInput(peopleSchema, people1, people2)
	if err := te.run(renameOp()); err != nil {
		t.Fatal(err)
	}
	if got := columnNames(te.out().schema); got != "who, age, points" {
		t.Fatalf("columns %s", got)
	}
	if got := te.table(); got != "ann|31|1.5\nbob|17|(null)\n(null)|(null)|3\ncid|45|-2\ndee|18|0.25" {
		t.Fatalf("table:\n%s", got)
	}

	// Names may be swapped.
	te = newEnv(t, map[string]any{"columns": map[string]any{"name": "age", "age": "name"}})
	te.addJSONInput(peopleSchema, people1)
	if err := te.run(renameOp()); err != nil {
		t.Fatal(err)
	}
	if got := columnNames(te.out().schema); got != "age, name, score" {
		t.Fatalf("columns %s", got)
	}
	if f := te.out().schema.Field(0); f.Type.String() != "utf8" {
		t.Fatalf("swapped column has type %s", f.Type)
	}
}

func TestRenameEmpty(t *testing.T) {
	for _, docs := range [][]string{nil, {"[]"}, {"[]", "[]"}} {
		te := newEnv(t, map[string]any{"columns": map[string]any{"age": "years"}})
		te.addJSONInput(peopleSchema, docs...)
		if err := te.run(renameOp()); err != nil {
			t.Fatal(err)
		}
		if te.out().rows() != 0 || columnNames(te.out().schema) != "name, years, score" {
			t.Fatalf("%d batches: %d rows, schema %s", len(docs), te.out().rows(), te.out().schema)
		}
	}
}

func TestRenameErrors(t *testing.T) {
	for _, tc := range []struct {
		columns any
		want    string
	}{
		{map[string]any{"nme": "x"}, `with.columns: no column "nme" in the input (columns: name, age, score)`},
		{map[string]any{"name": "age"}, `with.columns: renaming "name" to "age" clashes with the column "age"`},
		{map[string]any{"score": "name"}, `with.columns: renaming "score" to "name" clashes with the column "name"`},
		{map[string]any{"name": "x", "age": "x"}, `with.columns: "name" and "age" are both renamed to "x"`},
		{map[string]any{"name": 3}, "with.columns.name: want the new name as a non-empty string, got 3 (int)"},
		{map[string]any{"name": ""}, "with.columns.name: want the new name as a non-empty string"},
		{map[string]any{}, "got an empty mapping"},
		{"name", "with.columns: want a mapping of old names to new names, got name (string)"},
		{[]any{"name"}, "got a list"},
		{nil, "with.columns is required"},
	} {
		te := newEnv(t, map[string]any{"columns": tc.columns})
		te.addJSONInput(peopleSchema, people1)
		wantErr(t, te.run(renameOp()), tc.want)
		if _, wrote := te.outputs["out"]; wrote {
			t.Errorf("%v: output opened before the error", tc.columns)
		}
	}
}

func TestRenameLarge(t *testing.T) {
	te := newEnv(t, map[string]any{"columns": map[string]any{"i": "n", "f": "half"}})
	batches := genInput(te, 200_000, 3_000)
	if err := te.run(renameOp()); err != nil {
		t.Fatal(err)
	}
	c := te.out()
	if len(c.recs) != batches || columnNames(c.schema) != "n, s, half" {
		t.Fatalf("%d batches of %d, schema %s", len(c.recs), batches, c.schema)
	}
	var k int64
	for _, rec := range c.recs {
		for r := range int(rec.NumRows()) {
			genCheckRow(t, rec, r, k, 0, 1, 2)
			k++
		}
	}
	if k != 200_000 || !strings.Contains(te.log.String(), "200000 rows") {
		t.Fatalf("%d rows, log %q", k, te.log.String())
	}
}
