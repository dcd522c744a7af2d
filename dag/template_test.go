package dag

import (
	"reflect"
	"strings"
	"testing"
)

func TestRender(t *testing.T) {
	params := map[string]any{"min": 0.5, "n": 3, "region": "eu", "on": true, "big": 1e21, "whole": 4.0}
	for _, tc := range []struct {
		name string
		with map[string]any
		want map[string]any
	}{
		{"typed when the whole string is one reference",
			map[string]any{"a": "${params.min}", "b": "${params.n}", "c": "${params.on}", "d": "${params.region}", "e": "${ params.n }"},
			map[string]any{"a": 0.5, "b": 3, "c": true, "d": "eu", "e": 3}},
		{"interpolated into text",
			map[string]any{"expr": "amount >= ${params.min} and n < ${params.n}", "p": "${params.region}/${params.on}.csv", "f": "x${params.whole}", "g": "${params.big}!"},
			map[string]any{"expr": "amount >= 0.5 and n < 3", "p": "eu/true.csv", "f": "x4", "g": "1e+21!"}},
		{"escapes",
			map[string]any{"a": "$${params.min}", "b": "cost: $${HOME} ${params.n}$", "c": "$$ and $ alone", "d": "$$${params.n}"},
			map[string]any{"a": "${params.min}", "b": "cost: ${HOME} 3$", "c": "$$ and $ alone", "d": "$${params.n}"}},
		{"nested lists and maps",
			map[string]any{"cols": []any{"id", "${params.region}", []any{"${params.n}"}}, "opts": map[string]any{"k": "${params.min}", "x": 1, "y": nil}},
			map[string]any{"cols": []any{"id", "eu", []any{3}}, "opts": map[string]any{"k": 0.5, "x": 1, "y": nil}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			task := &Task{Name: "t", Op: "x", With: tc.with, Needs: []Need{{"a", "out"}}, Outputs: []string{"out"}}
			got, err := task.Render(params)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got.With, tc.want) {
				t.Errorf("got %#v\nwant %#v", got.With, tc.want)
			}
			if got.Name != "t" || !reflect.DeepEqual(got.Needs, task.Needs) {
				t.Errorf("task fields not copied: %+v", got)
			}
		})
	}
}

func TestRenderCopies(t *testing.T) {
	inner := []any{"${params.n}"}
	task := &Task{Name: "t", With: map[string]any{"l": inner}, Needs: []Need{{"a", "out"}}, Outputs: []string{"out"}}
	got, err := task.Render(map[string]any{"n": 1})
	if err != nil {
		t.Fatal(err)
	}
	got.With["l"].([]any)[0] = "changed"
	got.Needs[0].Task = "changed"
	got.Outputs[0] = "changed"
	if inner[0] != "${params.n}" || task.Needs[0].Task != "a" || task.Outputs[0] != "out" {
		t.Errorf("Render shares memory with its task: %+v", task)
	}
	none, err := (&Task{Name: "n"}).Render(nil)
	if err != nil || none.With != nil {
		t.Errorf("got %+v, %v", none, err)
	}
}

func TestRenderErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		with map[string]any
		msg  string
	}{
		{"missing value", map[string]any{"a": "${params.x}"}, `with.a: no value for parameter "x"`},
		{"missing inside text", map[string]any{"a": []any{"x ${params.x}"}}, `with.a[0]: no value for parameter "x"`},
		{"unterminated", map[string]any{"a": "${params.n"}, "with.a: unterminated"},
		{"not a param", map[string]any{"a": "${env.X}"}, "unknown reference ${env.X}"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := (&Task{Name: "t", With: tc.with}).Render(map[string]any{"n": 1})
			if err == nil || !strings.Contains(err.Error(), tc.msg) || !strings.HasPrefix(err.Error(), "render task t: ") {
				t.Errorf("err = %v, want it to contain %q", err, tc.msg)
			}
		})
	}
}

// TestRenderParsed renders a parsed task with resolved params end to end.
func TestRenderParsed(t *testing.T) {
	p := mustParse(t, etlYAML)
	params, err := p.ResolveParams(map[string]any{"min_amount": "10"})
	if err != nil {
		t.Fatal(err)
	}
	big, err := p.Task("big").Render(params)
	if err != nil {
		t.Fatal(err)
	}
	if big.With["expr"] != "amount >= 10" {
		t.Errorf("expr = %q", big.With["expr"])
	}
	both, err := p.Task("both").Render(params)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(both.With["on"], []any{"id", "eu"}) {
		t.Errorf("on = %v", both.With["on"])
	}
}
