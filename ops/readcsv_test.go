package ops

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const peopleCSV = `id,name,score,active,born,seen,note
1,ann,1.5,true,1990-01-02,2024-01-02T03:04:05Z,
2,bob,2,false,1985-12-31,2024-01-02 03:04:05+01:00,NA
3,"cid, jr",NA,,1970-06-15,2024-02-03T00:00:00Z,"multi
line"
4,dee,-0.5,true,,2024-02-03T00:00:00.123Z,ok
`

func TestReadCSV(t *testing.T) {
	te := newEnv(t, nil)
	te.Task.With = map[string]any{"path": te.file("people.csv", "\ufeff"+peopleCSV)}
	if err := te.run(readCSVOp()); err != nil {
		t.Fatal(err)
	}
	s := te.out().schema
	var types []string
	for _, f := range s.Fields() {
		types = append(types, f.Name+":"+f.Type.String())
	}
	if got := strings.Join(types, " "); got != "id:int64 name:utf8 score:float64 active:bool born:date32 seen:timestamp[us, tz=UTC] note:utf8" {
		t.Fatalf("schema: %s", got)
	}
	want := "1|ann|1.5|true|1990-01-02|2024-01-02T03:04:05Z|(null)\n" +
		"2|bob|2|false|1985-12-31|2024-01-02T02:04:05Z|(null)\n" +
		"3|cid, jr|(null)|(null)|1970-06-15|2024-02-03T00:00:00Z|multi\nline\n" +
		"4|dee|-0.5|true|(null)|2024-02-03T00:00:00.123Z|ok"
	if got := te.table(); got != want {
		t.Fatalf("table:\n%s\nwant:\n%s", got, want)
	}
	if te.metrics["rows"] != int64(4) || !strings.Contains(te.log.String(), "read 4 rows") {
		t.Fatalf("metrics %v log %q", te.metrics, te.log.String())
	}
}

func TestReadCSVOptions(t *testing.T) {
	te := newEnv(t, nil)
	te.Task.With = map[string]any{
		"path":        te.file("sub/x.tsv", "1\t-\tz\n2\tb\t\n3\tc\t-\n4\td\ty\n5\te\tx\n"),
		"delimiter":   "tab",
		"header":      false,
		"null_values": []any{"-"},
		"batch_rows":  2.0,
	}
	if err := te.run(readCSVOp()); err != nil {
		t.Fatal(err)
	}
	c := te.out()
	if len(c.recs) != 3 || c.rows() != 5 || c.schema.Field(0).Name != "f0" || c.schema.Field(0).Type.String() != "int64" {
		t.Fatalf("%d batches, %d rows, schema %s", len(c.recs), c.rows(), c.schema)
	}
	// With only "-" as null, the empty string is a value.
	if got := te.table(); got != "1|(null)|z\n2|b|\n3|c|(null)\n4|d|y\n5|e|x" {
		t.Fatalf("table:\n%s", got)
	}
}

func TestReadCSVEmptyAndHeaderOnly(t *testing.T) {
	te := newEnv(t, nil)
	te.Task.With = map[string]any{"path": te.file("h.csv", "a,b\n")}
	if err := te.run(readCSVOp()); err != nil {
		t.Fatal(err)
	}
	if te.out().rows() != 0 || te.out().schema.NumFields() != 2 || te.out().schema.Field(1).Type.String() != "utf8" {
		t.Fatalf("header-only: %s", te.out().schema)
	}
	te = newEnv(t, nil)
	te.Task.With = map[string]any{"path": te.file("e.csv", "")}
	wantErr(t, te.run(readCSVOp()), "the file is empty")
}

func TestReadCSVErrors(t *testing.T) {
	late := "n\n" + strings.Repeat("1\n", inferRows+5) + "oops\n"
	for name, tc := range map[string]struct {
		content string
		with    map[string]any
		want    string
	}{
		"ragged":     {"a,b\n1,2\n3\n", nil, "line 3: wrong number of fields"},
		"bare quote": {"a\nx\"y\n", nil, `line 2`},
		"late value": {late, nil, "column types are inferred from the first 10000 rows"},
		"delimiter":  {"a\n", map[string]any{"delimiter": ";;"}, "with.delimiter: want one character"},
		"batch_rows": {"a\n", map[string]any{"batch_rows": 0}, "with.batch_rows: want 1 to"},
		"header":     {"a\n", map[string]any{"header": "maybe"}, "with.header: want true or false"},
		"nulls":      {"a\n", map[string]any{"null_values": "NA"}, "with.null_values: want a list of strings read as null"},
		"no path":    {"a\n", map[string]any{"path": ""}, "with.path is required"},
		"missing":    {"", map[string]any{"path": "nope.csv"}, "open nope.csv: no such file"},
		"directory":  {"", map[string]any{"path": "."}, "it is a directory"},
	} {
		t.Run(name, func(t *testing.T) {
			te := newEnv(t, nil)
			w := map[string]any{"path": te.file("f.csv", tc.content)}
			for k, v := range tc.with {
				w[k] = v
			}
			te.Task.With = w
			wantErr(t, te.run(readCSVOp()), tc.want)
		})
	}
}

func TestPathsStayInsideDataRoots(t *testing.T) {
	te := newEnv(t, nil)
	outside := t.TempDir()
	secret := filepath.Join(outside, "secret.csv")
	if err := os.WriteFile(secret, []byte("a\n1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(te.root, "escape")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secret, filepath.Join(te.root, "link.csv")); err != nil {
		t.Fatal(err)
	}
	te.file("ok/data.csv", "a\n1\n")
	if err := os.Symlink(filepath.Join(te.root, "ok"), filepath.Join(te.root, "inner")); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"../../etc/passwd", "/etc/passwd", secret, "escape/secret.csv", "link.csv",
		"ok/../../" + filepath.Base(outside) + "/secret.csv", "escape/new/out.parquet"} {
		if _, err := resolvePath(te.Env, p); err == nil || !strings.Contains(err.Error(), "is outside the data roots") {
			t.Errorf("resolvePath(%q) = %v", p, err)
		}
	}
	for _, p := range []string{"ok/data.csv", "inner/data.csv", filepath.Join(te.root, "ok", "data.csv"), "ok/../ok/data.csv",
		"new/dir/out.parquet", "."} {
		if _, err := resolvePath(te.Env, p); err != nil {
			t.Errorf("resolvePath(%q) = %v", p, err)
		}
	}
	// A second root is allowed too; relative paths use the first.
	te.DataRoots = append(te.DataRoots, outside)
	if got, err := resolvePath(te.Env, secret); err != nil || got != mustEval(t, secret) {
		t.Errorf("second root: %q, %v", got, err)
	}

	te.Task.With = map[string]any{"path": "../../etc/passwd"}
	te.DataRoots = te.DataRoots[:1]
	wantErr(t, te.run(readCSVOp()), "path ../../etc/passwd is outside the data roots")

	te.DataRoots = nil
	wantErr(t, te.run(readCSVOp()), "no data roots are configured")
}

func mustEval(t *testing.T, p string) string {
	t.Helper()
	r, err := filepath.EvalSymlinks(p)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func FuzzReadCSV(f *testing.F) {
	for _, s := range []string{peopleCSV, "a,b\n1,2\n", "a\n\"\n", "x;y\n1;2\n", "a,b\n1\n", "\ufeffa\n1\n2.5\n",
		"a,a\n1,x\n", "", "\n\n", "a\n2024-01-01\n2024-13-01\n", "t\n2024-01-02T03:04:05+01:00\n2024-01-02 03:04:05\n"} {
		f.Add(s, true)
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, content string, header bool) {
		te := newEnv(t, nil)
		te.Task.With = map[string]any{"path": te.file("f.csv", content), "header": header, "batch_rows": 3}
		if err := te.run(readCSVOp()); err != nil {
			return // clear errors are fine; panics and leaks are not
		}
		if te.out().rows() > int64(strings.Count(content, "\n")+1) {
			t.Fatalf("%d rows from %d lines", te.out().rows(), strings.Count(content, "\n")+1)
		}
	})
}
