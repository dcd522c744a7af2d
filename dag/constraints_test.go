package dag

import (
	"strings"
	"testing"
)

func TestConstraintsParseAndAllow(t *testing.T) {
	src := `name: c
tasks:
  - name: a
    op: noop
    constraints:
      node: gpu-1
      labels: {zone: a, ssd: true}
`
	p, err := Parse([]byte(src), nil)
	if err != nil {
		t.Fatal(err)
	}
	c := p.Tasks[0].Constraints
	if c.Node != "gpu-1" || c.Labels["zone"] != "a" || c.Labels["ssd"] != "true" {
		t.Fatalf("constraints = %+v", c)
	}
	cases := []struct {
		node   string
		labels map[string]string
		want   bool
	}{
		{"gpu-1", map[string]string{"zone": "a", "ssd": "true", "x": "y"}, true},
		{"gpu-2", map[string]string{"zone": "a", "ssd": "true"}, false},
		{"gpu-1", map[string]string{"zone": "b", "ssd": "true"}, false},
		{"gpu-1", map[string]string{"zone": "a"}, false},
	}
	for _, tc := range cases {
		if got := c.Allows(tc.node, tc.labels); got != tc.want {
			t.Errorf("Allows(%s, %v) = %v", tc.node, tc.labels, got)
		}
	}
	if !(Constraints{}).Allows("any", nil) || !(Constraints{}).IsZero() || c.IsZero() {
		t.Fatal("zero constraints must allow every node")
	}
	run := NewRun("r", p, 1, nil, t0)
	if run.Tasks[0].Constraints.Node != "gpu-1" {
		t.Fatal("NewRun did not copy the constraints")
	}
}

func TestConstraintsErrors(t *testing.T) {
	cases := []struct{ spec, path, want string }{
		{"constraints: [a]", "tasks[0].constraints", "mapping"},
		{"constraints: {host: a}", "tasks[0].constraints.host", "unknown key"},
		{"constraints: {node: 'a b'}", "tasks[0].constraints.node", "node name"},
		{"constraints: {labels: [a]}", "tasks[0].constraints.labels", "mapping"},
		{"constraints: {labels: {'bad key': a}}", `tasks[0].constraints.labels["bad key"]`, "bad label"},
		{"constraints: {labels: {k: [1]}}", "tasks[0].constraints.labels.k", "value"},
	}
	for _, tc := range cases {
		src := "name: c\ntasks:\n  - name: a\n    op: noop\n    " + tc.spec + "\n"
		_, err := Parse([]byte(src), nil)
		verr, ok := err.(*ValidationError)
		if !ok || len(verr.Errors) != 1 {
			t.Fatalf("%s: err = %v", tc.spec, err)
		}
		fe := verr.Errors[0]
		if fe.Path != tc.path || fe.Line != 5 || !strings.Contains(fe.Message, tc.want) {
			t.Errorf("%s: got %+v, want path %s line 5 mentioning %q", tc.spec, fe, tc.path, tc.want)
		}
	}
}
