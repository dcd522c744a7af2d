package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/forged-dev/forged/api"
	"github.com/forged-dev/forged/consensus"
	"github.com/forged-dev/forged/dag"
	"github.com/forged-dev/forged/dataplane"
	"github.com/forged-dev/forged/ops"
)

// datasetsRun is the output-store "run" that holds uploaded datasets; each
// upload is one output of the task named after the dataset.
const datasetsRun = "datasets"

// datasetReplicas is how many nodes hold an uploaded dataset's file, the
// receiving node included, when the cluster has that many.
const datasetReplicas = 2

// datasetFormats maps an upload format to the operator that reads it.
var datasetFormats = map[string]string{"csv": "read_csv", "parquet": "read_parquet", "arrow": ""}

// PutDataset stores an uploaded file (CSV, Parquet or an Arrow IPC stream)
// as the next version of a named dataset: converted to Arrow here, copied
// to one more node, then recorded in the replicated state.
func (n *Node) PutDataset(ctx context.Context, name, format string, body io.Reader) (*consensus.DatasetVersion, error) {
	op, ok := datasetFormats[format]
	if !ok {
		return nil, fmt.Errorf("%w: format %q: want csv, parquet or arrow", api.ErrBadRequest, format)
	}
	ref := dataplane.OutputRef{Run: datasetsRun, Task: name, Output: "u" + NewRunID(now())}
	if err := ref.Validate(); err != nil {
		return nil, fmt.Errorf("%w: dataset name: %v", api.ErrBadRequest, err)
	}
	meta, err := n.storeUpload(ctx, ref, op, body)
	if err != nil {
		return nil, err
	}
	meta.Node = n.cfg.Name
	if len(meta.Inline) == 0 {
		meta.Replicas = n.copyToPeers(ctx, ref, ref.String(), datasetReplicas-1, func(node string, err error) {
			n.log.Warn("copy an uploaded dataset", "dataset", name, "to", node, "err", err)
		})
		if err := n.data.SyncOutputs([]dataplane.OutputRef{ref}); err != nil {
			return nil, err
		}
	}
	res, err := n.apply(ctx, &consensus.PutDataset{Name: name, Output: meta, Format: format, At: now()})
	if err != nil {
		return nil, err
	}
	return n.store.Dataset(name, res.Version)
}

// storeUpload converts an upload into ref: an Arrow stream directly, CSV
// and Parquet through their read operator on a spooled copy.
func (n *Node) storeUpload(ctx context.Context, ref dataplane.OutputRef, op string, body io.Reader) (dag.OutputMeta, error) {
	if op == "" {
		rr, err := dataplane.NewIPCStreamReader(body, n.mem())
		if err != nil {
			return dag.OutputMeta{}, fmt.Errorf("%w: read the Arrow IPC stream: %v", api.ErrBadRequest, err)
		}
		defer rr.Release()
		return n.writeUpload(ref, rr)
	}
	dir := filepath.Join(n.cfg.DataDir, "uploads")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return dag.OutputMeta{}, err
	}
	spool, err := os.CreateTemp(dir, "upload-*")
	if err != nil {
		return dag.OutputMeta{}, err
	}
	defer os.Remove(spool.Name())
	_, err = io.Copy(spool, body)
	if cerr := spool.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return dag.OutputMeta{}, fmt.Errorf("receive the upload: %w", err)
	}
	reader, ok := n.cfg.Ops.Lookup(op)
	if !ok {
		return dag.OutputMeta{}, fmt.Errorf("node %s has no op %s to read the upload", n.cfg.Name, op)
	}
	var w *dataplane.OutputWriter
	env := &ops.Env{
		Task: &dag.Task{Name: ref.Task, Op: op, With: map[string]any{"path": filepath.Base(spool.Name())}, Outputs: []string{dag.DefaultOutput}},
		Output: func(_ string, schema *arrow.Schema) (ops.RecordWriter, error) {
			var err error
			w, err = n.data.Create(ref, schema)
			return w, err
		},
		Log:       io.Discard,
		Mem:       n.mem(),
		DataRoots: []string{dir},
		Metrics:   func(string, any) {},
	}
	if err := reader.Run(ctx, env); err != nil {
		if w != nil {
			w.Abort()
		}
		return dag.OutputMeta{}, fmt.Errorf("%w: %v", api.ErrBadRequest, err)
	}
	if w == nil {
		return dag.OutputMeta{}, fmt.Errorf("%w: the upload holds no table", api.ErrBadRequest)
	}
	return w.Commit()
}

func (n *Node) writeUpload(ref dataplane.OutputRef, rr array.RecordReader) (dag.OutputMeta, error) {
	w, err := n.data.Create(ref, rr.Schema())
	if err != nil {
		return dag.OutputMeta{}, err
	}
	defer w.Abort()
	for rr.Next() {
		if err := w.Write(rr.RecordBatch()); err != nil {
			return dag.OutputMeta{}, err
		}
	}
	if err := rr.Err(); err != nil {
		return dag.OutputMeta{}, fmt.Errorf("%w: read the Arrow IPC stream: %v", api.ErrBadRequest, err)
	}
	return w.Commit()
}

// Datasets lists every version of every dataset.
func (n *Node) Datasets() ([]consensus.DatasetVersion, error) { return n.store.Datasets() }

// Dataset returns one version of a dataset (0: the latest).
func (n *Node) Dataset(name string, version int) (*consensus.DatasetVersion, error) {
	return n.store.Dataset(name, version)
}

// openDataset opens a dataset version for a task, from wherever it is held.
func (n *Node) openDataset(ctx context.Context, name string, version int) (*dataplane.OutputFile, error) {
	v, err := n.store.Dataset(name, version)
	if err != nil {
		if errors.Is(err, consensus.ErrNotFound) {
			return nil, fmt.Errorf("no dataset %s (version %d; 0 is the latest): upload it with forged upload", name, version)
		}
		return nil, err
	}
	ref := dataplane.OutputRef{Run: datasetsRun, Task: v.Name, Output: v.Output.Name}
	return n.openFromHolders(ctx, ref, v.Output)
}
