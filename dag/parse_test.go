package dag

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

const etlYAML = `name: etl
description: Clean the orders and summarise them
params:
  min_amount: {type: float, default: 0, description: Drop orders below this}
  region: eu
tasks:
  - name: load
    description: Read the orders
    op: read_csv
    with: {path: orders.csv}
  - name: big
    op: filter
    needs: [load]
    with: {expr: "amount >= ${params.min_amount}"}
    outputs: [kept]
    retries: 2
    retry_backoff: 5s
    timeout: 1m
  - name: parts
    op: split
    needs: big.kept
    with:
      ratio: 0.8
      seed: 7
  - name: both
    op: join
    needs: [parts.train, parts.test]
    with:
      on: [id, "${params.region}"]
      how: inner
`

const etlJSON = `{
  "name": "etl",
  "description": "Clean the orders and summarise them",
  "params": {
    "min_amount": {"type": "float", "default": 0, "description": "Drop orders below this"},
    "region": "eu"
  },
  "tasks": [
    {"name": "load", "description": "Read the orders", "op": "read_csv", "with": {"path": "orders.csv"}},
    {"name": "big", "op": "filter", "needs": ["load"], "with": {"expr": "amount >= ${params.min_amount}"},
     "outputs": ["kept"], "retries": 2, "retry_backoff": "5s", "timeout": "1m"},
    {"name": "parts", "op": "split", "needs": "big.kept", "with": {"ratio": 0.8, "seed": 7}},
    {"name": "both", "op": "join", "needs": ["parts.train", "parts.test"],
     "with": {"on": ["id", "${params.region}"], "how": "inner"}}
  ]
}`

func TestParseValid(t *testing.T) {
	wantParams := []Param{
		{Name: "min_amount", Type: ParamFloat, Default: 0.0, HasDefault: true, Description: "Drop orders below this"},
		{Name: "region", Type: ParamString, Default: "eu", HasDefault: true},
	}
	wantTasks := []Task{
		{Name: "load", Description: "Read the orders", Op: "read_csv", With: map[string]any{"path": "orders.csv"}, Outputs: []string{"out"}},
		{Name: "big", Op: "filter", Needs: []Need{{"load", "out"}}, With: map[string]any{"expr": "amount >= ${params.min_amount}"},
			Outputs: []string{"kept"}, Retries: 2, RetryBackoff: Duration(5 * time.Second), Timeout: Duration(time.Minute)},
		{Name: "parts", Op: "split", Needs: []Need{{"big", "kept"}}, With: map[string]any{"ratio": 0.8, "seed": 7}, Outputs: []string{"train", "test"}},
		{Name: "both", Op: "join", Needs: []Need{{"parts", "train"}, {"parts", "test"}},
			With: map[string]any{"on": []any{"id", "${params.region}"}, "how": "inner"}, Outputs: []string{"out"}},
	}
	for _, tc := range []struct {
		name  string
		src   string
		lines []int
	}{
		{"yaml", etlYAML, []int{7, 11, 19, 25}},
		{"json", etlJSON, []int{9, 10, 12, 13}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := mustParse(t, tc.src)
			if p.Name != "etl" || p.Description != "Clean the orders and summarise them" {
				t.Errorf("name, description = %q, %q", p.Name, p.Description)
			}
			if !reflect.DeepEqual(p.Params, wantParams) {
				t.Errorf("params:\n got %#v\nwant %#v", p.Params, wantParams)
			}
			if len(p.Tasks) != len(wantTasks) {
				t.Fatalf("got %d tasks, want %d", len(p.Tasks), len(wantTasks))
			}
			for i := range wantTasks {
				got, want := p.Tasks[i], wantTasks[i]
				if got.Line != tc.lines[i] {
					t.Errorf("task %s: line %d, want %d", got.Name, got.Line, tc.lines[i])
				}
				got.Line = 0
				if !reflect.DeepEqual(got, want) {
					t.Errorf("task %d:\n got %#v\nwant %#v", i, got, want)
				}
			}
		})
	}
}

func TestParseForms(t *testing.T) {
	for _, tc := range []struct {
		name  string
		src   string
		check func(t *testing.T, p *Pipeline)
	}{
		{"minimal, no params, no with", "name: m\ntasks:\n  - {name: d, op: describe}\n", func(t *testing.T, p *Pipeline) {
			if p.Params != nil || p.Tasks[0].With != nil || !equal(p.Tasks[0].Outputs, []string{"out"}) {
				t.Errorf("got %+v", p)
			}
		}},
		{"null sections", "name: m\ndescription:\nparams:\ntasks:\n  - name: d\n    op: describe\n    with:\n    needs:\n    outputs:\n", func(t *testing.T, p *Pipeline) {
			if len(p.Tasks) != 1 || p.Tasks[0].Needs != nil {
				t.Errorf("got %+v", p)
			}
		}},
		{"op outputs and declared outputs", `
name: m
tasks:
  - {name: a, op: read_csv, with: {path: x}}
  - {name: s, op: split, needs: a}
  - {name: r, op: split, needs: a, outputs: [left, right, rest]}
  - {name: u, op: union, needs: [s.test, r.rest, a, a.out]}
`, func(t *testing.T, p *Pipeline) {
			if !equal(p.Tasks[1].Outputs, []string{"train", "test"}) || !equal(p.Tasks[2].Outputs, []string{"left", "right", "rest"}) {
				t.Errorf("outputs: %v %v", p.Tasks[1].Outputs, p.Tasks[2].Outputs)
			}
			want := []Need{{"s", "test"}, {"r", "rest"}, {"a", "out"}, {"a", "out"}}
			if !reflect.DeepEqual(p.Tasks[3].Needs, want) {
				t.Errorf("needs %v, want %v", p.Tasks[3].Needs, want)
			}
		}},
		{"with keeps nested values typed", `
name: m
tasks:
  - name: a
    op: read_csv
    with:
      path: "x.csv"
      delimiter: ";"
      columns: {id: int, price: [1.5, 2, true, null, "s", 0x10, 2001-01-01, 1_000, -7, 0o17, 1e3]}
`, func(t *testing.T, p *Pipeline) {
			want := map[string]any{"path": "x.csv", "delimiter": ";", "columns": map[string]any{
				"id": "int", "price": []any{1.5, 2, true, nil, "s", 16, "2001-01-01", 1000, -7, 15, 1000.0}}}
			if !reflect.DeepEqual(p.Tasks[0].With, want) {
				t.Errorf("with %#v", p.Tasks[0].With)
			}
		}},
		{"anchors, aliases and merge keys", `
name: m
tasks:
  - name: a
    op: read_csv
    <<: &retry {retries: 3, retry_backoff: 10s}
    with: &w {path: x.csv, columns: &cols [a, b]}
  - name: b
    op: read_csv
    <<: *retry
    retries: 1
    with: {<<: *w, columns: *cols}
`, func(t *testing.T, p *Pipeline) {
			a, b := p.Tasks[0], p.Tasks[1]
			if a.Retries != 3 || b.Retries != 1 || b.RetryBackoff.D() != 10*time.Second {
				t.Errorf("merge: a.retries %d b.retries %d b.backoff %v", a.Retries, b.Retries, b.RetryBackoff)
			}
			if !reflect.DeepEqual(a.With, b.With) {
				t.Errorf("with: %v vs %v", a.With, b.With)
			}
		}},
		{"name rules", "name: _A-b_9\ntasks:\n  - {name: A_-, op: describe}\n", nil},
		{"json with tabs and trailing newline", "{\n\t\"name\": \"j\",\n\t\"tasks\": [{\"name\": \"a\", \"op\": \"describe\"}]\n}\n", func(t *testing.T, p *Pipeline) {
			if p.Tasks[0].Line != 3 {
				t.Errorf("line %d", p.Tasks[0].Line)
			}
		}},
		{"durations", "name: m\ntasks:\n  - {name: a, op: describe, timeout: 1h30m, retry_backoff: 250ms, retries: 0}\n", func(t *testing.T, p *Pipeline) {
			if p.Tasks[0].Timeout.D() != 90*time.Minute || p.Tasks[0].RetryBackoff.D() != 250*time.Millisecond {
				t.Errorf("got %v %v", p.Tasks[0].Timeout, p.Tasks[0].RetryBackoff)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := mustParse(t, tc.src)
			if tc.check != nil {
				tc.check(t, p)
			}
		})
	}
}

func TestParseNilCatalog(t *testing.T) {
	p, err := Parse([]byte("name: m\ntasks:\n  - {name: a, op: anything, with: {x: 1}}\n  - {name: b, op: other, needs: a}\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if p.Tasks[1].Needs[0] != (Need{"a", "out"}) {
		t.Errorf("needs %v", p.Tasks[1].Needs)
	}
}

func TestParseCatalogListing(t *testing.T) {
	_, err := Parse([]byte("name: m\ntasks:\n  - {name: a, op: fliter}\n"), specsCatalog{testCatalog})
	if err == nil || !strings.Contains(err.Error(), `unknown op "fliter"; did you mean "filter"? (known ops: describe, exec, filter,`) {
		t.Errorf("err = %v", err)
	}
}

func TestParseUnlistableCatalog(t *testing.T) {
	_, err := Parse([]byte("name: m\ntasks:\n  - {name: a, op: fliter}\n"), lookupOnly{testCatalog})
	if err == nil || !strings.Contains(err.Error(), `unknown op "fliter"`) || strings.Contains(err.Error(), "known ops") {
		t.Errorf("err = %v", err)
	}
}

func TestParseLimits(t *testing.T) {
	big := make([]byte, MaxSpecSize+1)
	checkErrors(t, errorsOf(t, big), wantErr{"", 0, "the limit is 1048576 bytes"})

	var b strings.Builder
	b.WriteString("name: many\ntasks:\n")
	for range MaxTasks + 1 {
		b.WriteString("- {name: t, op: describe}\n")
	}
	checkErrors(t, errorsOf(t, []byte(b.String())), wantErr{"tasks", 3, "has 10001 tasks; the limit is 10000"})

	checkErrors(t, errorsOf(t, []byte("name: "+strings.Repeat("x", 129)+"\ntasks: [{name: a, op: describe}]")),
		wantErr{"name", 1, "129 characters long; the limit is 128"})
}

func TestParseBigValid(t *testing.T) {
	// A chain of MaxTasks tasks written last-first parses, and quickly.
	var b strings.Builder
	b.WriteString("name: chain\ntasks:\n")
	for i := MaxTasks - 1; i >= 0; i-- {
		if i == 0 {
			b.WriteString("- {name: t0, op: describe}\n")
			continue
		}
		b.WriteString("- {name: t" + itoa(i) + ", op: describe, needs: t" + itoa(i-1) + "}\n")
	}
	p := mustParse(t, b.String())
	order := p.TopoOrder()
	if len(order) != MaxTasks || order[0] != "t0" || order[MaxTasks-1] != "t"+itoa(MaxTasks-1) {
		t.Errorf("order starts %v", order[:3])
	}
	if d := p.Downstream("t0"); len(d) != MaxTasks-1 {
		t.Errorf("downstream of t0: %d tasks", len(d))
	}
}

func errorsOf(t *testing.T, src []byte) []FieldError {
	t.Helper()
	return parseErrors(t, string(src))
}

func TestParseDocumentErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		src  string
		want wantErr
	}{
		{"empty", "", wantErr{"", 0, "the spec is empty"}},
		{"blank", " \n\t\n", wantErr{"", 0, "the spec is empty"}},
		{"comment only", "# nothing\n", wantErr{"", 0, "the spec is empty"}},
		{"null document", "---\n...\n", wantErr{"", 0, "the spec is empty"}},
		{"scalar", "hello", wantErr{"", 1, "must be a mapping with a name and tasks, not a string"}},
		{"list", "\n- a\n- b\n", wantErr{"", 2, "not a list"}},
		{"json array", "[1, 2]", wantErr{"", 1, "not a list"}},
		{"two documents", "name: a\n---\nname: b\n", wantErr{"", 2, "more than one YAML document"}},
		{"yaml syntax", "name: a\ntasks:\n  - name: x\n   op: y\n", wantErr{"", 2, "not valid YAML or JSON: did not find expected '-' indicator"}},
		{"json syntax", "{\"name\": \"a\",\n \"tasks\": [\n}\n", wantErr{"", 2, "not valid YAML or JSON"}},
		{"unknown anchor", "name: *nope\n", wantErr{"", 0, "unknown anchor"}},
		{"bad utf-8", "name: \xff\xfe\xfd\n", wantErr{"", 0, "not valid YAML or JSON"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkErrors(t, parseErrors(t, tc.src), tc.want)
		})
	}
}

func TestValidationErrorString(t *testing.T) {
	e := &ValidationError{Errors: []FieldError{
		{Path: "name", Line: 1, Column: 7, Message: "is required"},
		{Path: "params.x", Message: "bad"},
		{Line: 3, Message: "not valid YAML"},
	}}
	want := "line 1: name: is required\nparams.x: bad\nline 3: not valid YAML"
	if e.Error() != want {
		t.Errorf("got %q, want %q", e.Error(), want)
	}
}

func TestFieldPaths(t *testing.T) {
	for _, tc := range []struct{ path, key, want string }{
		{"", "name", "name"},
		{"tasks[0].with", "path", "tasks[0].with.path"},
		{"tasks[0].with", "a.b", `tasks[0].with["a.b"]`},
		{"tasks[0].with", "", `tasks[0].with[""]`},
	} {
		if got := field(tc.path, tc.key); got != tc.want {
			t.Errorf("field(%q, %q) = %q, want %q", tc.path, tc.key, got, tc.want)
		}
	}
}

func TestParseJSONEscapes(t *testing.T) {
	src := `{"name": "j", "description": "a\/b \ud83d\ude00 \u00e9 \\ud83d \"\/\" lone \ud83d!",
"tasks": [{"name": "a", "op": "describe"}]}`
	p := mustParse(t, src)
	if want := `a/b 😀 é \ud83d "/" lone ` + "\uFFFD!"; p.Description != want {
		t.Errorf("description %q, want %q", p.Description, want)
	}
	if p.Tasks[0].Line != 2 {
		t.Errorf("line %d", p.Tasks[0].Line)
	}
	// YAML single-quoted text keeps its backslashes.
	p = mustParse(t, "name: j\ndescription: 'a\\/b'\ntasks: [{name: a, op: describe}]\n")
	if p.Description != `a\/b` {
		t.Errorf("description %q", p.Description)
	}
}
