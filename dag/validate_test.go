package dag

import (
	"strings"
	"testing"
)

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		src  string
		want []wantErr
	}{
		{"missing name and tasks", "description: x\n", []wantErr{
			{"name", 1, "is required"},
			{"tasks", 1, "is required"},
		}},
		{"bad pipeline name", "name: 9lives\ntasks: [{name: a, op: describe}]\n", []wantErr{
			{"name", 1, `"9lives" must start with a letter or _`},
		}},
		{"name not text", "name: 12\ntasks: [{name: a, op: describe}]\n", []wantErr{
			{"name", 1, "must be text, not an integer; quote it"},
		}},
		{"unknown top-level key", "name: a\ntask: []\ntasks: [{name: a, op: describe}]\n", []wantErr{
			{"task", 2, `unknown key "task"; did you mean "tasks"?`},
		}},
		{"duplicate key", "name: a\nname: b\ntasks: [{name: a, op: describe}]\n", []wantErr{
			{"name", 2, "duplicate key \"name\"; it is already set on line 1"},
		}},
		{"tasks not a list", "name: a\ntasks:\n  a: {op: describe}\n", []wantErr{
			{"tasks", 3, "must be a list of tasks, not a mapping"},
		}},
		{"tasks empty", "name: a\ntasks: []\n", []wantErr{
			{"tasks", 2, "must list at least one task"},
		}},
		{"task not a mapping", "name: a\ntasks:\n  - describe\n", []wantErr{
			{"tasks[0]", 3, "must be a mapping with at least a name and an op, not a string"},
		}},
		{"task missing name and op", "name: a\ntasks:\n  - description: x\n", []wantErr{
			{"tasks[0].name", 3, "is required"},
			{"tasks[0].op", 3, "is required"},
		}},
		{"unknown task key", "name: a\ntasks:\n  - name: a\n    op: describe\n    retry: 2\n", []wantErr{
			{"tasks[0].retry", 5, `unknown key "retry"; did you mean "retries"? (a task may have: name, description, op, with, needs, outputs, retries, retry_backoff, timeout, constraints, replicas, register, exec, script, interpreter, format, env, workdir, memory)`},
		}},
		{"duplicate task names", "name: a\ntasks:\n  - {name: x, op: describe}\n  - {name: y, op: describe}\n  - {name: x, op: describe}\n", []wantErr{
			{"tasks[2].name", 5, `duplicate task name "x"; tasks[0] on line 3 already has it`},
		}},
		{"unknown op", "name: a\ntasks:\n  - {name: x, op: fliter}\n  - {name: y, op: zzzzzz}\n", []wantErr{
			{"tasks[0].op", 3, `unknown op "fliter"; did you mean "filter"?`},
			{"tasks[1].op", 4, "unknown op \"zzzzzz\"; known ops: describe, exec, filter, join, read_csv, split, union"},
		}},
		{"with not a mapping", "name: a\ntasks:\n  - name: x\n    op: read_csv\n    with: [path]\n", []wantErr{
			{"tasks[0].with", 5, "must be a mapping of the op's arguments, not a list"},
		}},
		{"with keys against the op", "name: a\ntasks:\n  - name: x\n    op: read_csv\n    with:\n      paht: a.csv\n", []wantErr{
			{"tasks[0].with", 6, `missing required key "path" for op read_csv`},
			{"tasks[0].with.paht", 6, `unknown key "paht" for op read_csv; did you mean "path"?`},
		}},
		{"with missing entirely", "name: a\ntasks:\n  - name: x\n    op: read_csv\n", []wantErr{
			{"tasks[0].with", 3, `missing required key "path"`},
		}},
		{"unknown need", "name: a\ntasks:\n  - {name: load, op: read_csv, with: {path: x}}\n  - name: f\n    op: filter\n    with: {expr: x}\n    needs:\n      - lod\n", []wantErr{
			{"tasks[1].needs[0]", 8, `unknown task "lod"; did you mean "load"? (tasks: load, f)`},
		}},
		{"unknown output", "name: a\ntasks:\n  - {name: s, op: split, needs: l}\n  - {name: l, op: describe}\n  - {name: f, op: filter, needs: s.trian, with: {expr: x}}\n", []wantErr{
			{"tasks[2].needs", 5, `task "s" has no output "trian"; did you mean "train"? (its outputs: train, test)`},
		}},
		{"bare need of a task with two outputs", "name: a\ntasks:\n  - {name: l, op: describe}\n  - {name: s, op: split, needs: [l]}\n  - {name: f, op: filter, needs: [s], with: {expr: x}}\n", []wantErr{
			{"tasks[2].needs[0]", 5, `task "s" has 2 outputs (train, test); name one, as in "s.train"`},
		}},
		{"self need", "name: a\ntasks:\n  - {name: f, op: filter, needs: [f], with: {expr: x}}\n", []wantErr{
			{"tasks[0].needs[0]", 3, `task "f" cannot need itself`},
		}},
		{"malformed needs", "name: a\ntasks:\n  - {name: l, op: describe}\n  - {name: u, op: union, needs: [l.out.x, 3, \"\", l.]}\n  - {name: v, op: union, needs: {l: out}}\n", []wantErr{
			{"tasks[1].needs[0]", 4, `"l.out.x" is not a task name or task.output: the output name "out.x" must start`},
			{"tasks[1].needs[1]", 4, "must be a task name or task.output, not an integer"},
			{"tasks[1].needs[2]", 4, "the task name must not be empty"},
			{"tasks[1].needs[3]", 4, "the output name must not be empty"},
			{"tasks[2].needs", 5, "must be a list of task names or task.output, not a mapping"},
			{"tasks[2].needs", 5, "op union takes at least 1 input; got 0"},
		}},
		{"cycle", "name: a\ntasks:\n  - {name: a, op: union, needs: [c]}\n  - {name: b, op: union, needs: [a]}\n  - name: c\n    op: union\n    needs:\n      - b\n  - {name: d, op: union, needs: [c]}\n", []wantErr{
			{"tasks[0].needs[0]", 3, "needs form a cycle: a -> c -> b -> a (each task needs the next)"},
		}},
		{"two cycles reported once each", `name: a
tasks:
  - {name: a, op: union, needs: [b]}
  - {name: b, op: union, needs: [a, c]}
  - {name: c, op: union, needs: [b]}
  - {name: x, op: union, needs: [y]}
  - {name: y, op: union, needs: [x]}
`, []wantErr{
			{"tasks[0].needs[0]", 3, "needs form a cycle: a -> b -> a"},
			{"tasks[3].needs[0]", 6, "needs form a cycle: x -> y -> x"},
		}},
		{"input counts", `name: a
tasks:
  - {name: l, op: read_csv, with: {path: x}, needs: [m]}
  - {name: m, op: describe}
  - name: j
    op: join
    needs: [l]
  - {name: f, op: filter, with: {expr: x}}
  - {name: d, op: describe, needs: [l, l, l, l]}
`, []wantErr{
			{"tasks[0].needs", 3, "op read_csv takes no inputs; got 1 in needs"},
			{"tasks[2].needs", 7, "op join takes exactly 2 inputs; got 1"},
			{"tasks[3].needs", 8, "op filter takes exactly 1 input; got 0"},
			{"tasks[4].needs", 9, "op describe takes at most 3 inputs; got 4"},
		}},
		{"bad param references", `name: a
params: {n: 1}
tasks:
  - name: l
    op: read_csv
    with:
      path: "${params.m}.csv"
      columns:
        - "${params.n}"
        - {x: "${env.HOME}"}
        - "${params.n"
        - "${params.}"
      delimiter: "$${params.m} is fine"
`, []wantErr{
			{"tasks[0].with.path", 7, `unknown parameter "m" in ${params.m}; did you mean "n"?`},
			{"tasks[0].with.columns[1].x", 10, "unknown reference ${env.HOME}: only ${params.NAME} is supported"},
			{"tasks[0].with.columns[2]", 11, "unterminated"},
			{"tasks[0].with.columns[3]", 12, "malformed reference ${params.}"},
		}},
		{"reference with no params declared", "name: a\ntasks:\n  - {name: l, op: read_csv, with: {path: \"${params.p}\"}}\n", []wantErr{
			{"tasks[0].with.path", 3, "there are no declared parameters"},
		}},
		{"retries and durations", `name: a
tasks:
  - name: l
    op: describe
    retries: -1
    retry_backoff: soon
    timeout: 30
  - {name: m, op: describe, retries: 1.5, timeout: -5s, retry_backoff: [1s]}
  - {name: n, op: describe, retries: 5000}
`, []wantErr{
			{"tasks[0].retries", 5, "must not be negative"},
			{"tasks[0].retry_backoff", 6, `bad duration "soon"`},
			{"tasks[0].timeout", 7, `bad duration "30": want a number with a unit`},
			{"tasks[1].retries", 8, "must be a whole number, not a number"},
			{"tasks[1].timeout", 8, "must not be negative"},
			{"tasks[1].retry_backoff", 8, "must be a duration such as 30s or 5m, not a list"},
			{"tasks[2].retries", 9, "is 5000; the limit is 1000"},
		}},
		{"outputs", "name: a\ntasks:\n  - {name: l, op: describe, outputs: [a, a, 1b, {x: 1}]}\n", []wantErr{
			{"tasks[0].outputs[1]", 3, `duplicate output name "a"`},
			{"tasks[0].outputs[2]", 3, `the output name "1b" must start`},
			{"tasks[0].outputs[3]", 3, "the output name must be text, not a mapping"},
		}},
		{"params", `name: a
params:
  a: {type: integer, default: 1.5}
  b: {type: text}
  c: {type: string, default: 1.0}
  d: {default: [1]}
  e: {type: bool, default: ~}
  f: {typ: int}
  9g: 1
  h: .inf
tasks: [{name: l, op: describe}]
`, []wantErr{
			{"params.a.default", 3, "default 1.5 is a number, not an integer"},
			{"params.b.type", 4, `unknown type "text"; use string, int, float or bool`},
			{"params.c.default", 5, "default 1 is a number, not text; quote it to make it text"},
			{"params.d.default", 6, "must be a single value, not a list"},
			{"params.e.default", 7, "must not be null"},
			{"params.f.typ", 8, `unknown key "typ"; a parameter may have type, default, description`},
			{"params.9g", 9, `parameter name "9g" must start`},
			{"params.h", 10, ".inf is not a finite number"},
		}},
		{"params not a mapping", "name: a\nparams: [a]\ntasks: [{name: l, op: describe}]\n", []wantErr{
			{"params", 2, "must be a mapping of parameter names"},
		}},
		{"json errors have lines", `{
  "name": "a",
  "tasks": [
    {"name": "l", "op": "read_csv", "with": {"path": 1, "x": 2}},
    {"name": "l", "op": "filter", "needs": ["nope"], "with": {"expr": "${params.q}"}}
  ]
}`, []wantErr{
			{"tasks[0].with.x", 4, `unknown key "x" for op read_csv`},
			{"tasks[1].name", 5, `duplicate task name "l"`},
			{"tasks[1].needs[0]", 5, `unknown task "nope"; tasks: l`},
			{"tasks[1].with.expr", 5, `unknown parameter "q"`},
		}},
		{"recursive alias", "name: a\ntasks:\n  - name: l\n    op: read_csv\n    with: &w {path: x, columns: [*w]}\n", []wantErr{
			{"tasks[0].with.columns[0]", 5, "alias *w refers to a value that contains it"},
		}},
		{"bad merge", "name: a\ntasks:\n  - {name: l, op: describe, <<: [1]}\n", []wantErr{
			{"tasks[0]", 3, "a << merge takes a mapping or a list of mappings, not an integer"},
		}},
		{"non-scalar key", "name: a\n? [x]\n: 1\ntasks: [{name: l, op: describe}]\n", []wantErr{
			{"", 2, "a key must be a plain value, not a list"},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkErrors(t, parseErrors(t, tc.src), tc.want...)
		})
	}
}

// TestParseReportsEverything checks that one bad spec reports all its
// problems at once, sorted by line.
func TestParseReportsEverything(t *testing.T) {
	src := `name: bad name
colour: blue
params:
  n: {type: int, default: x}
tasks:
  - name: load
    op: read_csv
    with: {path: "${params.m}"}
  - name: load
    op: filter
    needs: [lost]
    with: {expr: x}
    timeout: soon
  - {name: s, op: split, needs: load}
  - {name: j, op: join, needs: [s]}
`
	errs := parseErrors(t, src)
	checkErrors(t, errs,
		wantErr{"name", 1, "must start with a letter"},
		wantErr{"colour", 2, "unknown key"},
		wantErr{"params.n.default", 4, "default x is text, not an integer"},
		wantErr{"tasks[0].with.path", 8, `unknown parameter "m"`},
		wantErr{"tasks[1].name", 9, "duplicate task name"},
		wantErr{"tasks[1].needs[0]", 11, `unknown task "lost"`},
		wantErr{"tasks[1].timeout", 13, "bad duration"},
		wantErr{"tasks[3].needs", 15, "op join takes exactly 2 inputs; got 1"},
		wantErr{"tasks[3].needs[0]", 15, `task "s" has 2 outputs`},
	)
	for i := 1; i < len(errs); i++ {
		if errs[i].Line < errs[i-1].Line {
			t.Errorf("errors not sorted by line: %v before %v", errs[i-1], errs[i])
		}
	}
	err := (&ValidationError{Errors: errs}).Error()
	if got := strings.Count(err, "\n") + 1; got != len(errs) {
		t.Errorf("Error() has %d lines for %d errors", got, len(errs))
	}
	if !strings.HasPrefix(err, "line 1: name: ") {
		t.Errorf("Error() starts %q", err[:20])
	}
}

func TestParseErrorCap(t *testing.T) {
	var b strings.Builder
	b.WriteString("name: a\ntasks:\n")
	for range 3000 {
		b.WriteString("- {name: x, op: nope}\n")
	}
	errs := parseErrors(t, b.String())
	if len(errs) != maxErrors+1 || !strings.Contains(errs[maxErrors].Message, "more problems not shown") {
		t.Errorf("got %d errors, last %v", len(errs), errs[len(errs)-1])
	}
}

func TestAliasBomb(t *testing.T) {
	src := `name: a
tasks:
  - name: l
    op: read_csv
    with:
      path: x
      columns: &a9 [&a8 [&a7 [&a6 [&a5 [&a4 [&a3 [&a2 [&a1 [x, x, x, x, x, x, x, x, x, x], *a1, *a1, *a1, *a1, *a1, *a1, *a1, *a1, *a1], *a2, *a2, *a2, *a2, *a2, *a2, *a2, *a2, *a2], *a3, *a3, *a3, *a3, *a3, *a3, *a3, *a3, *a3], *a4, *a4, *a4, *a4, *a4, *a4, *a4, *a4, *a4], *a5, *a5, *a5, *a5, *a5, *a5, *a5, *a5, *a5], *a6, *a6, *a6, *a6, *a6, *a6, *a6, *a6, *a6], *a7, *a7, *a7, *a7, *a7, *a7, *a7, *a7, *a7], *a8, *a8, *a8, *a8, *a8, *a8, *a8, *a8, *a8]
`
	errs := parseErrors(t, src)
	if len(errs) != 1 || !strings.Contains(errs[0].Message, "expands to more than") {
		t.Errorf("got %v", errs)
	}
}
