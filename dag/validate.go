package dag

import (
	"fmt"
	"strings"
)

// validate checks what involves more than one task: unique names, needs
// that name existing outputs, the number of inputs each op takes, and
// cycles. It resolves each Need's Output.
func (sp *specParser) validate(p *Pipeline, infos []taskInfo) {
	byName := make(map[string]int, len(infos))
	var names []string
	for i, inf := range infos {
		if !inf.named {
			continue
		}
		name := p.Tasks[i].Name
		if j, dup := byName[name]; dup {
			sp.pr.at(field(inf.path, "name"), inf.nameNode, "duplicate task name %q; tasks[%d] on line %d already has it", name, j, p.Tasks[j].Line)
			continue
		}
		byName[name] = i
		names = append(names, name)
	}
	for i, inf := range infos {
		t := &p.Tasks[i]
		for _, ref := range inf.needs {
			if !ref.ok {
				continue
			}
			if ref.task == t.Name {
				sp.pr.at(ref.path, ref.node, "task %q cannot need itself", t.Name)
				continue
			}
			j, ok := byName[ref.task]
			if !ok {
				sp.pr.at(ref.path, ref.node, "unknown task %q; %s", ref.task, choices("tasks", ref.task, names))
				continue
			}
			up := &p.Tasks[j]
			out := ref.output
			switch {
			case ref.bare && len(up.Outputs) > 1:
				sp.pr.at(ref.path, ref.node, "task %q has %d outputs (%s); name one, as in %q",
					ref.task, len(up.Outputs), list(up.Outputs), ref.task+"."+up.Outputs[0])
				continue
			case ref.bare:
				out = up.Outputs[0]
			case !contains(up.Outputs, out):
				sp.pr.at(ref.path, ref.node, "task %q has no output %q; %s", ref.task, out, choices("its outputs", out, up.Outputs))
				continue
			}
			t.Needs = append(t.Needs, Need{Task: ref.task, Output: out})
		}
		if inf.op != nil {
			if msg := inputsProblem(inf.op, t.Op, len(inf.needs)); msg != "" {
				sp.pr.at(field(inf.path, "needs"), lineOf(inf.needsNode, inf.node), "%s", msg)
			}
		}
	}
	sp.checkCycles(p, infos)
}

// checkCycles reports each group of tasks that need each other, once, at
// the need of its first task that starts the cycle.
func (sp *specParser) checkCycles(p *Pipeline, infos []taskInfo) {
	for _, cyc := range newGraph(p).cycles() {
		start, next := cyc[0], p.Tasks[cyc[1]].Name
		names := make([]string, 0, len(cyc)+1)
		for _, i := range cyc {
			names = append(names, p.Tasks[i].Name)
		}
		names = append(names, p.Tasks[start].Name)
		if len(names) > 25 {
			names = append(append(names[:12:12], "..."), names[len(names)-12:]...)
		}
		msg := fmt.Sprintf("needs form a cycle: %s (each task needs the next)", strings.Join(names, " -> "))
		inf := infos[start]
		at := FieldError{Path: field(inf.path, "needs"), Message: msg}
		if n := lineOf(inf.needsNode, inf.node); n != nil {
			at.Line, at.Column = n.Line, n.Column
		}
		for _, ref := range inf.needs {
			if ref.ok && ref.task == next {
				at.Path, at.Line, at.Column = ref.path, ref.node.Line, ref.node.Column
				break
			}
		}
		sp.pr.add(at)
	}
}

// inputsProblem says what is wrong with giving an op got inputs, or "".
func inputsProblem(op *OpSpec, name string, got int) string {
	lo, hi := op.MinInputs, op.MaxInputs
	if got >= lo && (hi < 0 || got <= hi) {
		return ""
	}
	var want string
	switch {
	case hi == 0:
		return fmt.Sprintf("op %s takes no inputs; got %d in needs", name, got)
	case lo == hi:
		want = "exactly " + inputs(lo)
	case hi < 0:
		want = "at least " + inputs(lo)
	case lo == 0:
		want = "at most " + inputs(hi)
	default:
		want = fmt.Sprintf("%d to %d inputs", lo, hi)
	}
	return fmt.Sprintf("op %s takes %s; got %d in needs", name, want, got)
}

func inputs(n int) string {
	if n == 1 {
		return "1 input"
	}
	return fmt.Sprintf("%d inputs", n)
}
