package model

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The LightGBM fixtures in testdata/lightgbm are written by hand in the
// exact layout LightGBM's save_model uses (tree_sizes are the byte sizes of
// the "Tree=" blocks; TestLightGBMTreeSizes checks them). Their predictions
// are worked out below. Reminders of the rules: a value goes left when it
// is at most the threshold; decision_type 2 = default left, +4 = missing
// type Zero, +8 = missing type NaN; with type None (0 or 2) NaN is read as
// 0; with type Zero NaN is read as 0 and zero takes the default side; with
// type NaN, NaN takes the default side.

var lgbFixtures = []string{"binary", "regression", "multiclass"}

func readLGBFixture(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "lightgbm", name+".txt"))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

var nan = math.NaN()

func sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

func softmax3(a, b, c float64) []float64 {
	s := math.Exp(a) + math.Exp(b) + math.Exp(c)
	return []float64{math.Exp(a) / s, math.Exp(b) / s, math.Exp(c) / s}
}

type lgbCase struct {
	row  []float64
	want []float64
}

// binary.txt, features temp, humidity, wind; objective binary sigmoid:1.
//
//	Tree 0: temp <= 0.5 (type NaN, default left) ? -0.2
//	        : humidity <= 3.5000000000000004 (type None) ? 0.15 : 0.4
//	Tree 1: wind <= 1e-35 (type Zero, default left) ? 0.05
//	        : temp <= -1.25 (type NaN, default right) ? -0.3 : 0.25
//	Tree 2: 0.02 (one leaf)
var lgbBinaryCases = []lgbCase{
	// -0.2 (0.2 <= 0.5) + 0.05 (wind 0 is zero: default left) + 0.02 = -0.13 -> 0.46754569
	{[]float64{0.2, 5, 0}, []float64{sigmoid(-0.2 + 0.05 + 0.02)}},
	// 0.15 (1 > 0.5, 2 <= 3.5) + 0.25 (3 > 0, 1 > -1.25) + 0.02 = 0.42 -> 0.60348325
	{[]float64{1, 2, 3}, []float64{sigmoid(0.15 + 0.25 + 0.02)}},
	// -0.2 (NaN: default left) + 0.05 (NaN read as 0: zero, default left) + 0.02 = -0.13
	{[]float64{nan, nan, nan}, []float64{sigmoid(-0.2 + 0.05 + 0.02)}},
	// 0.15 (humidity NaN read as 0 <= 3.5) + 0.25 + 0.02 = 0.42
	{[]float64{0.7, nan, 2}, []float64{sigmoid(0.15 + 0.25 + 0.02)}},
	// -0.2 (0.5 <= 0.5) + 0.05 (1e-40 is a zero) + 0.02 = -0.13
	{[]float64{0.5, 9, 1e-40}, []float64{sigmoid(-0.2 + 0.05 + 0.02)}},
	// -0.2 (NaN left) + 0.25 (4 > 0; temp NaN: default right) + 0.02 = 0.07 -> 0.51749286
	{[]float64{nan, 1, 4}, []float64{sigmoid(-0.2 + 0.25 + 0.02)}},
	// -0.2 + -0.3 (0.5 > 0, -1.5 <= -1.25) + 0.02 = -0.48 -> 0.38225213
	{[]float64{-1.5, 4, 0.5}, []float64{sigmoid(-0.2 - 0.3 + 0.02)}},
	// 0.15 (3.5 <= 3.5000000000000004) + 0.05 (-1 is no zero but <= 1e-35) + 0.02 = 0.22 -> 0.55477924
	{[]float64{3, 3.5, -1}, []float64{sigmoid(0.15 + 0.05 + 0.02)}},
	// 0.4 (7 > 3.5) + 0.25 + 0.02 = 0.67 -> 0.66150316
	{[]float64{3, 7, 2}, []float64{sigmoid(0.4 + 0.25 + 0.02)}},
	// -0.2 + -0.3 (-1.25 <= -1.25) + 0.02 = -0.48
	{[]float64{-1.25, 0, 2}, []float64{sigmoid(-0.2 - 0.3 + 0.02)}},
}

// regression.txt, features a, b; objective regression.
//
//	Tree 0: a <= 2.5000000000000004 (type None)
//	          ? (b <= -0.49999999999999994 (type NaN, default left) ? 10.5 : 11.25)
//	          : (b <= 0.75000000000000011 (type NaN, default right) ? 12 : 13.75)
//	Tree 1: a <= 5.0000000000000009 (type None, default left) ? -0.5 : 0.5
var lgbRegressionCases = []lgbCase{
	{[]float64{1, -1}, []float64{10.5 - 0.5}},                    // 10
	{[]float64{1, 0}, []float64{11.25 - 0.5}},                    // 10.75
	{[]float64{nan, nan}, []float64{10.5 - 0.5}},                 // a NaN read as 0; b NaN default left: 10
	{[]float64{3, nan}, []float64{13.75 - 0.5}},                  // b NaN default right: 13.25
	{[]float64{3, 0.75}, []float64{12 - 0.5}},                    // 11.5
	{[]float64{6, 1}, []float64{13.75 + 0.5}},                    // 14.25
	{[]float64{2.5, -0.5}, []float64{10.5 - 0.5}},                // ties go left: 10
	{[]float64{5.0000000000000009, 0.8}, []float64{13.75 - 0.5}}, // 13.25
}

// multiclass.txt, features x, y; objective multiclass num_class:3, trees
// for classes 0, 1, 2, 0, 1, 2.
//
//	Tree 0 (class 0): x <= 1e-35 (type None, default left) ? 0.3 : -0.1
//	Tree 1 (class 1): y <= 1.0000000000000002 (type NaN, default right) ? -0.2 : 0.4
//	Tree 2 (class 2): x <= 1.5000000000000002 (type NaN, default left) ? 0.1 : 0.5
//	Tree 3 (class 0): y <= 1e-35 (type None) ? 0.2 : -0.05
//	Tree 4 (class 1): x <= -0.99999999999999989 (type None) ? -0.3 : 0.1
//	Tree 5 (class 2): 0.05
var lgbMulticlassCases = []lgbCase{
	// 0.3-0.05 = 0.25, 0.4+0.1 = 0.5, 0.1+0.05 = 0.15 -> 0.31359141 0.40265934 0.28374924
	{[]float64{-0.5, 2}, softmax3(0.3-0.05, 0.4+0.1, 0.1+0.05)},
	// -0.1+0.2 = 0.1, -0.2+0.1 = -0.1, 0.5+0.05 = 0.55 -> 0.29524279 0.24172435 0.46303286
	{[]float64{2, -1}, softmax3(-0.1+0.2, -0.2+0.1, 0.5+0.05)},
	// NaNs: x read as 0 in trees 0 and 4, y as 0 in tree 3; tree 1 sends
	// NaN right, tree 2 left: 0.3+0.2 = 0.5, 0.4+0.1 = 0.5, 0.1+0.05 = 0.15
	// -> 0.36972840 0.36972840 0.26054320
	{[]float64{nan, nan}, softmax3(0.3+0.2, 0.4+0.1, 0.1+0.05)},
	// 0.3-0.05 = 0.25, -0.2-0.3 = -0.5, 0.1+0.05 = 0.15 -> 0.42066226 0.19870678 0.38063096
	{[]float64{-1, 1}, softmax3(0.3-0.05, -0.2-0.3, 0.1+0.05)},
}

func TestLightGBMFixtures(t *testing.T) {
	for _, tc := range []struct {
		name     string
		kind     Kind
		features string
		classes  string
		cases    []lgbCase
	}{
		{"binary", Binary, "temp,humidity,wind", "0,1", lgbBinaryCases},
		{"regression", Regressor, "a,b", "", lgbRegressionCases},
		{"multiclass", Multiclass, "x,y", "0,1,2", lgbMulticlassCases},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mm, err := Load(FormatLightGBM, readLGBFixture(t, tc.name), nil)
			if err != nil {
				t.Fatal(err)
			}
			m := mm.(*TreeEnsemble)
			sig := m.Signature()
			var names []string
			for _, f := range sig.Features {
				names = append(names, f.Name)
			}
			if sig.Kind != tc.kind || strings.Join(names, ",") != tc.features || strings.Join(sig.Classes, ",") != tc.classes {
				t.Fatalf("signature %+v", sig)
			}
			if m.Format() != FormatLightGBM || m.Trees() == 0 {
				t.Errorf("format %s, %d trees", m.Format(), m.Trees())
			}
			d, w := len(sig.Features), sig.Width()
			var x, want []float64
			for _, c := range tc.cases {
				x = append(x, c.row...)
				want = append(want, c.want...)
			}
			out := make([]float64, len(want))
			if err := m.Predict(x, len(tc.cases), out); err != nil {
				t.Fatal(err)
			}
			for i := range out {
				if math.Abs(out[i]-want[i]) > 1e-12 {
					t.Errorf("row %d (%v) output %d: %.12g, want %.12g", i/w, x[i/w*d:(i/w+1)*d], i%w, out[i], want[i])
				}
			}
		})
	}
}

// TestLightGBMTreeSizes checks that the hand-written fixtures' tree_sizes
// are the byte sizes of their "Tree=" blocks, as LightGBM writes them.
func TestLightGBMTreeSizes(t *testing.T) {
	for _, name := range lgbFixtures {
		text := string(readLGBFixture(t, name))
		start := strings.Index(text, "\nTree=0\n") + 1
		end := strings.Index(text, "end of trees\n")
		var sizes []string
		body := text[start:end]
		for body != "" {
			next := strings.Index(body[1:], "Tree=")
			if next < 0 {
				next = len(body)
			} else {
				next++
			}
			sizes = append(sizes, strconv.Itoa(next))
			body = body[next:]
		}
		if want := "tree_sizes=" + strings.Join(sizes, " ") + "\n"; !strings.Contains(text, want) {
			t.Errorf("%s: want %q", name, want)
		}
	}
}

func TestLightGBMSignature(t *testing.T) {
	data := readLGBFixture(t, "binary")
	sig := &Signature{Features: []Feature{{"t", "float"}, {"h", "float"}, {"w", "float"}}, Classes: []string{"dry", "rain"}}
	m, err := Load(FormatLightGBM, data, sig)
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Signature(); got.Features[1].Name != "h" || got.Classes[1] != "rain" || got.Kind != Binary {
		t.Errorf("signature %+v", got)
	}
	if _, err := Load(FormatLightGBM, data, &Signature{Features: sig.Features[:2]}); !errors.Is(err, ErrBadModel) {
		t.Errorf("2 features for 3: %v", err)
	}
	if _, err := Load(FormatLightGBM, data, &Signature{Features: sig.Features, Kind: Regressor}); !errors.Is(err, ErrBadModel) {
		t.Errorf("wrong kind: %v", err)
	}
}

func TestLightGBMVariants(t *testing.T) {
	reg := string(readLGBFixture(t, "regression"))
	row := []float64{6, 1} // trees give 13.75 and 0.5
	for _, tc := range []struct {
		name, old, new string
		want           float64
	}{
		{"average_output", "objective=regression\n", "objective=regression\naverage_output\n", (13.75 + 0.5) / 2},
		{"sqrt", "objective=regression\n", "objective=regression sqrt\n", 14.25 * 14.25},
		{"poisson", "objective=regression\n", "objective=poisson\n", math.Exp(14.25)},
		{"alias", "objective=regression\n", "objective=l2\n", 14.25},
		{"no objective", "objective=regression\n", "", 14.25},
		{"xentropy", "objective=regression\n", "objective=cross_entropy\n", sigmoid(14.25)},
		{"xentlambda", "objective=regression\n", "objective=cross_entropy_lambda\n", math.Log1p(math.Exp(14.25))},
		{"no tree_sizes", "tree_sizes=393 273\n", "", 14.25},
		{"CRLF", "\n", "\r\n", 14.25},
	} {
		text := strings.ReplaceAll(reg, tc.old, tc.new)
		m, err := Load(FormatLightGBM, []byte(text), nil)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		out := make([]float64, 1)
		if err := m.Predict(row, 1, out); err != nil {
			t.Fatal(err)
		}
		if math.Abs(out[0]-tc.want) > 1e-9*max(1, math.Abs(tc.want)) {
			t.Errorf("%s: %v, want %v", tc.name, out[0], tc.want)
		}
	}

	// binary with sigmoid:2 doubles the margin; multiclassova gives a
	// sigmoid per class.
	bin := strings.Replace(string(readLGBFixture(t, "binary")), "sigmoid:1", "sigmoid:2", 1)
	m, err := Load(FormatLightGBM, []byte(bin), nil)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]float64, 1)
	_ = m.Predict([]float64{3, 7, 2}, 1, out)
	if want := sigmoid(2 * 0.67); math.Abs(out[0]-want) > 1e-12 {
		t.Errorf("sigmoid:2: %v, want %v", out[0], want)
	}
	ova := strings.Replace(string(readLGBFixture(t, "multiclass")), "multiclass num_class:3", "multiclassova num_class:3 sigmoid:1", 1)
	m, err = Load(FormatLightGBM, []byte(ova), nil)
	if err != nil {
		t.Fatal(err)
	}
	out = make([]float64, 3)
	_ = m.Predict([]float64{-0.5, 2}, 1, out)
	for k, want := range []float64{sigmoid(0.25), sigmoid(0.5), sigmoid(0.15)} {
		if math.Abs(out[k]-want) > 1e-12 {
			t.Errorf("ova class %d: %v, want %v", k, out[k], want)
		}
	}
}

// TestLightGBMDeepTree loads and walks a 200000-leaf chain.
func TestLightGBMDeepTree(t *testing.T) {
	const leaves = 200000
	var feat, thr, left, right, vals strings.Builder
	for i := 0; i < leaves-1; i++ {
		feat.WriteString("0 ")
		thr.WriteString(strconv.Itoa(i) + " ")
		left.WriteString("-" + strconv.Itoa(i+1) + " ")
		if i == leaves-2 {
			right.WriteString("-" + strconv.Itoa(leaves) + " ")
		} else {
			right.WriteString(strconv.Itoa(i+1) + " ")
		}
	}
	for i := 0; i < leaves; i++ {
		vals.WriteString(strconv.Itoa(i) + " ")
	}
	text := "tree\nversion=v4\nnum_class=1\nmax_feature_idx=0\nobjective=regression\nfeature_names=x\n\nTree=0\nnum_leaves=" + strconv.Itoa(leaves) +
		"\nsplit_feature=" + feat.String() + "\nthreshold=" + thr.String() + "\nleft_child=" + left.String() +
		"\nright_child=" + right.String() + "\nleaf_value=" + vals.String() + "\n\nend of trees\n"
	m, err := Load(FormatLightGBM, []byte(text), nil)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]float64, 2)
	// x = 1e9 passes every split to the last leaf; x = 1000.5 leaves at 1001.
	if err := m.Predict([]float64{1e9, 1000.5}, 2, out); err != nil {
		t.Fatal(err)
	}
	if out[0] != leaves-1 || out[1] != 1001 {
		t.Errorf("got %v", out)
	}
}

func TestLightGBMRejects(t *testing.T) {
	reg := string(readLGBFixture(t, "regression"))
	edit := func(old, new string) string {
		if !strings.Contains(reg, old) {
			t.Fatalf("the fixture has no %q", old)
		}
		return strings.Replace(reg, old, new, 1)
	}
	cases := map[string]string{
		"not a model":              "hello",
		"empty":                    "",
		"no trees":                 "tree\nversion=v4\n",
		"no end of trees":          strings.Split(reg, "end of trees")[0],
		"child out of range":       edit("left_child=1 -1 -2", "left_child=7 -1 -2"),
		"leaf out of range":        edit("right_child=2 -3 -4", "right_child=2 -3 -5"),
		"cycle to the root":        edit("right_child=2 -3 -4", "right_child=2 0 -4"),
		"self loop":                edit("left_child=1 -1 -2", "left_child=0 -1 -2"),
		"shared node":              edit("left_child=1 -1 -2", "left_child=1 -1 1"),
		"corrupt leaf":             edit("leaf_value=10.5 12 11.25 13.75", "leaf_value=10.5 12 11.2x5 13.75"),
		"corrupt threshold":        edit("threshold=5.0000000000000009", "threshold=5.0.0"),
		"NaN threshold":            edit("threshold=5.0000000000000009", "threshold=nan"),
		"infinite leaf":            edit("leaf_value=-0.5 0.5", "leaf_value=-0.5 inf"),
		"short leaf_value":         edit("leaf_value=10.5 12 11.25 13.75", "leaf_value=10.5 12 11.25"),
		"long split_feature":       edit("split_feature=0 1 1", "split_feature=0 1 1 1"),
		"feature out of range":     edit("split_feature=0 1 1", "split_feature=0 2 1"),
		"negative feature":         edit("split_feature=0 1 1", "split_feature=0 -1 1"),
		"huge num_leaves":          edit("num_leaves=4", "num_leaves=1000000000"),
		"big num_leaves":           edit("num_leaves=4", "num_leaves=400000"),
		"no num_leaves":            edit("num_leaves=4\n", ""),
		"huge max_feature_idx":     edit("max_feature_idx=1", "max_feature_idx=99999999999"),
		"max_feature_idx vs names": edit("max_feature_idx=1", "max_feature_idx=2"),
		"huge num_class":           edit("num_class=1", "num_class=1000000000"),
		"num_class vs objective":   edit("num_class=1", "num_class=3"),
		"categorical split":        edit("decision_type=0 10 8", "decision_type=1 10 8"),
		"num_cat":                  edit("num_cat=0\nsplit_feature=0 1 1", "num_cat=1\nsplit_feature=0 1 1"),
		"linear tree":              edit("is_linear=0", "is_linear=1"),
		"missing type 3":           edit("decision_type=0 10 8", "decision_type=12 10 8"),
		"decision_type 99":         edit("decision_type=0 10 8", "decision_type=99 10 8"),
		"ranking":                  edit("objective=regression", "objective=lambdarank"),
		"unknown objective":        edit("objective=regression", "objective=magic"),
		"unknown parameter":        edit("objective=regression", "objective=regression alpha:2"),
		"tree numbering":           edit("Tree=1", "Tree=7"),
		"tree_sizes count":         edit("tree_sizes=393 273", "tree_sizes=393"),
		"version":                  edit("version=v4", "version=v9"),
		"duplicate key":            edit("num_leaves=4", "num_leaves=4\nnum_leaves=4"),
		"not key=value":            edit("num_cat=0\nsplit_feature=0 1 1", "num_cat=0\nsplit_feature 0 1 1"),
		"duplicate names":          edit("feature_names=a b", "feature_names=a a"),
	}
	multi := string(readLGBFixture(t, "multiclass"))
	cases["trees per iteration"] = strings.Replace(multi, "num_tree_per_iteration=3", "num_tree_per_iteration=2", 1)
	cases["partial iteration"] = multi[:strings.Index(multi, "Tree=5\n")] + multi[strings.Index(multi, "end of trees"):]
	cases["partial iteration"] = strings.Replace(cases["partial iteration"], "tree_sizes=307 304 288 310 307 247\n", "", 1)
	cases["bad sigmoid"] = strings.Replace(string(readLGBFixture(t, "binary")), "sigmoid:1", "sigmoid:-1", 1)
	for name, text := range cases {
		m, err := Load(FormatLightGBM, []byte(text), nil)
		if !errors.Is(err, ErrBadModel) {
			t.Errorf("%s: got %v, %v; want ErrBadModel", name, m, err)
			continue
		}
		if _, err := loadLightGBM([]byte(text), nil); !errors.Is(err, ErrBadModel) {
			t.Errorf("%s: loadLightGBM gave %v", name, err)
		}
	}
}
