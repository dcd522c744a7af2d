package forge_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/forged-dev/forged/cmd/forged/cli"
	"github.com/forged-dev/forged/dag"
	"github.com/forged-dev/forged/forge"
)

// double multiplies the "amount" column by with.factor and counts rows.
func double(ctx context.Context, req *forge.Request) (*forge.Result, error) {
	factor, _ := req.With["factor"].(float64)
	in := req.Inputs[0]
	idx := in.Schema.FieldIndices("amount")
	if len(idx) == 0 {
		return nil, errors.New("no amount column")
	}
	schema := arrow.NewSchema([]arrow.Field{{Name: "doubled", Type: arrow.PrimitiveTypes.Float64}}, nil)
	res := &forge.Result{Schema: schema, Metrics: map[string]any{"input": in.Name}}
	rows := 0
	for _, rec := range in.Records {
		b := array.NewFloat64Builder(req.Mem)
		col := rec.Column(idx[0]).(*array.Float64)
		for i := 0; i < col.Len(); i++ {
			b.Append(col.Value(i) * factor)
		}
		arr := b.NewArray()
		b.Release()
		res.Records = append(res.Records, array.NewRecordBatch(schema, []arrow.Array{arr}, int64(arr.Len())))
		arr.Release()
		rows += col.Len()
	}
	res.Metrics["rows"] = rows
	return res, nil
}

// A registered Go function runs as an op in a pipeline run by the forged
// command line, and its metrics are recorded.
func TestRegisteredFunctionRunsInAPipeline(t *testing.T) {
	if err := forge.RegisterOp("double_amount", double, forge.Inputs(1, 1), forge.Args("factor")); err != nil {
		t.Fatal(err)
	}
	if err := forge.RegisterOp("double_amount", double); err == nil {
		t.Fatal("registered the same name twice")
	}
	if err := forge.RegisterOp("filter", double); err == nil {
		t.Fatal("registered over a built-in op")
	}
	dir := t.TempDir()
	write := func(name, s string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a.csv", "id,amount\n1,1.5\n2,4\n3,10\n")
	write("p.yaml", `name: go
tasks:
  - {name: load, op: read_csv, with: {path: a.csv}}
  - {name: twice, op: double_amount, needs: [load], with: {factor: 2.0}}
  - {name: big, op: filter, needs: [twice], with: {expr: "doubled > 5"}}
`)
	write("bad.yaml", "name: bad\ntasks:\n  - {name: x, op: double_amount, with: {factr: 2}}\n")

	var out, errb bytes.Buffer
	code := cli.Run(context.Background(), []string{"run", filepath.Join(dir, "p.yaml"), "--json"}, &out, &errb, cli.Options{Ops: forge.Registry()})
	if code != 0 {
		t.Fatalf("run exit %d: %s", code, errb.String())
	}
	var run dag.Run
	if err := json.Unmarshal(out.Bytes(), &run); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	twice := run.Task("twice")
	if run.Status != dag.RunSucceeded || twice.Metrics["rows"] != float64(3) || twice.Metrics["input"] != "load" ||
		run.Task("big").Outputs[0].Rows != 2 {
		t.Fatalf("run %s, twice metrics %v, big %+v", run.Status, twice.Metrics, run.Task("big").Outputs)
	}

	// The op's arguments are checked like a built-in op's.
	out.Reset()
	errb.Reset()
	code = cli.Run(context.Background(), []string{"validate", filepath.Join(dir, "bad.yaml")}, &out, &errb, cli.Options{Ops: forge.Registry()})
	if code == 0 || !strings.Contains(out.String()+errb.String(), `unknown key "factr"`) {
		t.Fatalf("validate exit %d: %s %s", code, out.String(), errb.String())
	}
}
