package ops

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
)

// jsonlFields renders a schema as "name:type[?]" items, ? for nullable.
func jsonlFields(s *arrow.Schema) string {
	var parts []string
	for _, f := range s.Fields() {
		p := f.Name + ":" + f.Type.String()
		if f.Nullable {
			p += "?"
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, " ")
}

const jsonlPeople = "\ufeff" + `{"id": 1, "name": "ann", "score": 1.5, "ok": true, "tags": ["a", "b"], "addr": {"city": "Oslo", "zip": null}}
{"id": 2, "name": "bob", "score": 2, "ok": false, "tags": [], "addr": null, "note": "x,\"y\""}

{"name": "cid", "id": 3, "score": null, "ok": true, "tags": ["c"], "addr": {"city": "Rome"}, "mixed": 5}` + "\r\n" + `
{"id": -4, "name": "dée\n", "score": -0.5e1, "ok": false, "tags": null, "mixed": "five", "none": null}
`

func TestReadJSONL(t *testing.T) {
	te := newEnv(t, nil)
	te.Task.With = map[string]any{"path": te.file("people.jsonl", jsonlPeople), "batch_rows": 3}
	if err := te.run(readJSONLOp()); err != nil {
		t.Fatal(err)
	}
	want := "id:int64 name:utf8 score:float64? ok:bool tags:utf8? addr:utf8? note:utf8? mixed:utf8? none:utf8?"
	if got := jsonlFields(te.out().schema); got != want {
		t.Fatalf("schema %s\nwant   %s", got, want)
	}
	wantRows := `1|ann|1.5|true|["a","b"]|{"city":"Oslo","zip":null}|(null)|(null)|(null)` + "\n" +
		`2|bob|2|false|[]|(null)|x,"y"|(null)|(null)` + "\n" +
		`3|cid|(null)|true|["c"]|{"city":"Rome"}|(null)|5|(null)` + "\n" +
		"-4|dée\n|-5|false|(null)|(null)|(null)|five|(null)"
	if got := te.table(); got != wantRows {
		t.Fatalf("table:\n%s\nwant:\n%s", got, wantRows)
	}
	if len(te.out().recs) != 2 || te.metrics["rows"] != int64(4) {
		t.Fatalf("%d batches, metrics %v", len(te.out().recs), te.metrics)
	}
}

func TestReadJSONLEmpty(t *testing.T) {
	for _, content := range []string{"", "\n\n  \n"} {
		te := newEnv(t, nil)
		te.Task.With = map[string]any{"path": te.file("e.jsonl", content)}
		if err := te.run(readJSONLOp()); err != nil {
			t.Fatal(err)
		}
		if te.out().rows() != 0 || te.out().schema.NumFields() != 0 {
			t.Fatalf("%q: %d rows, schema %s", content, te.out().rows(), te.out().schema)
		}
	}
	// Objects without keys are rows without columns.
	te := newEnv(t, nil)
	te.Task.With = map[string]any{"path": te.file("e.jsonl", "{}\n{ }\n")}
	if err := te.run(readJSONLOp()); err != nil {
		t.Fatal(err)
	}
	if te.out().rows() != 2 || te.out().schema.NumFields() != 0 {
		t.Fatalf("%d rows, schema %s", te.out().rows(), te.out().schema)
	}
}

func TestReadJSONLErrors(t *testing.T) {
	head := `{"n": 1, "f": 1.5, "b": true, "s": "x"}` + "\n" + `{"n": 2, "f": 2, "b": false, "s": "y"}` + "\n"
	for _, tc := range []struct {
		content string
		with    map[string]any
		want    string
	}{
		{head + `{"n": 2.5, "f": 1, "b": true, "s": "z"}`, map[string]any{"infer_rows": 2},
			`line 3, column "n": 2.5 does not fit int64 (the type was inferred from the first 2 lines; raise infer_rows to look at more)`},
		{head + `{"n": 3, "f": "1", "b": true, "s": "z"}`, map[string]any{"infer_rows": 2}, `line 3, column "f": "1" does not fit float64`},
		{head + "\n" + `{"n": 3, "f": 1, "b": "yes", "s": "z"}`, map[string]any{"infer_rows": 2}, `line 4, column "b": "yes" does not fit bool`},
		{head + `{"n": 99999999999999999999, "f": 1, "b": true, "s": "z"}`, map[string]any{"infer_rows": 2}, `line 3, column "n": 99999999999999999999 does not fit int64`},
		{head + `{"n": 3, "f": 1, "b": true, "s": "z", "new": 1}`, map[string]any{"infer_rows": 2},
			`line 3: the key "new" is not among the columns inferred from the first 2 lines (n, f, b, s); raise infer_rows`},
		{head + `{"n": null, "f": 1, "b": true, "s": "z"}`, map[string]any{"infer_rows": 2}, `line 3, column "n": null, but every one of the first 2 lines had a value`},
		{head + `{"f": 1, "b": true, "s": "z"}`, map[string]any{"infer_rows": 2}, `line 3, column "n": missing, but every one of the first 2 lines had a value`},
		{head + `{"n": 3,}`, nil, "line 3: invalid JSON"},
		{head + `[1, 2]`, nil, "line 3: want a JSON object, got [1, 2]"},
		{head + `{"n": 3} {"n": 4}`, nil, "line 3: text after the end of the object"},
		{head + `{"n": 3, "n": 4}`, nil, `line 3: the key "n" appears twice`},
		{head + `{"n": 3, "f": 1, "b": true, "s": "z"}` + "\n" + `{"n": "x"}`, map[string]any{"infer_rows": 3}, `line 4, column "n": "x" does not fit int64`},
		{head, map[string]any{"infer_rows": 0}, "with.infer_rows: want 1 to"},
		{head, map[string]any{"batch_rows": "many"}, "with.batch_rows: want a whole number"},
		{head, map[string]any{"batch_rows": -1}, "with.batch_rows: want 1 to"},
	} {
		te := newEnv(t, tc.with)
		if te.Task.With == nil {
			te.Task.With = map[string]any{}
		}
		te.Task.With["path"] = te.file("bad.jsonl", tc.content)
		err := te.run(readJSONLOp())
		wantErr(t, err, tc.want)
		if strings.HasPrefix(tc.want, "line") && !strings.Contains(err.Error(), "read_jsonl bad.jsonl: ") {
			t.Errorf("error %q does not name the file", err)
		}
	}
}

func TestReadJSONLPaths(t *testing.T) {
	outside := filepath.Join(t.TempDir(), "x.jsonl")
	if err := os.WriteFile(outside, []byte(`{"a":1}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		"../x.jsonl":    "path ../x.jsonl is outside the data roots",
		outside:         "is outside the data roots",
		"missing.jsonl": "open missing.jsonl: no such file or directory",
		".":             "open .: it is a directory",
	} {
		te := newEnv(t, map[string]any{"path": path})
		wantErr(t, te.run(readJSONLOp()), want)
	}
	te := newEnv(t, map[string]any{})
	wantErr(t, te.run(readJSONLOp()), "with.path is required")
}

// TestReadJSONLLarge reads 200k lines in batches and checks every value;
// the types are inferred from the first 1000 lines.
func TestReadJSONLLarge(t *testing.T) {
	const rows = 200_000
	var b strings.Builder
	for i := range rows {
		// genInput's rows: s missing when i%7 == 3, f null when i%11 == 5.
		b.WriteString(fmt.Sprintf(`{"i": %d`, i))
		if i%7 != 3 {
			b.WriteString(fmt.Sprintf(`, "s": "%d"`, i))
		}
		if i%11 == 5 {
			b.WriteString(`, "f": null}` + "\n")
		} else {
			b.WriteString(fmt.Sprintf(`, "f": %g}`+"\n", float64(i)/2))
		}
	}
	te := newEnv(t, nil)
	te.Task.With = map[string]any{"path": te.file("big.jsonl", b.String()), "batch_rows": 5_000}
	if err := te.run(readJSONLOp()); err != nil {
		t.Fatal(err)
	}
	c := te.out()
	if got := jsonlFields(c.schema); got != "i:int64 s:utf8? f:float64?" || len(c.recs) != 40 {
		t.Fatalf("schema %s, %d batches", got, len(c.recs))
	}
	k := int64(0)
	for _, rec := range c.recs {
		for r := range int(rec.NumRows()) {
			genCheckRow(t, rec, r, k, 0, 1, 2)
			k++
		}
	}
	if k != rows {
		t.Fatalf("%d rows", k)
	}
}

// TestReadJSONLTricky reads keys with escapes and strings holding braces,
// quotes and commas.
func TestReadJSONLTricky(t *testing.T) {
	content := `{"a\"b": "}{", "\u00e9": {"d": "]\"}", "e": [1, {"f": "x,y"}]}, "n":-12 , "z": "\\"}` + "\n" +
		`{ "a\"b" : "\"" , "é" : null , "n" : 1234567890123456789 , "z" : "" }` + "\n"
	te := newEnv(t, nil)
	te.Task.With = map[string]any{"path": te.file("t.jsonl", content)}
	if err := te.run(readJSONLOp()); err != nil {
		t.Fatal(err)
	}
	if got := jsonlFields(te.out().schema); got != `a"b:utf8 é:utf8? n:int64 z:utf8` {
		t.Fatalf("schema %s", got)
	}
	want := `}{|{"d":"]\"}","e":[1,{"f":"x,y"}]}|-12|\` + "\n" + `"|(null)|1234567890123456789|`
	if got := te.table(); got != want {
		t.Fatalf("table:\n%s\nwant:\n%s", got, want)
	}
}
