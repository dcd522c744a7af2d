package model

import (
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// treeProbeRows are rows of d features to push through a model that
// loaded: ordinary values, missing ones, zeros, ties and extremes.
func treeProbeRows(d int) []float64 {
	vals := []float64{0, math.NaN(), -1.5, 0.5, 3, 1e-40, -1e300, math.Inf(1), 7.25}
	x := make([]float64, 0, len(vals)*d)
	for i := range vals {
		for j := 0; j < d; j++ {
			x = append(x, vals[(i+j)%len(vals)])
		}
	}
	return x
}

// checkTreeLoad is the property every load must have: an error wrapping
// ErrBadModel, or a model whose signature is valid and which predicts the
// probe rows without error.
func checkTreeLoad(t *testing.T, m Model, err error) {
	t.Helper()
	if err != nil {
		if !errors.Is(err, ErrBadModel) {
			t.Fatalf("error %v does not wrap ErrBadModel", err)
		}
		return
	}
	sig := m.Signature()
	if err := sig.Validate(); err != nil {
		t.Fatalf("loaded a model with a bad signature: %v", err)
	}
	x := treeProbeRows(len(sig.Features))
	n := len(x) / len(sig.Features)
	out := make([]float64, n*sig.Width())
	if err := m.Predict(x, n, out); err != nil {
		t.Fatalf("predict: %v", err)
	}
}

// TestTreeTruncations loads prefixes of every fixture: the XGBoost ones
// must all fail; a LightGBM prefix must fail until it holds "end of trees"
// and predict like the whole file after.
func TestTreeTruncations(t *testing.T) {
	for _, name := range xgbFixtures {
		data, _ := readXGBFixture(t, name)
		whole := len(bytes.TrimRight(data, " \n\r\t"))
		stride := 1 + len(data)/400
		for cut := 0; cut < whole; cut += stride {
			m, err := loadXGBoost(data[:cut], nil)
			if !errors.Is(err, ErrBadModel) {
				t.Fatalf("xgboost %s cut at %d: got %v, %v", name, cut, m, err)
			}
		}
	}
	for _, name := range lgbFixtures {
		data := readLGBFixture(t, name)
		full, err := loadLightGBM(data, nil)
		if err != nil {
			t.Fatal(err)
		}
		x := treeProbeRows(len(full.Signature().Features))
		n := len(x) / len(full.Signature().Features)
		want := make([]float64, n*full.Signature().Width())
		_ = full.Predict(x, n, want)
		end := bytes.Index(data, []byte("end of trees")) + len("end of trees")
		for cut := 0; cut <= len(data); cut++ {
			m, err := loadLightGBM(data[:cut], nil)
			if cut < end {
				if !errors.Is(err, ErrBadModel) {
					t.Fatalf("lightgbm %s cut at %d: got %v, %v", name, cut, m, err)
				}
				continue
			}
			if err != nil {
				t.Fatalf("lightgbm %s cut at %d, after the trees: %v", name, cut, err)
			}
			got := make([]float64, len(want))
			_ = m.Predict(x, n, got)
			for i := range got {
				if got[i] != want[i] && !(math.IsNaN(got[i]) && math.IsNaN(want[i])) {
					t.Fatalf("lightgbm %s cut at %d: output %d is %v, want %v", name, cut, i, got[i], want[i])
				}
			}
		}
	}
}

// TestTreeCorruptions flips bytes of the fixtures: whatever comes out must
// be an ErrBadModel or a usable model.
func TestTreeCorruptions(t *testing.T) {
	flips := []byte{'0', '9', '-', '.', 'e', '"', ' ', '\n', '[', ']', ',', 'x'}
	for _, name := range []string{"regression", "dart"} {
		data, _ := readXGBFixture(t, name)
		for i := 0; i < len(data); i += 1 + len(data)/300 {
			c := append([]byte(nil), data...)
			c[i] = flips[i%len(flips)]
			m, err := loadXGBoost(c, nil)
			checkTreeLoad(t, m, err)
		}
	}
	for _, name := range lgbFixtures {
		data := readLGBFixture(t, name)
		for i := range data {
			c := append([]byte(nil), data...)
			c[i] = flips[i%len(flips)]
			m, err := loadLightGBM(c, nil)
			checkTreeLoad(t, m, err)
		}
	}
}

func TestTreePredictChecks(t *testing.T) {
	m, err := Load(FormatLightGBM, readLGBFixture(t, "multiclass"), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		x   []float64
		n   int
		out int
	}{
		{make([]float64, 4), 2, 5},
		{make([]float64, 3), 2, 6},
		{nil, -1, 0},
	} {
		if err := m.Predict(c.x, c.n, make([]float64, c.out)); err == nil {
			t.Errorf("predict %d values, %d rows, %d outputs: no error", len(c.x), c.n, c.out)
		}
	}
	if err := m.Predict(nil, 0, nil); err != nil {
		t.Errorf("no rows: %v", err)
	}
	var zero TreeEnsemble
	if err := zero.Predict(nil, 0, nil); err == nil {
		t.Error("a zero TreeEnsemble predicted")
	}
}

// TestTreePredictNoAlloc checks that Predict allocates nothing.
func TestTreePredictNoAlloc(t *testing.T) {
	data, ref := readXGBFixture(t, "multiclass")
	m, err := Load(FormatXGBoost, data, nil)
	if err != nil {
		t.Fatal(err)
	}
	x := flatRows(ref.Rows)
	out := make([]float64, len(ref.Rows)*3)
	if a := testing.AllocsPerRun(20, func() { _ = m.Predict(x, len(ref.Rows), out) }); a != 0 {
		t.Errorf("xgboost predict: %v allocations", a)
	}
	lm, err := Load(FormatLightGBM, readLGBFixture(t, "binary"), nil)
	if err != nil {
		t.Fatal(err)
	}
	lx := treeProbeRows(3)
	lout := make([]float64, len(lx)/3)
	if a := testing.AllocsPerRun(20, func() { _ = lm.Predict(lx, len(lout), lout) }); a != 0 {
		t.Errorf("lightgbm predict: %v allocations", a)
	}
}

// TestTreeConcurrent predicts from many goroutines at once (run with
// -race).
func TestTreeConcurrent(t *testing.T) {
	data, ref := readXGBFixture(t, "binary")
	m, err := Load(FormatXGBoost, data, nil)
	if err != nil {
		t.Fatal(err)
	}
	x := flatRows(ref.Rows)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out := make([]float64, len(ref.Rows))
			for r := 0; r < 50; r++ {
				if err := m.Predict(x, len(ref.Rows), out); err != nil {
					t.Error(err)
					return
				}
			}
			for i, want := range ref.Predictions {
				if !closeTo(out[i], want[0]) {
					t.Errorf("row %d: %v, want %v", i, out[i], want[0])
					return
				}
			}
		}()
	}
	wg.Wait()
}

// addTreeSeeds adds a fixture and its prefixes to a fuzz corpus.
func addTreeSeeds(f *testing.F, data []byte, stride int) {
	f.Add(data)
	for cut := 0; cut < len(data); cut += stride {
		f.Add(data[:cut])
	}
}

// FuzzLoadXGBoost: any input gives an ErrBadModel or a model that
// predicts; nothing panics or hangs.
func FuzzLoadXGBoost(f *testing.F) {
	for _, name := range []string{"binary", "multiclass", "dart", "hinge", "categorical"} {
		data, err := os.ReadFile(filepath.Join("testdata", "xgboost", name+".json"))
		if err != nil {
			f.Fatal(err)
		}
		addTreeSeeds(f, data, 1+len(data)/60)
	}
	f.Add([]byte(`{"learner":{"learner_model_param":{"base_score":"5E-1","num_class":"0","num_feature":"1"},"objective":{"name":"reg:squarederror"},` +
		`"gradient_booster":{"name":"gbtree","model":{"trees":[{"left_children":[1,-1,-1],"right_children":[2,-1,-1],"split_indices":[0,0,0],` +
		`"split_conditions":[0.5,-1,1],"default_left":[1,0,0]}],"tree_info":[0]}}},"version":[1,7,4]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := loadXGBoost(data, nil)
		checkTreeLoad(t, m, err)
	})
}

// FuzzLoadLightGBM: any input gives an ErrBadModel or a model that
// predicts; nothing panics or hangs.
func FuzzLoadLightGBM(f *testing.F) {
	for _, name := range lgbFixtures {
		addTreeSeeds(f, readLGBFixture(f, name), 37)
	}
	f.Add([]byte("tree\nnum_class=1\nmax_feature_idx=0\nfeature_names=x\n\nTree=0\nnum_leaves=2\nsplit_feature=0\nthreshold=1\n" +
		"decision_type=2\nleft_child=-1\nright_child=-2\nleaf_value=1 2\n\nend of trees\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := loadLightGBM(data, nil)
		checkTreeLoad(t, m, err)
	})
}

func BenchmarkTreePredict(b *testing.B) {
	data, ref := readXGBFixture(b, "multiclass")
	m, err := Load(FormatXGBoost, data, nil)
	if err != nil {
		b.Fatal(err)
	}
	row := flatRows(ref.Rows)
	x := []float64{}
	for len(x) < 1000*4 {
		x = append(x, row...)
	}
	x = x[:1000*4]
	out := make([]float64, 1000*3)
	b.ReportAllocs()
	for b.Loop() {
		_ = m.Predict(x, 1000, out)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1000, "ns/row")
}
