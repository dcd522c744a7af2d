// Package ops is forged's library of built-in operators over Arrow tables.
// An operator reads its inputs as streams of record batches and writes its
// outputs batch by batch, so large data never has to fit in memory.
package ops

import (
	"context"
	"io"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/forged-dev/forged/dag"
	"github.com/forged-dev/forged/model"
)

// Input is one upstream output a task consumes, in the order of its needs.
type Input struct {
	// Need is the upstream output this input comes from.
	Need dag.Need
	// Open returns a fresh reader over the input's record batches; the
	// caller releases it. An op may open an input more than once.
	Open func() (array.RecordReader, error)
}

// RecordWriter receives an output's record batches in order.
type RecordWriter interface {
	// Write appends one batch; the writer does not keep rec after it
	// returns, the caller still releases it.
	Write(rec arrow.RecordBatch) error
}

// Env is everything an operator run may use. Its fields are set by the
// worker that runs the task.
type Env struct {
	// Task is the task with its params already templated into With.
	Task *dag.Task
	// Inputs are the task's needs, in order.
	Inputs []Input
	// Output opens the named output for writing with the given schema. It
	// may be called once per output name declared by the task.
	Output func(name string, schema *arrow.Schema) (RecordWriter, error)
	// Log receives the task's log lines.
	Log io.Writer
	// Mem allocates Arrow memory; tests pass a checked allocator.
	Mem memory.Allocator
	// DataRoots are the directories file ops may read and write under; a
	// path outside them is refused.
	DataRoots []string
	// Metrics records a named metric of the task.
	Metrics func(name string, value any)
	// Dataset opens a version (0: the latest) of a dataset uploaded to the
	// cluster; nil where there are none.
	Dataset func(name string, version int) (array.RecordReader, error)

	// Run is the run's ID and Attempt the attempt's number (from 1).
	Run     string
	Attempt int
	// Params are the run's parameter values.
	Params map[string]any
	// WorkDir is a scratch directory of the attempt's own, removed once
	// it ends; "" where there is none.
	WorkDir string
	// ArtifactDir is where the attempt may leave files to keep, such as
	// models and plots; "" where there is none.
	ArtifactDir string
	// AllowExec says whether this node runs commands (exec tasks).
	AllowExec bool
	// Model loads a registered model: NAME (the latest version),
	// NAME@ALIAS or NAME@VERSION; nil where there are none.
	Model func(ctx context.Context, ref string) (model.Model, error)
}

// Func runs one operator. It returns when the op is done, failed, or ctx
// is cancelled (by timeout or cancel), in which case it returns ctx.Err().
type Func func(ctx context.Context, env *Env) error

// Op is one registered operator.
type Op struct {
	Spec dag.OpSpec
	Run  Func
}
