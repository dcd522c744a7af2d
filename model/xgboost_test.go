package model

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// xgbReference is a fixture's reference predictions, written by
// scripts/models/make_xgboost_fixtures.py with xgboost itself.
type xgbReference struct {
	Version     string       `json:"xgboost_version"`
	Objective   string       `json:"objective"`
	Rows        [][]*float64 `json:"rows"`
	Predictions [][]float64  `json:"predictions"`
	Margins     [][]float64  `json:"margins"`
}

// xgbFixtures are the models in testdata/xgboost, each with its reference.
var xgbFixtures = []string{
	"binary", "regression", "multiclass", "softmax", "logitraw", "hinge", "reglogistic",
	"poisson", "gamma", "tweedie", "pseudohuber", "absoluteerror", "dart", "pruned",
}

func readXGBFixture(t testing.TB, name string) ([]byte, xgbReference) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "xgboost", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join("testdata", "xgboost", name+".expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ref xgbReference
	if err := json.Unmarshal(raw, &ref); err != nil {
		t.Fatal(err)
	}
	return data, ref
}

// flatRows turns the reference rows (null = missing) into Predict's input.
func flatRows(rows [][]*float64) []float64 {
	var x []float64
	for _, r := range rows {
		for _, v := range r {
			if v == nil {
				x = append(x, math.NaN())
			} else {
				x = append(x, *v)
			}
		}
	}
	return x
}

// closeTo is the fixtures' tolerance, 1e-6: xgboost computes in float32,
// forged in float64, and the fixtures' values are small (the largest
// difference seen is 2.4e-7).
func closeTo(got, want float64) bool {
	return math.Abs(got-want) <= 1e-6
}

// margins predicts with the output transform turned off.
func margins(t *testing.T, m *TreeEnsemble, x []float64, n int) []float64 {
	t.Helper()
	raw := *m
	raw.transform = outIdentity
	out := make([]float64, n*m.sig.Width())
	if err := raw.Predict(x, n, out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestXGBoostFixtures(t *testing.T) {
	kinds := map[string]Kind{
		"binary": Binary, "hinge": Binary, "dart": Binary,
		"multiclass": Multiclass, "softmax": Multiclass,
	}
	for _, name := range xgbFixtures {
		t.Run(name, func(t *testing.T) {
			data, ref := readXGBFixture(t, name)
			if ref.Version != "1.7.4" {
				t.Logf("reference made with xgboost %s", ref.Version)
			}
			mm, err := Load(FormatXGBoost, data, nil)
			if err != nil {
				t.Fatal(err)
			}
			m := mm.(*TreeEnsemble)
			sig := m.Signature()
			want := kinds[name]
			if want == "" {
				want = Regressor
			}
			if sig.Kind != want || m.Objective() != ref.Objective || m.Format() != FormatXGBoost {
				t.Fatalf("kind %s objective %s format %s; want %s %s", sig.Kind, m.Objective(), m.Format(), want, ref.Objective)
			}
			n, w := len(ref.Rows), sig.Width()
			x := flatRows(ref.Rows)
			if len(x) != n*len(sig.Features) {
				t.Fatalf("%d features per row in the reference; the model has %d", len(x)/n, len(sig.Features))
			}
			out := make([]float64, n*w)
			if err := m.Predict(x, n, out); err != nil {
				t.Fatal(err)
			}
			raw := margins(t, m, x, n)
			for i := 0; i < n; i++ {
				for k := 0; k < w; k++ {
					if got, want := raw[i*w+k], ref.Margins[i][k]; !closeTo(got, want) {
						t.Errorf("row %d output %d: margin %.9g, xgboost %.9g", i, k, got, want)
					}
				}
				switch name {
				case "softmax":
					// xgboost predicts the class; forged gives the
					// probabilities, the softmax of the margins.
					probs := append([]float64(nil), ref.Margins[i]...)
					lse := stableLogSumExp(probs)
					best := 0
					for k := range probs {
						probs[k] = math.Exp(probs[k] - lse)
						if !closeTo(out[i*w+k], probs[k]) {
							t.Errorf("row %d class %d: %.9g, want %.9g", i, k, out[i*w+k], probs[k])
						}
						if out[i*w+k] > out[i*w+best] {
							best = k
						}
					}
					if float64(best) != ref.Predictions[i][0] {
						t.Errorf("row %d: likeliest class %d, xgboost %v", i, best, ref.Predictions[i][0])
					}
				default:
					for k := 0; k < w; k++ {
						if got, want := out[i*w+k], ref.Predictions[i][k]; !closeTo(got, want) {
							t.Errorf("row %d output %d: %.9g, xgboost %.9g", i, k, got, want)
						}
					}
				}
			}
		})
	}
}

func TestXGBoostCategorical(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "xgboost", "categorical.json"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Load(FormatXGBoost, data, nil); !errors.Is(err, ErrBadModel) || !strings.Contains(err.Error(), "categorical splits are not supported") {
		t.Errorf("categorical model: %v", err)
	}
}

func TestXGBoostSignature(t *testing.T) {
	data, _ := readXGBFixture(t, "binary")
	m, err := Load(FormatXGBoost, data, nil)
	if err != nil {
		t.Fatal(err)
	}
	sig := m.Signature()
	names := []string{}
	for _, f := range sig.Features {
		names = append(names, f.Name+":"+f.Type)
	}
	if got := strings.Join(names, ","); got != "tenure:float,charges:float,calls:float,usage:float,age:float" {
		t.Errorf("features %s", got)
	}
	if strings.Join(sig.Classes, ",") != "0,1" || sig.Width() != 1 {
		t.Errorf("classes %v", sig.Classes)
	}

	// Unnamed features are f0, f1, ...; a multiclass model's classes 0..k-1.
	data, _ = readXGBFixture(t, "multiclass")
	m, err = Load(FormatXGBoost, data, nil)
	if err != nil {
		t.Fatal(err)
	}
	sig = m.Signature()
	if sig.Features[0].Name != "f0" || sig.Features[3].Name != "f3" || strings.Join(sig.Classes, ",") != "0,1,2" || sig.Width() != 3 {
		t.Errorf("signature %+v", sig)
	}

	// A signature renames features and classes.
	given := &Signature{
		Features: []Feature{{"a", "float"}, {"b", "float"}, {"c", "bool"}, {"d", "float"}},
		Kind:     Multiclass, Classes: []string{"red", "green", "blue"},
	}
	m, err = Load(FormatXGBoost, data, given)
	if err != nil {
		t.Fatal(err)
	}
	sig = m.Signature()
	if sig.Features[2].Name != "c" || sig.Features[2].Type != "bool" || sig.Classes[2] != "blue" {
		t.Errorf("signature %+v", sig)
	}

	for name, bad := range map[string]*Signature{
		"too few features":  {Features: given.Features[:3]},
		"too many features": {Features: append(append([]Feature(nil), given.Features...), Feature{"e", "float"})},
		"wrong kind":        {Features: given.Features, Kind: Binary},
		"wrong classes":     {Features: given.Features, Classes: []string{"x", "y"}},
		"duplicate names":   {Features: []Feature{{"a", "float"}, {"a", "float"}, {"b", "float"}, {"c", "float"}}},
	} {
		if _, err := Load(FormatXGBoost, data, bad); !errors.Is(err, ErrBadModel) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// xgbEdit decodes a fixture, lets edit change it and re-encodes it.
func xgbEdit(t *testing.T, name string, edit func(learner map[string]any, tree0 map[string]any)) []byte {
	t.Helper()
	data, _ := readXGBFixture(t, name)
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	learner := doc["learner"].(map[string]any)
	gb := learner["gradient_booster"].(map[string]any)
	model := gb["model"].(map[string]any)
	tree0 := model["trees"].([]any)[0].(map[string]any)
	edit(learner, tree0)
	out, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestXGBoostRejects(t *testing.T) {
	set := func(key string, v any) func(map[string]any, map[string]any) {
		return func(_ map[string]any, tree map[string]any) { tree[key] = v }
	}
	param := func(key string, v any) func(map[string]any, map[string]any) {
		return func(l map[string]any, _ map[string]any) {
			l["learner_model_param"].(map[string]any)[key] = v
		}
	}
	// The first tree of the regression fixture starts 0 -> (1, 2).
	cases := map[string]func(map[string]any, map[string]any){
		"child out of range":   func(_ map[string]any, tr map[string]any) { tr["left_children"].([]any)[0] = 9999 },
		"negative child":       func(_ map[string]any, tr map[string]any) { tr["right_children"].([]any)[0] = -7 },
		"cycle to the root":    func(_ map[string]any, tr map[string]any) { tr["left_children"].([]any)[1] = 0 },
		"self loop":            func(_ map[string]any, tr map[string]any) { tr["left_children"].([]any)[0] = 0 },
		"shared child":         func(_ map[string]any, tr map[string]any) { tr["right_children"].([]any)[0] = 1 },
		"feature out of range": func(_ map[string]any, tr map[string]any) { tr["split_indices"].([]any)[0] = 4 },
		"short conditions":     func(_ map[string]any, tr map[string]any) { tr["split_conditions"] = []any{0.5} },
		"short default_left":   set("default_left", []any{1}),
		"bad default_left":     set("default_left", "yes"),
		"default_left of 2":    func(_ map[string]any, tr map[string]any) { tr["default_left"].([]any)[0] = 2 },
		"huge num_nodes":       set("tree_param", map[string]any{"num_nodes": "2000000000"}),
		"wrong num_nodes":      set("tree_param", map[string]any{"num_nodes": "3"}),
		"no nodes": func(_ map[string]any, tr map[string]any) {
			for _, k := range []string{"left_children", "right_children", "split_indices", "split_conditions", "default_left"} {
				tr[k] = []any{}
			}
			tr["tree_param"] = map[string]any{"num_nodes": "0"}
		},
		"categorical split": func(_ map[string]any, tr map[string]any) { tr["split_type"].([]any)[0] = 1 },
		"categories":        set("categories_nodes", []any{0}),
		"vector leaves":     set("tree_param", map[string]any{"size_leaf_vector": "3"}),
		"corrupt number":    func(_ map[string]any, tr map[string]any) { tr["split_conditions"].([]any)[0] = "0.5x" },
		"huge leaf": func(_ map[string]any, tr map[string]any) {
			for i, l := range tr["left_children"].([]any) {
				if l.(float64) == -1 {
					tr["split_conditions"].([]any)[i] = 1e300
					return
				}
			}
		},
		"huge num_feature": param("num_feature", "999999999999"),
		"no num_feature":   param("num_feature", "0"),
		"bad num_feature":  param("num_feature", "four"),
		"base_score text":  param("base_score", "half"),
		"base_score list":  param("base_score", "[1,2,3]"),
		"num_class":        param("num_class", "3"),
		"num_target":       param("num_target", "2"),
		"unknown objective": func(l map[string]any, _ map[string]any) {
			l["objective"] = map[string]any{"name": "rank:pairwise"}
		},
		"no objective": func(l map[string]any, _ map[string]any) { delete(l, "objective") },
		"gblinear": func(l map[string]any, _ map[string]any) {
			l["gradient_booster"] = map[string]any{"name": "gblinear", "model": map[string]any{"weights": []any{1, 2}}}
		},
		"tree_info short": func(l map[string]any, _ map[string]any) {
			l["gradient_booster"].(map[string]any)["model"].(map[string]any)["tree_info"] = []any{0}
		},
		"tree_info group": func(l map[string]any, _ map[string]any) {
			l["gradient_booster"].(map[string]any)["model"].(map[string]any)["tree_info"].([]any)[1] = 1
		},
		"num_trees": func(l map[string]any, _ map[string]any) {
			l["gradient_booster"].(map[string]any)["model"].(map[string]any)["gbtree_model_param"].(map[string]any)["num_trees"] = "100000000"
		},
	}
	for name, edit := range cases {
		t.Run(name, func(t *testing.T) {
			data := xgbEdit(t, "regression", edit)
			m, err := loadXGBoost(data, nil)
			if !errors.Is(err, ErrBadModel) {
				t.Fatalf("got %v, %v; want ErrBadModel", m, err)
			}
			t.Log(err)
		})
	}

	// Poisson's base_score must be positive.
	data := xgbEdit(t, "poisson", param("base_score", "-1"))
	if _, err := loadXGBoost(data, nil); !errors.Is(err, ErrBadModel) {
		t.Errorf("poisson with base_score -1: %v", err)
	}
	// Too many trees or nodes stop the reading before it allocates for them.
	head := `{"learner":{"learner_model_param":{"base_score":"0","num_class":"0","num_feature":"1"},"objective":{"name":"reg:squarederror"},` +
		`"gradient_booster":{"name":"gbtree","model":{"tree_info":[],"trees":[`
	many := head + strings.Repeat("{},", maxTrees) + `{}]}}},"version":[1,7,4]}`
	long := head + `{"left_children":[` + strings.Repeat("0,", maxTreeNodes) + `0]}]}}},"version":[1,7,4]}`
	for name, doc := range map[string]string{"many trees": many, "long array": long} {
		if _, err := loadXGBoost([]byte(doc), nil); !errors.Is(err, ErrBadModel) || !strings.Contains(err.Error(), "over") {
			t.Errorf("%s: %v", name, err)
		}
	}
	for _, doc := range []string{"", "{}", "[]", "null", `{"learner":{}}`, `{"learner":null,"version":[1,7,4]}`, "{} {}"} {
		if _, err := loadXGBoost([]byte(doc), nil); !errors.Is(err, ErrBadModel) {
			t.Errorf("%q: %v", doc, err)
		}
	}
}

func TestXGBoostEdits(t *testing.T) {
	// Booleans in default_left, bare numbers for parameters and a list
	// base_score (newer xgboost) are read as well.
	data, ref := readXGBFixture(t, "regression")
	edited := xgbEdit(t, "regression", func(l map[string]any, tree map[string]any) {
		var bools []any
		for _, v := range tree["default_left"].([]any) {
			bools = append(bools, v.(float64) == 1)
		}
		tree["default_left"] = bools
		l["learner_model_param"].(map[string]any)["num_feature"] = 4
		l["learner_model_param"].(map[string]any)["base_score"] = "[8E-1]"
	})
	for _, d := range [][]byte{data, edited} {
		m, err := Load(FormatXGBoost, d, nil)
		if err != nil {
			t.Fatal(err)
		}
		out := make([]float64, len(ref.Rows))
		if err := m.Predict(flatRows(ref.Rows), len(ref.Rows), out); err != nil {
			t.Fatal(err)
		}
		for i, want := range ref.Predictions {
			if !closeTo(out[i], want[0]) {
				t.Errorf("row %d: %v, want %v", i, out[i], want[0])
			}
		}
	}
}

func TestXGBoostNonFinite(t *testing.T) {
	for in, want := range map[string]string{
		`[1,NaN,-Infinity,Infinity,+Infinity]`:   `[1,"NaN","-Infinity","Infinity","Infinity"]`,
		`{"NaN":"a \"NaN\" Infinity","x":[NaN]}`: `{"NaN":"a \"NaN\" Infinity","x":["NaN"]}`,
		`{"name":"Income","v":[0.5]}`:            `{"name":"Income","v":[0.5]}`,
		`[Nope,In]`:                              `[Nope,In]`,
		`["\\",NaN]`:                             `["\\","NaN"]`,
	} {
		if got := string(xgbQuoteNonFinite([]byte(in))); got != want {
			t.Errorf("%s: got %s, want %s", in, got, want)
		}
	}

	// XGBoost writes NaN and Infinity bare: in fields it does not use they
	// are harmless, an infinite threshold is a threshold, a NaN leaf or
	// threshold is refused.
	data, ref := readXGBFixture(t, "regression")
	text := strings.Replace(string(data), `"loss_changes":[`, `"loss_changes":[NaN,-Infinity,`, 1)
	m, err := Load(FormatXGBoost, []byte(text), nil)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]float64, len(ref.Rows))
	if err := m.Predict(flatRows(ref.Rows), len(ref.Rows), out); err != nil || !closeTo(out[0], ref.Predictions[0][0]) {
		t.Errorf("NaN in loss_changes: %v, %v", out[0], err)
	}
	inf := xgbEdit(t, "regression", func(_ map[string]any, tree map[string]any) {
		tree["split_conditions"].([]any)[0] = "INF"
	})
	inf = bytes.Replace(inf, []byte(`"INF"`), []byte(`Infinity`), 1)
	m, err = Load(FormatXGBoost, inf, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Every finite value is below +Inf: the root sends all rows left, so
	// the predictions change but stay finite.
	if err := m.Predict(flatRows(ref.Rows), len(ref.Rows), out); err != nil || math.IsNaN(out[0]) {
		t.Errorf("infinite threshold: %v, %v", out[0], err)
	}
	for name, word := range map[string]string{"NaN threshold": "NaN", "NaN leaf": "NaN", "infinite leaf": "-Infinity"} {
		bad := xgbEdit(t, "regression", func(_ map[string]any, tree map[string]any) {
			for i, l := range tree["left_children"].([]any) {
				if (l.(float64) == -1) == strings.Contains(name, "leaf") {
					tree["split_conditions"].([]any)[i] = "BAD"
					return
				}
			}
		})
		bad = bytes.Replace(bad, []byte(`"BAD"`), []byte(word), 1)
		if _, err := Load(FormatXGBoost, bad, nil); !errors.Is(err, ErrBadModel) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
