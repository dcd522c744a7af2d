package dag

import "testing"

func pipelineOf(tasks ...Task) *Pipeline { return &Pipeline{Name: "g", Tasks: tasks} }

func task(name string, needs ...string) Task {
	t := Task{Name: name, Outputs: []string{DefaultOutput}}
	for _, n := range needs {
		t.Needs = append(t.Needs, Need{Task: n, Output: DefaultOutput})
	}
	return t
}

func TestTopoOrder(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    *Pipeline
		want []string
	}{
		{"in order stays", pipelineOf(task("a"), task("b", "a"), task("c", "b")), []string{"a", "b", "c"}},
		{"reversed", pipelineOf(task("c", "b"), task("b", "a"), task("a")), []string{"a", "b", "c"}},
		{"ties keep spec order", pipelineOf(task("z"), task("y"), task("x", "z", "y"), task("w")), []string{"z", "y", "x", "w"}},
		{"diamond", pipelineOf(task("d", "b", "c"), task("c", "a"), task("b", "a"), task("a")), []string{"a", "c", "b", "d"}},
		{"waits for the later need", pipelineOf(task("a"), task("late", "b"), task("b"), task("c")), []string{"a", "b", "late", "c"}},
		{"duplicate needs", pipelineOf(task("a"), task("b", "a", "a")), []string{"a", "b"}},
		{"empty", pipelineOf(), []string{}},
		{"cycle goes last", pipelineOf(task("a", "b"), task("b", "a"), task("c")), []string{"c", "a", "b"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.p.TopoOrder(); !equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestDownstream(t *testing.T) {
	p := pipelineOf(
		task("load"),
		task("clean", "load"),
		task("other"),
		task("train", "clean"),
		task("eval", "train", "clean"),
		task("report", "eval", "other"),
	)
	for _, tc := range []struct {
		task string
		want []string
	}{
		{"load", []string{"clean", "train", "eval", "report"}},
		{"clean", []string{"train", "eval", "report"}},
		{"other", []string{"report"}},
		{"report", nil},
		{"missing", nil},
	} {
		if got := p.Downstream(tc.task); !equal(got, tc.want) {
			t.Errorf("Downstream(%s) = %v, want %v", tc.task, got, tc.want)
		}
	}
}

func TestCycles(t *testing.T) {
	// a<->b, and a larger ring c->d->e->c with a chord; f alone.
	p := pipelineOf(task("a", "b"), task("b", "a"), task("c", "e"), task("d", "c"), task("e", "d", "c"), task("f", "f"))
	got := newGraph(p).cycles()
	if len(got) != 2 || !equal(got[0], []int{0, 1}) || !equal(got[1], []int{2, 4}) {
		t.Errorf("cycles = %v", got)
	}
}
