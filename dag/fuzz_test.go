package dag

import (
	"errors"
	"testing"
)

// FuzzParse checks that no input makes Parse panic, that every rejection
// is a *ValidationError with at least one problem, and that what Parse
// accepts is a real DAG: unique task names, needs that name existing
// outputs, and no cycles.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		etlYAML,
		etlJSON,
		"name: m\ntasks:\n  - {name: d, op: describe}\n",
		"name: m\nparams: {n: 1, s: {type: string}}\ntasks:\n  - {name: a, op: read_csv, with: {path: \"${params.s}-${params.n}.csv\"}}\n  - {name: s, op: split, needs: a}\n  - {name: u, op: union, needs: [s.train, s.test, a]}\n",
		"name: m\ntasks:\n  - {name: a, op: union, needs: [c]}\n  - {name: b, op: union, needs: [a]}\n  - {name: c, op: union, needs: [b]}\n",
		"name: m\ntasks:\n  - {name: a, op: describe}\n  - {name: a, op: describe, needs: [a]}\n",
		"name: m\ntasks:\n  - name: a\n    op: read_csv\n    <<: &r {retries: 3}\n    with: &w {path: x, columns: [*w]}\n  - {name: b, op: describe, <<: *r}\n",
		"name: m\ntasks: [{name: a, op: describe, retries: -1, timeout: x, outputs: [o, o]}]\n",
		"{\"name\": \"j\", \"tasks\": [{\"name\": \"a\", \"op\": \"nope\", \"needs\": \"b.c.d\"}]}",
		`{"name": "j", "description": "\/ \ud83d\ude00 \ud83d", "tasks": [{"name": "a", "op": "describe"}]}`,
		"",
		"[]",
		"a: [",
		"name: x\n---\nname: y\n",
		"name: &a x\ntasks: *a\n",
		"name: m\ntasks:\n  - {name: a, op: read_csv, with: {path: \"$${params.x} ${params.\"}}\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		p, err := Parse(src, testCatalog)
		if err != nil {
			var verr *ValidationError
			if !errors.As(err, &verr) || len(verr.Errors) == 0 {
				t.Fatalf("error %T without problems: %v", err, err)
			}
			if p != nil {
				t.Fatal("a pipeline returned with an error")
			}
			_ = err.Error()
			return
		}
		if p == nil || len(p.Tasks) == 0 || !validName(p.Name) {
			t.Fatalf("accepted pipeline %+v", p)
		}
		pos := map[string]int{}
		for i, task := range p.Tasks {
			if _, dup := pos[task.Name]; dup {
				t.Fatalf("duplicate task name %q accepted", task.Name)
			}
			pos[task.Name] = i
			if len(task.Outputs) == 0 {
				t.Fatalf("task %q has no outputs", task.Name)
			}
		}
		for _, task := range p.Tasks {
			for _, n := range task.Needs {
				up := p.Task(n.Task)
				if up == nil || !contains(up.Outputs, n.Output) || n.Task == task.Name {
					t.Fatalf("task %q has a bad need %v", task.Name, n)
				}
			}
		}
		order := p.TopoOrder()
		if len(order) != len(p.Tasks) {
			t.Fatalf("topo order has %d tasks, want %d", len(order), len(p.Tasks))
		}
		done := map[string]bool{}
		for _, name := range order {
			for _, n := range p.Task(name).Needs {
				if !done[n.Task] {
					t.Fatalf("cycle or bad order: %s comes before %s, which it needs", name, n.Task)
				}
			}
			done[name] = true
		}
		params, err := p.ResolveParams(nil)
		if err != nil {
			return // required params without values
		}
		for i := range p.Tasks {
			if _, err := p.Tasks[i].Render(params); err != nil {
				t.Fatalf("render %s: %v", p.Tasks[i].Name, err)
			}
		}
	})
}
