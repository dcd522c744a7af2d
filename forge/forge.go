// Package forge lets a Go program add its own operators to forged: it
// registers Go functions as ops and then runs the forged command line
// (dev, agent, run, submit, ...) with them, as its own binary.
//
//	func main() {
//		forge.MustRegisterOp("clean", clean, forge.Inputs(1, 1), forge.Args("column"))
//		forge.Main()
//	}
//
// A pipeline then uses `op: clean` like any built-in operator. Every node
// of a cluster must run a binary that has the op.
package forge

import (
	"context"
	"fmt"
	"io"
	"sort"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/forged-dev/forged/cmd/forged/cli"
	"github.com/forged-dev/forged/dag"
	"github.com/forged-dev/forged/ops"
)

// Request is what a Go op is called with.
type Request struct {
	// Inputs are the task's inputs in the order of its needs, each read
	// whole into memory.
	Inputs []Table
	// With holds the task's `with` arguments, params already filled in.
	With map[string]any
	// Params are the run's parameter values.
	Params map[string]any
	// Mem is the allocator for the Arrow memory of the result.
	Mem memory.Allocator
	// Log writes to the task's log.
	Log io.Writer
	// Run is the run's ID, Task the task's name.
	Run, Task string
}

// Table is one input of a Go op.
type Table struct {
	// Name is the need it comes from: "task", or "task.output" for a
	// named output.
	Name string
	// Schema is the input's schema, also when it has no rows.
	Schema *arrow.Schema
	// Records are its batches. forge releases them after the call: keep
	// (Retain) any the result reuses.
	Records []arrow.RecordBatch
}

// Result is what a Go op returns.
type Result struct {
	// Records are the batches of the task's output, all of one schema.
	Records []arrow.RecordBatch
	// Schema is the output's schema when Records is empty.
	Schema *arrow.Schema
	// Outputs holds the batches of each named output, for a task with
	// several outputs (the op's Outputs option); Records is then unused.
	Outputs map[string][]arrow.RecordBatch
	// Metrics are recorded on the task: numbers, booleans, strings or
	// lists of numbers.
	Metrics map[string]any
}

// Func is a Go function run as an operator. forge writes and then
// releases the result's records.
type Func func(ctx context.Context, req *Request) (*Result, error)

// Option describes a registered op.
type Option func(*dag.OpSpec)

// Description says what the op does, for `GET /api/v1/ops` and errors.
func Description(s string) Option { return func(o *dag.OpSpec) { o.Description = s } }

// Inputs bounds the number of needs a task of the op has; max < 0 is no
// bound. The default is any number.
func Inputs(min, max int) Option {
	return func(o *dag.OpSpec) { o.MinInputs, o.MaxInputs = min, max }
}

// Args lists the `with` keys the op takes; a task with any other key is
// refused when the pipeline is validated. Without Args or Required, any
// keys are taken.
func Args(keys ...string) Option {
	return func(o *dag.OpSpec) { o.Optional = append(o.Optional, keys...); o.AnyWith = false }
}

// Required lists the `with` keys a task of the op must give.
func Required(keys ...string) Option {
	return func(o *dag.OpSpec) { o.Required = append(o.Required, keys...); o.AnyWith = false }
}

// Outputs names the op's outputs when a task declares none (default: one
// output, "out").
func Outputs(names ...string) Option { return func(o *dag.OpSpec) { o.Outputs = names } }

var (
	mu         sync.Mutex
	registered = map[string]ops.Op{}
)

// RegisterOp adds fn as the operator name. It fails for an empty name, a
// nil fn or a name already taken, by a built-in op too.
func RegisterOp(name string, fn Func, opts ...Option) error {
	if fn == nil {
		return fmt.Errorf("register op %s: nil function", name)
	}
	spec := dag.OpSpec{Name: name, Description: "Go function " + name, MinInputs: 0, MaxInputs: -1, AnyWith: true}
	for _, o := range opts {
		o(&spec)
	}
	op := ops.Op{Spec: spec, Run: runFunc(fn)}
	// Check it against the built-in ops and the registry's own rules.
	if err := ops.Builtin().Register(op); err != nil {
		return err
	}
	mu.Lock()
	defer mu.Unlock()
	if _, dup := registered[name]; dup {
		return fmt.Errorf("register op %s: already registered", name)
	}
	registered[name] = op
	return nil
}

// MustRegisterOp is RegisterOp that panics on error, for main functions.
func MustRegisterOp(name string, fn Func, opts ...Option) {
	if err := RegisterOp(name, fn, opts...); err != nil {
		panic(err)
	}
}

// Registry returns a registry of the built-in ops and every op
// registered so far.
func Registry() *ops.Registry {
	r := ops.Builtin()
	mu.Lock()
	defer mu.Unlock()
	names := make([]string, 0, len(registered))
	for n := range registered {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := r.Register(registered[n]); err != nil {
			panic(err) // RegisterOp checked it
		}
	}
	return r
}

// Main runs the forged command line with the registered ops, and exits.
func Main() { cli.Main(cli.Options{Ops: Registry()}) }
