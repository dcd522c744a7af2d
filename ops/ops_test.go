package ops

import (
	"context"
	"errors"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/forged-dev/forged/dag"
)

func TestBuiltinRegistry(t *testing.T) {
	r := Builtin()
	var names []string
	for _, s := range r.Specs() {
		names = append(names, s.Name)
		if s.Description == "" {
			t.Errorf("op %s has no description", s.Name)
		}
	}
	want := []string{"aggregate", "concat", "derive", "describe", "evaluate", "exec", "fail", "filter", "join", "limit", "noop", "predict", "read_arrow", "read_csv", "read_dataset", "read_jsonl", "read_parquet", "rename", "sample", "select", "sleep", "sort", "split", "train_kmeans", "train_linear", "train_logistic", "write_csv", "write_parquet"}
	if strings.Join(names, ",") != strings.Join(want, ",") || !sort.StringsAreSorted(names) {
		t.Fatalf("specs = %v", names)
	}
	var cat dag.Catalog = r
	if s, ok := cat.Op("read_csv"); !ok || s.Required[0] != "path" || s.MaxInputs != 0 {
		t.Fatalf("read_csv spec = %+v", s)
	}
	if _, ok := r.Lookup("nope"); ok {
		t.Fatal("found an unknown op")
	}
	if err := r.Register(noopOp()); err == nil {
		t.Fatal("duplicate registration succeeded")
	}
	if err := r.Register(Op{Run: runFail}); err == nil {
		t.Fatal("empty name registered")
	}
	if err := r.Register(Op{Spec: dag.OpSpec{Name: "x", MinInputs: 2, MaxInputs: 1}, Run: runFail}); err == nil {
		t.Fatal("bad bounds registered")
	}
	if Builtin() == r {
		t.Fatal("Builtin shares its registry")
	}
}

func TestWithValues(t *testing.T) {
	w := with{"i": 3, "f": 4.0, "s": "5", "frac": 2.5, "list": []any{"a", "b"}, "bad": "x",
		"mixed": []any{"a", 1}, "b": "true", "m": map[string]any{}}
	for key, want := range map[string]int{"i": 3, "f": 4, "s": 5, "missing": 7} {
		if got, err := w.int(key, 7); err != nil || got != want {
			t.Errorf("int(%s) = %d, %v", key, got, err)
		}
	}
	for _, key := range []string{"frac", "bad", "list"} {
		if _, err := w.int(key, 0); err == nil {
			t.Errorf("int(%s) accepted", key)
		}
	}
	if l, err := w.strings("list", "column names", nil); err != nil || len(l) != 2 {
		t.Errorf("strings(list) = %v, %v", l, err)
	}
	_, err := w.strings("s", "column names", nil)
	wantErr(t, err, "with.s: want a list of column names")
	_, err = w.strings("mixed", "column names", nil)
	wantErr(t, err, "with.mixed[1]")
	_, err = w.strings("m", "column names", nil)
	wantErr(t, err, "got a mapping")
	if b, err := w.bool("b", false); err != nil || !b {
		t.Errorf("bool(b) = %v, %v", b, err)
	}
	_, err = w.bool("list", false)
	wantErr(t, err, "want true or false")
	_, _, err = w.str("i")
	wantErr(t, err, "with.i: want a string, got 3 (int)")
	_, err = w.required("missing")
	wantErr(t, err, "with.missing is required")
}

var peopleSchema = schemaOf(
	field("name", arrow.BinaryTypes.String),
	field("age", arrow.PrimitiveTypes.Int64),
	field("score", arrow.PrimitiveTypes.Float64),
)

const (
	people1 = `[{"name":"ann","age":31,"score":1.5},{"name":"bob","age":17,"score":null},{"name":null,"age":null,"score":3}]`
	people2 = `[{"name":"cid","age":45,"score":-2},{"name":"dee","age":18,"score":0.25}]`
)

func TestSelect(t *testing.T) {
	te := newEnv(t, map[string]any{"columns": []any{"score", "name"}})
	te.addJSONInput(peopleSchema, people1, people2)
	if err := te.run(selectOp()); err != nil {
		t.Fatal(err)
	}
	c := te.out()
	if c.schema.NumFields() != 2 || c.schema.Field(0).Name != "score" || len(c.recs) != 2 {
		t.Fatalf("schema %s, %d batches", c.schema, len(c.recs))
	}
	if got := te.table(); got != "1.5|ann\n(null)|bob\n3|(null)\n-2|cid\n0.25|dee" {
		t.Fatalf("table:\n%s", got)
	}

	te = newEnv(t, map[string]any{"columns": []any{"name", "agee"}})
	te.addJSONInput(peopleSchema, people1)
	wantErr(t, te.run(selectOp()), `select: no column "agee" (available: name, age, score)`)

	te = newEnv(t, map[string]any{"columns": "name"})
	te.addJSONInput(peopleSchema, people1)
	wantErr(t, te.run(selectOp()), "with.columns: want a list of column names")

	te = newEnv(t, map[string]any{"columns": []any{}})
	te.addJSONInput(peopleSchema, people1)
	wantErr(t, te.run(selectOp()), "with.columns")
}

func TestFilter(t *testing.T) {
	te := newEnv(t, map[string]any{"expr": "age >= 18 and score > 0 or name == 'bob'"})
	te.addJSONInput(peopleSchema, people1, people2)
	if err := te.run(filterOp()); err != nil {
		t.Fatal(err)
	}
	if got := te.table(); got != "ann|31|1.5\nbob|17|(null)\ndee|18|0.25" {
		t.Fatalf("table:\n%s", got)
	}
	if te.metrics["rows_in"] != int64(5) || te.metrics["rows_out"] != int64(3) {
		t.Fatalf("metrics %v", te.metrics)
	}
	if !strings.Contains(te.log.String(), "kept 3 of 5 rows") {
		t.Fatalf("log %q", te.log.String())
	}

	// Null counts as false; a batch with nothing kept writes nothing.
	te = newEnv(t, map[string]any{"expr": "score > 100 or null"})
	te.addJSONInput(peopleSchema, people1)
	if err := te.run(filterOp()); err != nil {
		t.Fatal(err)
	}
	if te.out().rows() != 0 || !te.out().schema.Equal(peopleSchema) {
		t.Fatal("rows kept")
	}

	for expr, want := range map[string]string{
		"agee > 1":       `unknown column "agee" (available: name, age, score)`,
		"age + 1":        "gives int64 values, want a condition",
		"age > 'x'":      "cannot compare int64 with utf8",
		"age >> 2":       "with.expr: column 6: expected a value",
		"lower(age) = 1": "lower needs a string",
	} {
		te := newEnv(t, map[string]any{"expr": expr})
		te.addJSONInput(peopleSchema, people1)
		wantErr(t, te.run(filterOp()), want)
	}
}

func TestNoop(t *testing.T) {
	te := newEnv(t, nil)
	te.addJSONInput(peopleSchema, people1, people2)
	te.addJSONInput(peopleSchema, people1)
	if err := te.run(noopOp()); err != nil {
		t.Fatal(err)
	}
	if te.out().rows() != 5 || !te.out().schema.Equal(peopleSchema) {
		t.Fatalf("noop passed %d rows", te.out().rows())
	}

	te = newEnv(t, nil)
	if err := te.run(noopOp()); err != nil {
		t.Fatal(err)
	}
	if te.out().schema.NumFields() != 0 || te.out().rows() != 0 {
		t.Fatalf("noop without inputs wrote %s", te.out().schema)
	}
}

func TestSleep(t *testing.T) {
	te := newEnv(t, map[string]any{"duration": "1ms"})
	te.addJSONInput(peopleSchema, people1)
	if err := te.run(sleepOp()); err != nil {
		t.Fatal(err)
	}
	if te.out().rows() != 3 {
		t.Fatal("sleep did not pass its input through")
	}

	te = newEnv(t, map[string]any{"duration": "1h"})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sleepOp().Run(ctx, te.Env) }()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled sleep = %v", err)
	}
	ctx, cancel = context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	if err := sleepOp().Run(ctx, te.Env); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("timed-out sleep = %v", err)
	}

	for _, d := range []any{"soon", "-1s", 5} {
		te := newEnv(t, map[string]any{"duration": d})
		if err := te.run(sleepOp()); err == nil || !strings.Contains(err.Error(), "with.duration") {
			t.Errorf("duration %v: %v", d, err)
		}
	}
}

func TestFail(t *testing.T) {
	te := newEnv(t, nil)
	wantErr(t, te.run(failOp()), "task failed on purpose")
	te = newEnv(t, map[string]any{"message": "boom"})
	if err := te.run(failOp()); err == nil || err.Error() != "boom" {
		t.Fatalf("fail = %v", err)
	}
}

func TestBuiltinDefaultsMem(t *testing.T) {
	op, _ := Builtin().Lookup("noop")
	te := newEnv(t, nil)
	te.Mem = nil
	if err := op.Run(context.Background(), te.Env); err != nil {
		t.Fatal(err)
	}
}
