package ops

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/forged-dev/forged/dataplane"
	"github.com/forged-dev/forged/internal/fuzzcorpus"
)

// FuzzReadArrow feeds arbitrary bytes to read_arrow as a file under the
// data root: it must fail with an error or read batches, never panic
// (out of the op), hang, or leak Arrow memory (newEnv checks the
// allocator is empty at the end).
func FuzzReadArrow(f *testing.F) {
	te := newEnv(f, nil)
	schema := schemaOf(field("id", arrow.PrimitiveTypes.Int64), field("name", arrow.BinaryTypes.String))
	recs := arrowRecs(te, schema, `[{"id": 1, "name": "a"}, {"id": 2, "name": null}]`, `[{"id": 3, "name": "c"}]`)
	for _, stream := range []bool{false, true} {
		name := arrowWrite(te, "seed.arrow", stream, schema, recs...)
		b := readFixture(f, te, name)
		f.Add(b)
		f.Add(b[:len(b)/2])
		f.Add(b[:len(b)-5])
	}
	f.Add([]byte("ARROW1"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		te := newEnv(t, nil)
		te.Task.With = map[string]any{"path": te.file("f.arrow", string(data))}
		if err := te.run(readArrowOp()); err != nil {
			return // a clear error is fine
		}
		_ = te.out().rows()
	})
}

// readFixture reads a file written under te's data root.
func readFixture(f *testing.F, te *testEnv, name string) []byte {
	f.Helper()
	b, err := os.ReadFile(filepath.Join(te.root, name))
	if err != nil {
		f.Fatal(err)
	}
	return b
}

// The fuzzer's crasher, a stream whose schema claims billions of fields
// (arrow-go alone sizes a slice from that and the process dies out of
// memory), is now a clear error of read_arrow.
func TestReadArrowRejectsTheSchemaCrasher(t *testing.T) {
	v := string(fuzzcorpus.Bytes(t, "testdata/fuzz/FuzzReadArrow/schema-oom"))
	te := newEnv(t, nil)
	te.Task.With = map[string]any{"path": te.file("crash.arrow", v)}
	if err := te.run(readArrowOp()); !errors.Is(err, dataplane.ErrInvalidIPC) || !strings.Contains(err.Error(), "schema fields") {
		t.Fatalf("read_arrow: %v", err)
	}
}
