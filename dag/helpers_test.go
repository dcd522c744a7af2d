package dag

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// fakeCatalog is a small op library for tests; it can list its ops.
type fakeCatalog map[string]OpSpec

func (c fakeCatalog) Op(name string) (OpSpec, bool) {
	s, ok := c[name]
	return s, ok
}

func (c fakeCatalog) Ops() []OpSpec {
	var out []OpSpec
	for _, s := range c {
		out = append(out, s)
	}
	return out
}

// specsCatalog lists its ops the way ops.Registry does.
type specsCatalog struct{ ops fakeCatalog }

func (c specsCatalog) Op(name string) (OpSpec, bool) { return c.ops.Op(name) }
func (c specsCatalog) Specs() []OpSpec               { return c.ops.Ops() }

// lookupOnly is a catalog that cannot list its ops.
type lookupOnly struct{ ops fakeCatalog }

func (c lookupOnly) Op(name string) (OpSpec, bool) { return c.ops.Op(name) }

var testCatalog = fakeCatalog{
	"read_csv": {Name: "read_csv", MinInputs: 0, MaxInputs: 0, Required: []string{"path"}, Optional: []string{"delimiter", "columns"}},
	"filter":   {Name: "filter", MinInputs: 1, MaxInputs: 1, Required: []string{"expr"}},
	"join":     {Name: "join", MinInputs: 2, MaxInputs: 2, Optional: []string{"on", "how"}},
	"split":    {Name: "split", MinInputs: 1, MaxInputs: 1, Optional: []string{"ratio", "seed"}, Outputs: []string{"train", "test"}},
	"union":    {Name: "union", MinInputs: 1, MaxInputs: -1},
	"describe": {Name: "describe", MinInputs: 0, MaxInputs: 3},
	"exec":     {Name: "exec", MinInputs: 0, MaxInputs: -1, Optional: execKeys},
}

func mustParse(t *testing.T, src string) *Pipeline {
	t.Helper()
	p, err := Parse([]byte(src), testCatalog)
	if err != nil {
		t.Fatalf("Parse: %v\nspec:\n%s", err, src)
	}
	return p
}

// parseErrors parses a spec that must be invalid and returns its problems.
func parseErrors(t *testing.T, src string) []FieldError {
	t.Helper()
	p, err := Parse([]byte(src), testCatalog)
	if err == nil {
		t.Fatalf("Parse succeeded, want errors; got %+v\nspec:\n%s", p, src)
	}
	if p != nil {
		t.Errorf("Parse returned a pipeline with an error")
	}
	var verr *ValidationError
	if !errors.As(err, &verr) {
		t.Fatalf("error is %T, want *ValidationError: %v", err, err)
	}
	if len(verr.Errors) == 0 {
		t.Fatalf("ValidationError with no errors")
	}
	return verr.Errors
}

// wantErr is an expected problem: its path and line exactly, and a part
// of its message.
type wantErr struct {
	path string
	line int
	msg  string
}

// checkErrors asserts that got holds exactly the wanted problems, in any
// order.
func checkErrors(t *testing.T, got []FieldError, want ...wantErr) {
	t.Helper()
	used := make([]bool, len(got))
	for _, w := range want {
		found := false
		for i, g := range got {
			if !used[i] && g.Path == w.path && g.Line == w.line && strings.Contains(g.Message, w.msg) {
				used[i], found = true, true
				break
			}
		}
		if !found {
			t.Errorf("missing error %s (line %d) containing %q", w.path, w.line, w.msg)
		}
	}
	for i, g := range got {
		if !used[i] {
			t.Errorf("unexpected error: %s", g)
		}
	}
}

func names(tasks []Task) []string {
	out := make([]string, len(tasks))
	for i := range tasks {
		out[i] = tasks[i].Name
	}
	return out
}

func equal[T comparable](a, b []T) bool { return slices.Equal(a, b) }

func itoa(i int) string { return strconv.Itoa(i) }
