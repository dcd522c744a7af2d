package node

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/forged-dev/forged/consensus"
	"github.com/forged-dev/forged/dag"
	"github.com/forged-dev/forged/dataplane"
	"github.com/forged-dev/forged/ops"
)

// stopGrace is how long an op may take to return after its context ends
// before the attempt is given up on and its slot freed.
const stopGrace = 5 * time.Second

// execute runs one attempt of a task and returns its result. It never
// panics: an op that panics fails the attempt with the panic's message.
func (n *Node) execute(ctx context.Context, run *consensus.ActiveRun, key attemptKey) dag.TaskResult {
	logPath, err := n.LogFile(key.Run, key.Task, key.Attempt)
	if err != nil {
		return dag.TaskResult{Error: err.Error()}
	}
	logw := newTaskLog(logPath)
	start := time.Now()
	logw.Printf("attempt %d of %s/%s on node %s", key.Attempt, key.Run, key.Task, n.cfg.Name)

	res := n.runAttempt(ctx, run, key, logw)
	if res.Error != "" {
		logw.Printf("failed after %s: %s", time.Since(start).Round(time.Millisecond), res.Error)
	} else {
		logw.Printf("succeeded in %s", time.Since(start).Round(time.Millisecond))
	}
	res.LogTail = logw.Tail()
	// A successful attempt whose whole log fits in the tail, which the
	// state keeps, needs no file; a failed one keeps its log for later.
	if err := logw.Close(res.Error != ""); err != nil {
		n.log.Warn("write task log", "path", logPath, "err", err)
	}
	n.metrics.taskEnded(res, time.Since(start))
	return res
}

func (n *Node) runAttempt(ctx context.Context, run *consensus.ActiveRun, key attemptKey, logw *taskLog) (res dag.TaskResult) {
	p, err := n.specs.get(run.Pipeline, run.Version)
	if err != nil {
		return dag.TaskResult{Error: err.Error()}
	}
	spec := p.Task(key.Task)
	if spec == nil {
		return dag.TaskResult{Error: fmt.Sprintf("pipeline %s version %d has no task %s", run.Pipeline, run.Version, key.Task)}
	}
	task, err := spec.Render(run.Params)
	if err != nil {
		return dag.TaskResult{Error: fmt.Sprintf("render params: %v", err)}
	}
	op, ok := n.cfg.Ops.Lookup(task.Op)
	if !ok {
		return dag.TaskResult{Error: fmt.Sprintf("node %s has no op %q", n.cfg.Name, task.Op)}
	}
	if task.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, task.Timeout.D(),
			fmt.Errorf("timed out after %s", task.Timeout.D()))
		defer cancel()
	}

	a := &attempt{ctx: ctx, node: n, runID: key.Run, task: task, mem: n.mem()}
	defer a.cleanup()
	defer func() {
		if res.Error != "" {
			res.LostInputs = a.lostInputs()
		}
	}()
	env := &ops.Env{
		Task:        task,
		Inputs:      a.inputs(),
		Output:      a.output,
		Log:         logw,
		Mem:         a.mem,
		DataRoots:   n.cfg.DataRoots,
		Metrics:     a.metric,
		Dataset:     a.dataset,
		Run:         key.Run,
		Attempt:     key.Attempt,
		Params:      run.Params,
		ArtifactDir: filepath.Join(n.cfg.DataDir, artifactsDir, key.Run, key.Task),
		AllowExec:   n.cfg.EnableExec,
		Model:       n.modelForTask,
	}
	if task.IsExec() {
		dirs, err := n.execDirs(key, env.ArtifactDir)
		if err != nil {
			return dag.TaskResult{Error: err.Error()}
		}
		defer dirs.remove(logw)
		env.WorkDir = dirs.work
	}

	done := make(chan error, 1)
	go func() {
		defer func() {
			if v := recover(); v != nil {
				logw.Printf("panic: %v\n%s", v, debug.Stack())
				done <- fmt.Errorf("op %s panicked: %v", task.Op, v)
			}
		}()
		done <- op.Run(ctx, env)
	}()
	var runErr error
	select {
	case runErr = <-done:
	case <-ctx.Done():
		select {
		case runErr = <-done:
		case <-time.After(stopGrace):
			logw.Printf("op %s did not stop within %s of being told to; its slot is freed", task.Op, stopGrace)
			a.abandon()
			return dag.TaskResult{Error: context.Cause(ctx).Error()}
		}
	}
	if ctx.Err() != nil {
		return dag.TaskResult{Error: context.Cause(ctx).Error()}
	}
	if runErr != nil {
		return dag.TaskResult{Error: n.diskFull(runErr)}
	}
	outputs, err := a.commit()
	if err != nil {
		return dag.TaskResult{Error: n.diskFull(err)}
	}
	n.replicate(ctx, key.Run, task, outputs, logw)
	if task.Register != nil {
		// Registered before the success is reported: a task that reports
		// success has its model in the registry.
		v, err := n.registerTaskModel(ctx, key.Run, task, outputs, env.ArtifactDir, a.metrics)
		if err != nil {
			return dag.TaskResult{Error: fmt.Sprintf("register model %s: %v", task.Register.Model, err)}
		}
		logw.Printf("registered model %s version %d", v.Model, v.Version)
	}
	return dag.TaskResult{Outputs: outputs, Metrics: a.metrics}
}

// artifactsDir (under the data dir) holds, per run and task, the files
// tasks keep (FORGE_ARTIFACTS).
const artifactsDir = "artifacts"

// attemptDirs are an exec attempt's scratch directory and the artifact
// directory it writes.
type attemptDirs struct{ work, artifacts string }

// execDirs makes a fresh scratch directory for an exec attempt and an
// empty artifact directory (a retry starts without its predecessor's).
func (n *Node) execDirs(key attemptKey, artifacts string) (attemptDirs, error) {
	d := attemptDirs{
		work:      filepath.Join(n.cfg.DataDir, "work", key.Run, fmt.Sprintf("%s.%d", key.Task, key.Attempt)),
		artifacts: artifacts,
	}
	for _, dir := range []string{d.work, d.artifacts} {
		if err := os.RemoveAll(dir); err != nil {
			return d, fmt.Errorf("prepare %s: %w", dir, err)
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return d, fmt.Errorf("prepare %s: %w", dir, err)
		}
	}
	return d, nil
}

// remove deletes the scratch directory, and the artifact directory if the
// attempt left nothing in it.
func (d attemptDirs) remove(logw *taskLog) {
	if err := os.RemoveAll(d.work); err != nil {
		logw.Printf("remove work dir: %v", err)
	}
	_ = os.Remove(filepath.Dir(d.work)) // the run's, once empty
	if entries, err := os.ReadDir(d.artifacts); err == nil && len(entries) == 0 {
		_ = os.Remove(d.artifacts)
	} else if err == nil {
		logw.Printf("artifacts: %d entries kept in %s", len(entries), d.artifacts)
	}
}

// attempt holds what one task attempt opened: input files, output writers,
// metrics. cleanup releases all of it.
type attempt struct {
	ctx   context.Context
	node  *Node
	runID string
	task  *dag.Task
	mem   memory.Allocator

	mu        sync.Mutex
	files     []*dataplane.OutputFile
	writers   map[string]*dataplane.OutputWriter
	metrics   map[string]any
	abandoned bool
	// lost are upstream tasks whose outputs no live node holds.
	lost []string
}

func (a *attempt) inputs() []ops.Input {
	in := make([]ops.Input, len(a.task.Needs))
	for i, need := range a.task.Needs {
		ref := dataplane.OutputRef{Run: a.runID, Task: need.Task, Output: need.Output}
		in[i] = ops.Input{Need: need, Open: func() (array.RecordReader, error) {
			f, err := a.node.openOutput(a.ctx, ref)
			if err != nil {
				if errors.Is(err, errInputLost) {
					a.mu.Lock()
					a.lost = append(a.lost, need.Task)
					a.mu.Unlock()
				}
				return nil, fmt.Errorf("open input %s: %w", need, err)
			}
			a.mu.Lock()
			a.files = append(a.files, f)
			a.mu.Unlock()
			return f.Reader()
		}}
	}
	return in
}

// dataset opens a dataset version for the op; the file stays open until
// the attempt ends.
func (a *attempt) dataset(name string, version int) (array.RecordReader, error) {
	f, err := a.node.openDataset(a.ctx, name, version)
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	a.files = append(a.files, f)
	a.mu.Unlock()
	return f.Reader()
}

// lostInputs names, once each, the upstream tasks whose outputs this
// attempt found lost.
func (a *attempt) lostInputs() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for _, t := range a.lost {
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}

func (a *attempt) output(name string, schema *arrow.Schema) (ops.RecordWriter, error) {
	declared := false
	for _, o := range a.task.Outputs {
		declared = declared || o == name
	}
	if !declared {
		return nil, fmt.Errorf("task %s has no output %q (declared: %s)", a.task.Name, name, strings.Join(a.task.Outputs, ", "))
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.writers == nil {
		a.writers = map[string]*dataplane.OutputWriter{}
	}
	if _, dup := a.writers[name]; dup {
		return nil, fmt.Errorf("output %q opened twice", name)
	}
	w, err := a.node.data.Create(dataplane.OutputRef{Run: a.runID, Task: a.task.Name, Output: name}, schema)
	if err != nil {
		return nil, err
	}
	a.writers[name] = w
	return w, nil
}

func (a *attempt) metric(name string, value any) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.metrics == nil {
		a.metrics = map[string]any{}
	}
	a.metrics[name] = value
}

// commit publishes every declared output; an output the op did not write
// fails the attempt.
func (a *attempt) commit() ([]dag.OutputMeta, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var missing []string
	for _, name := range a.task.Outputs {
		if a.writers[name] == nil {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("op %s wrote no data for output %s", a.task.Op, strings.Join(missing, ", "))
	}
	metas := make([]dag.OutputMeta, 0, len(a.writers))
	for _, name := range a.task.Outputs {
		meta, err := a.writers[name].Commit()
		if err != nil {
			return nil, fmt.Errorf("save output %s: %w", name, err)
		}
		meta.Node = a.node.cfg.Name
		metas = append(metas, meta)
	}
	return metas, nil
}

// abandon marks the attempt as given up: its op may still hold files, so
// cleanup only aborts uncommitted outputs.
func (a *attempt) abandon() {
	a.mu.Lock()
	a.abandoned = true
	a.mu.Unlock()
}

func (a *attempt) cleanup() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, w := range a.writers {
		w.Abort()
	}
	if a.abandoned {
		return
	}
	for _, f := range a.files {
		f.Close()
	}
}

// mem is the allocator for Arrow memory (Config.Mem, else Go's default).
func (n *Node) mem() memory.Allocator {
	if n.cfg.Mem != nil {
		return n.cfg.Mem
	}
	return memory.DefaultAllocator
}
