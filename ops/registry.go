package ops

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/forged-dev/forged/dag"
)

// Registry holds operators by name. It implements dag.Catalog, so a spec
// can be validated against exactly the ops a node can run. It is safe for
// concurrent use.
type Registry struct {
	mu  sync.RWMutex
	ops map[string]Op
}

var _ dag.Catalog = (*Registry)(nil)

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{ops: map[string]Op{}} }

// Register adds op; its name must be new and non-empty, and its spec sane.
func (r *Registry) Register(op Op) error {
	s := op.Spec
	switch {
	case s.Name == "":
		return errors.New("register op: empty name")
	case op.Run == nil:
		return fmt.Errorf("register op %s: no Run func", s.Name)
	case s.MinInputs < 0 || (s.MaxInputs >= 0 && s.MaxInputs < s.MinInputs):
		return fmt.Errorf("register op %s: bad input bounds %d..%d", s.Name, s.MinInputs, s.MaxInputs)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.ops[s.Name]; dup {
		return fmt.Errorf("register op %s: already registered", s.Name)
	}
	r.ops[s.Name] = op
	return nil
}

// Op returns the spec of the named op; it is dag.Catalog's lookup.
func (r *Registry) Op(name string) (dag.OpSpec, bool) {
	op, ok := r.Lookup(name)
	return op.Spec, ok
}

// Lookup returns the named op.
func (r *Registry) Lookup(name string) (Op, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	op, ok := r.ops[name]
	return op, ok
}

// Specs lists every op's spec sorted by name, for docs and the API.
func (r *Registry) Specs() []dag.OpSpec {
	r.mu.RLock()
	specs := make([]dag.OpSpec, 0, len(r.ops))
	for _, op := range r.ops {
		specs = append(specs, op.Spec)
	}
	r.mu.RUnlock()
	sort.Slice(specs, func(i, j int) bool { return specs[i].Name < specs[j].Name })
	return specs
}

// Builtin returns a new registry holding every built-in op.
func Builtin() *Registry {
	r := NewRegistry()
	for _, op := range []Op{
		readCSVOp(), readParquetOp(), readJSONLOp(), readArrowOp(), readDatasetOp(),
		writeParquetOp(), writeCSVOp(),
		selectOp(), renameOp(), filterOp(), deriveOp(), describeOp(),
		sortOp(), limitOp(), sampleOp(), concatOp(),
		joinOp(), aggregateOp(), splitOp(),
		trainLinearOp(), trainLogisticOp(), trainKMeansOp(), evaluateOp(), predictOp(),
		noopOp(), sleepOp(), failOp(), execOp(),
	} {
		op.Run = withDefaultMem(op.Run)
		if err := r.Register(op); err != nil {
			panic(err) // a programming error in this package
		}
	}
	return r
}

// withDefaultMem runs f with memory.DefaultAllocator when the env has no
// allocator.
func withDefaultMem(f Func) Func {
	return func(ctx context.Context, env *Env) error {
		if env.Mem == nil {
			e := *env
			e.Mem = memory.DefaultAllocator
			env = &e
		}
		return f(ctx, env)
	}
}
