package dag

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
)

func TestParamDeclarations(t *testing.T) {
	p := mustParse(t, `name: a
params:
  s: eu
  i: 3
  f: 0.5
  b: true
  quoted: "3"
  req:
  typed_req: {type: int, description: How many}
  n: {type: number, default: 2}
  flag: {type: boolean, default: false}
  count: {type: integer, default: -4}
  inferred: {default: 1.5}
  when: 2024-01-02
tasks: [{name: l, op: describe}]
`)
	want := []Param{
		{Name: "s", Type: ParamString, Default: "eu", HasDefault: true},
		{Name: "i", Type: ParamInt, Default: 3, HasDefault: true},
		{Name: "f", Type: ParamFloat, Default: 0.5, HasDefault: true},
		{Name: "b", Type: ParamBool, Default: true, HasDefault: true},
		{Name: "quoted", Type: ParamString, Default: "3", HasDefault: true},
		{Name: "req", Type: ParamString},
		{Name: "typed_req", Type: ParamInt, Description: "How many"},
		{Name: "n", Type: ParamFloat, Default: 2.0, HasDefault: true},
		{Name: "flag", Type: ParamBool, Default: false, HasDefault: true},
		{Name: "count", Type: ParamInt, Default: -4, HasDefault: true},
		{Name: "inferred", Type: ParamFloat, Default: 1.5, HasDefault: true},
		{Name: "when", Type: ParamString, Default: "2024-01-02", HasDefault: true},
	}
	if !reflect.DeepEqual(p.Params, want) {
		t.Errorf("params:\n got %#v\nwant %#v", p.Params, want)
	}
}

func TestResolveParams(t *testing.T) {
	p := mustParse(t, `name: a
params:
  region: eu
  min: {type: float, default: 0}
  n: {type: int}
  on: {type: bool, default: false}
tasks: [{name: l, op: describe}]
`)
	for _, tc := range []struct {
		name  string
		given map[string]any
		want  map[string]any
		errs  []wantErr
	}{
		{"defaults", map[string]any{"n": 3},
			map[string]any{"region": "eu", "min": 0.0, "n": 3, "on": false}, nil},
		{"typed values from JSON", map[string]any{"region": "us", "min": 2.5, "n": 7.0, "on": true},
			map[string]any{"region": "us", "min": 2.5, "n": 7, "on": true}, nil},
		{"json.Number", map[string]any{"min": json.Number("1e3"), "n": json.Number("12")},
			map[string]any{"region": "eu", "min": 1000.0, "n": 12, "on": false}, nil},
		{"strings from the CLI", map[string]any{"region": "5", "min": " 0.25", "n": "-9", "on": "yes"},
			map[string]any{"region": "5", "min": 0.25, "n": -9, "on": true}, nil},
		{"other int types", map[string]any{"n": int64(1 << 60), "min": int32(3), "on": "False"},
			map[string]any{"region": "eu", "min": 3.0, "n": 1 << 60, "on": false}, nil},
		{"errors together", map[string]any{"region": 5, "min": "lots", "on": "maybe", "reigon": "x", "zzz": 1},
			nil, []wantErr{
				{"params.region", 0, "must be text, not an integer"},
				{"params.min", 0, `must be a number; "lots" is not`},
				{"params.n", 0, `required parameter "n" (an integer) has no value`},
				{"params.on", 0, `must be true or false; "maybe" is not`},
				{"params.reigon", 0, `unknown parameter "reigon"; did you mean "region"?`},
				{"params.zzz", 0, "unknown parameter \"zzz\"; declared parameters: region, min, n, on"},
			}},
		{"ints must be whole", map[string]any{"n": 2.5}, nil, []wantErr{{"params.n", 0, "must be an integer, not a number"}}},
		{"int out of range", map[string]any{"n": 1e300}, nil, []wantErr{{"params.n", 0, "must be an integer"}}},
		{"int text", map[string]any{"n": "2.0"}, nil, []wantErr{{"params.n", 0, `must be an integer; "2.0" is not`}}},
		{"null", map[string]any{"n": nil}, nil, []wantErr{{"params.n", 0, "must be an integer, not null"}}},
		{"float text NaN", map[string]any{"n": 1, "min": "NaN"}, nil, []wantErr{{"params.min", 0, `must be a number; "NaN" is not`}}},
		{"list", map[string]any{"n": []any{1}}, nil, []wantErr{{"params.n", 0, "not a list"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := p.ResolveParams(tc.given)
			if tc.errs != nil {
				var verr *ValidationError
				if !errors.As(err, &verr) {
					t.Fatalf("err = %v (%T), want *ValidationError", err, err)
				}
				if got != nil {
					t.Errorf("values returned with an error: %v", got)
				}
				checkErrors(t, verr.Errors, tc.errs...)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %#v, want %#v", got, tc.want)
			}
		})
	}
}

// TestResolveParamsAfterJSON checks that a pipeline stored as JSON, whose
// int defaults come back as float64, still resolves to typed values.
func TestResolveParamsAfterJSON(t *testing.T) {
	p := mustParse(t, "name: a\nparams: {n: 3, s: x}\ntasks: [{name: l, op: describe}]\n")
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var back Pipeline
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	got, err := back.ResolveParams(nil)
	if err != nil {
		t.Fatal(err)
	}
	if got["n"] != 3 || got["s"] != "x" {
		t.Errorf("got %#v", got)
	}
}

func TestResolveParamsNone(t *testing.T) {
	p := mustParse(t, "name: a\ntasks: [{name: l, op: describe}]\n")
	got, err := p.ResolveParams(nil)
	if err != nil || len(got) != 0 || got == nil {
		t.Errorf("got %v, %v", got, err)
	}
}
