package node_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/forged-dev/forged/client"
	"github.com/forged-dev/forged/dag"
	"github.com/forged-dev/forged/internal/fuzzcorpus"
	"github.com/forged-dev/forged/node/nodetest"
)

// A dataset uploaded to one node is versioned in the state, copied to
// another node, and read by tasks on any node.
func TestDatasetsUploadVersionAndRead(t *testing.T) {
	nodes := nodetest.MakeCluster(t, 3)
	nodetest.WaitForLeader(t, nodes)
	ctx := context.Background()
	up := client.New(nodes[1].URL(), "")

	v1, err := up.PutDataset(ctx, "orders", "csv", strings.NewReader(bigOrdersCSV()))
	if err != nil {
		t.Fatal(err)
	}
	if v1.Version != 1 || v1.Output.Rows != bigOrders || v1.Output.Node != "n2" || len(v1.Output.Replicas) != 1 {
		t.Fatalf("first upload = %+v", v1)
	}
	// A second version, as an Arrow IPC stream.
	if v2, err := up.PutDataset(ctx, "orders", "arrow", bytes.NewReader(arrowStream(t, 5))); err != nil || v2.Version != 2 || v2.Output.Rows != 5 {
		t.Fatalf("second upload = %+v, %v", v2, err)
	}
	if _, err := up.PutDataset(ctx, "orders", "xlsx", strings.NewReader("x")); err == nil || !strings.Contains(err.Error(), "want csv, parquet or arrow") {
		t.Fatalf("an unknown format: %v", err)
	}
	if _, err := up.PutDataset(ctx, "bad/name", "csv", strings.NewReader("a\n1\n")); err == nil {
		t.Fatal("a bad dataset name was accepted")
	}
	all, err := up.Datasets(ctx) // the node written to has applied its writes

	if err != nil || len(all) != 2 || all[0].Version != 1 || all[1].Version != 2 {
		t.Fatalf("datasets = %+v, %v", all, err)
	}

	// Tasks on n3 (which holds no copy unless it is the replica) read the
	// latest and the first version.
	spec := `name: readers
tasks:
  - {name: latest, op: read_dataset, with: {name: orders}, constraints: {node: n3}}
  - {name: first, op: read_dataset, with: {name: orders, version: 1}, constraints: {node: n3}}
`
	c := client.New(nodes[2].URL(), "")
	id, err := c.Submit(ctx, []byte(spec), nil)
	if err != nil {
		t.Fatal(err)
	}
	run := waitRun(t, c, id)
	if run.Status != dag.RunSucceeded {
		t.Fatalf("run %s: %s %s", run.Status, run.Task("latest").Error, run.Task("first").Error)
	}
	if l, f := run.Task("latest").Outputs[0].Rows, run.Task("first").Outputs[0].Rows; l != 5 || f != bigOrders {
		t.Fatalf("latest has %d rows (want 5), first %d (want %d)", l, f, bigOrders)
	}

	id, err = c.Submit(ctx, []byte("name: missing\ntasks:\n  - {name: r, op: read_dataset, with: {name: nope}}\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if r := waitRun(t, c, id); r.Status != dag.RunFailed || !strings.Contains(r.Task("r").Error, "no dataset nope") {
		t.Fatalf("reading a missing dataset: %s, %q", r.Status, r.Task("r").Error)
	}
}

// arrowStream is an Arrow IPC stream of one int64 column with rows rows.
func arrowStream(t *testing.T, rows int) []byte {
	t.Helper()
	schema := arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}}, nil)
	b := array.NewInt64Builder(memory.DefaultAllocator)
	for i := 0; i < rows; i++ {
		b.Append(int64(i))
	}
	col := b.NewArray()
	rec := array.NewRecordBatch(schema, []arrow.Array{col}, int64(rows))
	var buf bytes.Buffer
	w := ipc.NewWriter(&buf, ipc.WithSchema(schema))
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	w.Close()
	rec.Release()
	col.Release()
	b.Release()
	return buf.Bytes()
}

// An uploaded Arrow stream that would crash arrow-go (the fuzzer's
// crasher: a schema that claims billions of fields), or that declares a
// message far larger than itself, is a 400; the node stays up and takes
// a sound upload next.
func TestDatasetUploadRejectsCraftedArrow(t *testing.T) {
	v := string(fuzzcorpus.Bytes(t, "../ops/testdata/fuzz/FuzzReadArrow/schema-oom"))
	nodes := nodetest.MakeCluster(t, 1)
	nodetest.WaitForLeader(t, nodes)
	ctx := context.Background()
	c := client.New(nodes[0].URL(), "")
	for _, body := range []string{v, "\xff\xff\xff\xff\x00\x00\x00\x50"} {
		var apiErr *client.APIError
		_, err := c.PutDataset(ctx, "crafted", "arrow", strings.NewReader(body))
		if !errors.As(err, &apiErr) || apiErr.Status != http.StatusBadRequest || !strings.Contains(err.Error(), "invalid Arrow IPC data") {
			t.Fatalf("crafted upload: %v", err)
		}
	}
	if v, err := c.PutDataset(ctx, "crafted", "arrow", bytes.NewReader(arrowStream(t, 3))); err != nil || v.Version != 1 || v.Output.Rows != 3 {
		t.Fatalf("a sound upload after: %+v, %v", v, err)
	}
}
