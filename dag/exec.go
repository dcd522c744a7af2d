package dag

import (
	"fmt"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// ExecOp is the op of a task that runs a command (`exec:`) or an inline
// script (`script:`) instead of a built-in operator.
const ExecOp = "exec"

// ExecLabel is the node label that nodes allowing exec tasks carry (set by
// the node itself, never by users); every exec task requires it.
const ExecLabel = "forged.exec"

// ExecFormats are the file formats an exec task may exchange data in.
var ExecFormats = []string{"arrow", "parquet", "csv", "jsonl"}

// execKeys are the task keys of an exec task. They are kept in the task's
// With under the same names, so `op: exec` with `with: {exec: [...]}` is
// the same task, and ${params.x} templates work in them as in any with.
var execKeys = []string{"exec", "script", "interpreter", "format", "env", "workdir", "memory"}

// IsExec reports whether the task runs a command rather than an op.
func (t *Task) IsExec() bool { return t.Op == ExecOp }

// execTask reads the exec keys of a task that has no op: they become its
// With, and the task requires a node that allows exec.
func (sp *specParser) execTask(t *Task, keys []pair, opNode, withNode, task *yaml.Node, path string) *OpSpec {
	switch {
	case opNode != nil && onlyMemory(keys):
		sp.pr.at(field(path, "memory"), keys[0].keyNode, "memory limits exec tasks (exec or script) only; an op runs inside the node")
		return nil
	case opNode != nil:
		sp.pr.at(field(path, keys[0].key), keys[0].keyNode, "a task runs either an op or a command (exec or script), not both")
		return nil
	case withNode != nil:
		sp.pr.at(field(path, "with"), withNode, "an exec task takes its options as task keys (%s), not under with", strings.Join(execKeys, ", "))
		return nil
	}
	t.Op = ExecOp
	var op *OpSpec
	if sp.catalog != nil {
		spec, found := sp.catalog.Op(ExecOp)
		if !found {
			sp.pr.at(field(path, keys[0].key), keys[0].keyNode, "this node has no exec op")
			return nil
		}
		op = &spec
	}
	sp.withPairs(t, op, keys, path, task, task)
	return op
}

// checkExec checks the exec options of a task, wherever they were written,
// and adds the exec label to its constraints.
func (sp *specParser) checkExec(t *Task, n *yaml.Node, wpath string) {
	if t.Constraints.Labels == nil {
		t.Constraints.Labels = map[string]string{}
	}
	t.Constraints.Labels[ExecLabel] = "true"
	w := t.With
	_, hasExec := w["exec"]
	_, hasScript := w["script"]
	switch {
	case hasExec == hasScript:
		sp.pr.at(wpath, n, "an exec task needs exactly one of exec (a command as a list) and script (inline code)")
	case hasExec:
		list, ok := w["exec"].([]any)
		if !ok || len(list) == 0 {
			sp.pr.at(field(wpath, "exec"), n, "must be a non-empty list of arguments, such as [python3, train.py, --lr, \"${params.lr}\"]")
			break
		}
		for i, a := range list {
			if _, ok := a.(string); !ok {
				if isScalar(a) {
					list[i] = fmt.Sprint(a)
					continue
				}
				sp.pr.at(index(field(wpath, "exec"), i), n, "each argument must be a plain value, not %s", describeAny(a))
			}
		}
		if _, ok := w["interpreter"]; ok {
			sp.pr.at(field(wpath, "interpreter"), n, "goes with script, not exec")
		}
	case hasScript:
		if s, ok := w["script"].(string); !ok || strings.TrimSpace(s) == "" {
			sp.pr.at(field(wpath, "script"), n, "must be the script's text")
		}
		if v, ok := w["interpreter"]; ok {
			if s, isStr := v.(string); !isStr || strings.TrimSpace(s) == "" {
				sp.pr.at(field(wpath, "interpreter"), n, "must be a command such as python3 or \"bash -e\"")
			}
		}
	}
	if v, ok := w["format"]; ok {
		if s, isStr := v.(string); !isStr || (!slices.Contains(ExecFormats, s) && !strings.Contains(s, "${")) {
			sp.pr.at(field(wpath, "format"), n, "must be one of %s", strings.Join(ExecFormats, ", "))
		}
	}
	if v, ok := w["env"]; ok {
		m, isMap := v.(map[string]any)
		if !isMap {
			sp.pr.at(field(wpath, "env"), n, "must be a mapping of variable names to values")
		}
		for k, val := range m {
			switch {
			case !validEnvName(k):
				sp.pr.at(field(field(wpath, "env"), k), n, "%q is not a variable name (letters, digits and _, not starting with a digit)", clip(k))
			case strings.HasPrefix(k, "FORGE_"):
				sp.pr.at(field(field(wpath, "env"), k), n, "FORGE_ variables are set by forged")
			case !isScalar(val):
				sp.pr.at(field(field(wpath, "env"), k), n, "must be a plain value, not %s", describeAny(val))
			}
		}
	}
	if v, ok := w["workdir"]; ok {
		if s, isStr := v.(string); !isStr || s == "" {
			sp.pr.at(field(wpath, "workdir"), n, "must be a directory under a data root")
		}
	}
	if v, ok := w["memory"]; ok {
		if s, isStr := v.(string); !isStr || !strings.Contains(s, "${") {
			if _, err := MemoryLimit(v); err != nil {
				sp.pr.at(field(wpath, "memory"), n, "%v", err)
			}
		}
	}
}

// onlyMemory reports whether the exec keys of a task are just memory.
func onlyMemory(keys []pair) bool {
	for _, k := range keys {
		if k.key != "memory" {
			return false
		}
	}
	return true
}

func validEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		if c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || i > 0 && c >= '0' && c <= '9' {
			continue
		}
		return false
	}
	return true
}

func isScalar(v any) bool {
	switch v.(type) {
	case string, int, int64, uint64, float64, bool:
		return true
	}
	return false
}

func describeAny(v any) string {
	switch v.(type) {
	case []any:
		return "a list"
	case map[string]any:
		return "a mapping"
	case nil:
		return "nothing"
	}
	return "a value"
}

// ExecInputName is the name of an exec task's input in its environment
// variable FORGE_INPUT_<NAME>: the needed task's name, with the output's
// name when it is not the default one, upper-cased, - turned into _.
func ExecInputName(n Need) string {
	name := n.Task
	if n.Output != DefaultOutput {
		name += "_" + n.Output
	}
	return EnvName(name)
}

// EnvName upper-cases a task or output name for an environment variable.
func EnvName(s string) string {
	return strings.ToUpper(strings.ReplaceAll(s, "-", "_"))
}
