package ops

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/forged-dev/forged/dag"
)

// testEnv is a tiny in-memory Env: inputs are built from batches and
// outputs are collected. Its allocator is checked to be empty when the
// test ends.
type testEnv struct {
	*Env
	t       testing.TB
	mem     *memory.CheckedAllocator
	root    string
	log     bytes.Buffer
	mu      sync.Mutex
	outputs map[string]*collected
	metrics map[string]any
}

type collected struct {
	schema *arrow.Schema
	recs   []arrow.RecordBatch
}

func (c *collected) Write(rec arrow.RecordBatch) error {
	if !rec.Schema().Equal(c.schema) {
		return fmt.Errorf("batch schema %s differs from output schema %s", rec.Schema(), c.schema)
	}
	rec.Retain()
	c.recs = append(c.recs, rec)
	return nil
}

func (c *collected) rows() int64 {
	var n int64
	for _, r := range c.recs {
		n += r.NumRows()
	}
	return n
}

// newEnv makes an env for one task whose data root is a fresh temp dir.
func newEnv(t testing.TB, with map[string]any) *testEnv {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	te := &testEnv{t: t, mem: mem, root: t.TempDir(), outputs: map[string]*collected{}, metrics: map[string]any{}}
	t.Cleanup(func() { mem.AssertSize(t, 0) })
	t.Cleanup(func() {
		for _, c := range te.outputs {
			for _, r := range c.recs {
				r.Release()
			}
		}
	})
	te.Env = &Env{
		Task: &dag.Task{Name: "t", With: with, Outputs: []string{dag.DefaultOutput}},
		Output: func(name string, schema *arrow.Schema) (RecordWriter, error) {
			te.mu.Lock()
			defer te.mu.Unlock()
			if _, dup := te.outputs[name]; dup {
				return nil, fmt.Errorf("output %s opened twice", name)
			}
			c := &collected{schema: schema}
			te.outputs[name] = c
			return c, nil
		},
		Log:       &te.log,
		Mem:       mem,
		DataRoots: []string{te.root},
		Metrics: func(name string, v any) {
			te.mu.Lock()
			te.metrics[name] = v
			te.mu.Unlock()
		},
	}
	return te
}

// addInput adds an input holding recs (which the env retains).
func (te *testEnv) addInput(schema *arrow.Schema, recs ...arrow.RecordBatch) {
	te.Inputs = append(te.Inputs, Input{
		Need: dag.Need{Task: fmt.Sprintf("up%d", len(te.Inputs)), Output: dag.DefaultOutput},
		Open: func() (array.RecordReader, error) { return array.NewRecordReader(schema, recs) },
	})
}

// addJSONInput adds an input of one batch per JSON document.
func (te *testEnv) addJSONInput(schema *arrow.Schema, docs ...string) {
	var recs []arrow.RecordBatch
	for _, d := range docs {
		rec := jsonRec(te.t, te.mem, schema, d)
		recs = append(recs, rec)
	}
	te.t.Cleanup(func() {
		for _, r := range recs {
			r.Release()
		}
	})
	te.addInput(schema, recs...)
}

func jsonRec(t testing.TB, mem memory.Allocator, schema *arrow.Schema, doc string) arrow.RecordBatch {
	t.Helper()
	rec, _, err := array.RecordFromJSON(mem, schema, strings.NewReader(doc))
	if err != nil {
		t.Fatalf("bad fixture %s: %v", doc, err)
	}
	return rec
}

func (te *testEnv) run(op Op) error {
	te.t.Helper()
	return op.Run(context.Background(), te.Env)
}

// out returns the collected default output.
func (te *testEnv) out() *collected {
	te.t.Helper()
	c := te.outputs[dag.DefaultOutput]
	if c == nil {
		te.t.Fatalf("op wrote no output; log:\n%s", te.log.String())
	}
	return c
}

// table renders the output as one line per row, "v1|v2|...", nulls as
// "(null)".
func (te *testEnv) table() string {
	te.t.Helper()
	var lines []string
	for _, rec := range te.out().recs {
		for i := 0; i < int(rec.NumRows()); i++ {
			cells := make([]string, rec.NumCols())
			for j, col := range rec.Columns() {
				cells[j] = col.ValueStr(i)
			}
			lines = append(lines, strings.Join(cells, "|"))
		}
	}
	return strings.Join(lines, "\n")
}

// file writes a fixture under the env's data root and returns its name
// relative to the root.
func (te *testEnv) file(name, content string) string {
	te.t.Helper()
	p := filepath.Join(te.root, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		te.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		te.t.Fatal(err)
	}
	return name
}

func schemaOf(fields ...arrow.Field) *arrow.Schema { return arrow.NewSchema(fields, nil) }

func field(name string, dt arrow.DataType) arrow.Field {
	return arrow.Field{Name: name, Type: dt, Nullable: true}
}

func wantErr(t testing.TB, err error, want string) {
	t.Helper()
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("error = %v, want one containing %q", err, want)
	}
}
