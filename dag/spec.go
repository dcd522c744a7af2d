// Package dag holds forged's pipeline model: the spec users write, its
// validation, parameter templating, the run and task state machine and the
// planner that says which tasks are ready. It is pure logic: no I/O, no
// clocks, no imports from the rest of forged.
package dag

import (
	"fmt"
	"time"
)

// Pipeline is a parsed and validated pipeline spec.
type Pipeline struct {
	Name        string  `json:"name"`
	Description string  `json:"description,omitempty"`
	Params      []Param `json:"params,omitempty"`
	Tasks       []Task  `json:"tasks"`
}

// ParamType is the declared type of a pipeline parameter.
type ParamType string

// The parameter types a spec may declare.
const (
	ParamString ParamType = "string"
	ParamInt    ParamType = "int"
	ParamFloat  ParamType = "float"
	ParamBool   ParamType = "bool"
)

// Param is one typed pipeline parameter. A parameter without a default is
// required at submission.
type Param struct {
	Name        string    `json:"name"`
	Type        ParamType `json:"type"`
	Default     any       `json:"default,omitempty"`
	HasDefault  bool      `json:"has_default"`
	Description string    `json:"description,omitempty"`
}

// Task is one node of the pipeline graph.
type Task struct {
	Name        string         `json:"name"`
	Description string         `json:"description,omitempty"`
	Op          string         `json:"op"`
	With        map[string]any `json:"with,omitempty"`
	Needs       []Need         `json:"needs,omitempty"`
	// Outputs are the task's named outputs, resolved at validation: the
	// declared ones, else the op's defaults, else the single output "out".
	Outputs      []string `json:"outputs"`
	Retries      int      `json:"retries,omitempty"`
	RetryBackoff Duration `json:"retry_backoff,omitempty"`
	Timeout      Duration `json:"timeout,omitempty"`
	// Constraints restrict the nodes that may run the task.
	Constraints Constraints `json:"constraints,omitempty"`
	// Replicas is how many nodes hold each file output once the task
	// succeeded (the producer and Replicas-1 copies), so that losing a
	// node costs no recompute; 0 or 1 keeps only the producer's.
	Replicas int `json:"replicas,omitempty"`
	// Register, when set, registers the task's model once it succeeds.
	Register *Register `json:"register,omitempty"`
	// Line is where the task's mapping starts in the spec source; JSON is
	// read by the same parser, so it has lines too.
	Line int `json:"line,omitempty"`
}

// Need names an upstream output a task consumes. Output is resolved at
// validation when the spec names only the task.
type Need struct {
	Task   string `json:"task"`
	Output string `json:"output"`
}

// String renders the need as users write it: "task.output".
func (n Need) String() string { return n.Task + "." + n.Output }

// Task returns the task with the given name, or nil.
func (p *Pipeline) Task(name string) *Task {
	for i := range p.Tasks {
		if p.Tasks[i].Name == name {
			return &p.Tasks[i]
		}
	}
	return nil
}

// Param returns the parameter with the given name, or nil.
func (p *Pipeline) Param(name string) *Param {
	for i := range p.Params {
		if p.Params[i].Name == name {
			return &p.Params[i]
		}
	}
	return nil
}

// Duration is a time.Duration that reads and writes as "1m30s" in specs
// and JSON.
type Duration time.Duration

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// MarshalText renders the duration as Go duration text.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText parses Go duration text such as "250ms" or "1h".
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("bad duration %q: want a number with a unit, such as 30s or 5m", string(b))
	}
	if v < 0 {
		return fmt.Errorf("bad duration %q: must not be negative", string(b))
	}
	*d = Duration(v)
	return nil
}

// OpSpec describes what an operator accepts, so a spec can be checked
// without running it. The op library provides these; dag only reads them.
type OpSpec struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	// MinInputs and MaxInputs bound the number of needs; MaxInputs < 0
	// means no upper bound.
	MinInputs int `json:"min_inputs"`
	MaxInputs int `json:"max_inputs"`
	// Required lists keys that must be present in `with`.
	Required []string `json:"required,omitempty"`
	// Optional lists other keys the op understands; any key in neither
	// list is reported as unknown.
	Optional []string `json:"optional,omitempty"`
	// Outputs are the op's output names when the task declares none; empty
	// means the single output "out".
	Outputs []string `json:"outputs,omitempty"`
	// AnyWith lets the task's `with` hold keys beyond Required and
	// Optional, for ops that take free-form arguments.
	AnyWith bool `json:"any_with,omitempty"`
}

// Catalog looks up operators by name.
type Catalog interface {
	Op(name string) (OpSpec, bool)
}

// DefaultOutput is the name of a task's output when it has exactly one and
// the spec does not name it.
const DefaultOutput = "out"
