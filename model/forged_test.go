package model

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
)

// forgedTestModels returns one trained model of each forged type and rows to
// score with it.
func forgedTestModels(t testing.TB) (map[string]Model, map[string][]float64) {
	t.Helper()
	lin, _, err := TrainLinear([]float64{1, 2, 2, 1, 3, 5, 4, 2}, 4, 2, []float64{3, 1, 8, 2}, LinearOptions{Ridge: 0.5, FitIntercept: true})
	if err != nil {
		t.Fatal(err)
	}
	bx, by := separableRows()
	bin, _, err := TrainLogistic(bx, len(by), 2, by, 2, LogisticOptions{L2: 0.01, Classes: []string{"false", "true"}})
	if err != nil {
		t.Fatal(err)
	}
	mx, my := threeClusters()
	multi, _, err := TrainLogistic(mx, len(my), 2, my, 3, LogisticOptions{L2: 0.01, Classes: []string{"a", "b", "c"}})
	if err != nil {
		t.Fatal(err)
	}
	kx, _ := kmeansBlobs()
	km, _, err := TrainKMeans(kx, 12, 2, 3, KMeansOptions{Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	rows := []float64{0.3, -1.7, 2.5, 3000, -4, 9.25, 1e-3, 7}
	return map[string]Model{"linear": lin, "binary": bin, "multiclass": multi, "kmeans": km},
		map[string][]float64{"linear": rows, "binary": rows, "multiclass": rows, "kmeans": rows}
}

func TestForgedRoundTrip(t *testing.T) {
	models, rows := forgedTestModels(t)
	for name, m := range models {
		data, err := EncodeForged(m)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		back, err := Load(FormatForged, data, nil)
		if err != nil {
			t.Fatalf("%s: %v\n%s", name, err, data)
		}
		if fmt.Sprint(back.Signature()) != fmt.Sprint(m.Signature()) {
			t.Errorf("%s: signature %+v, want %+v", name, back.Signature(), m.Signature())
		}
		x := rows[name]
		n := len(x) / 2
		want := make([]float64, n*m.Signature().Width())
		got := make([]float64, len(want))
		if err := m.Predict(x, n, want); err != nil {
			t.Fatal(err)
		}
		if err := back.Predict(x, n, got); err != nil {
			t.Fatal(err)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("%s: prediction %d = %v after the round trip, want %v", name, i, got[i], want[i])
			}
		}
		again, err := EncodeForged(back)
		if err != nil || string(again) != string(data) {
			t.Errorf("%s: re-encoding differs: %v\n%s\n%s", name, err, data, again)
		}
	}
	for _, m := range []Model{nil, (*Linear)(nil), (*Logistic)(nil), (*KMeans)(nil)} {
		if _, err := EncodeForged(m); err == nil {
			t.Errorf("encoded a nil %T", m)
		}
	}
}

func TestForgedFormatExample(t *testing.T) {
	// A hand-written file, as documented.
	src := `{"forged_model": 1, "type": "logistic",
	  "signature": {"features": [{"name": "age", "type": "float"}, {"name": "member", "type": "bool"}],
	                "kind": "binary", "classes": ["no", "yes"]},
	  "weights": [[0.5, -2]], "intercepts": [1]}`
	m, err := Load(FormatForged, []byte(src), nil)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]float64, 2)
	if err := m.Predict([]float64{2, 1, 0, 0}, 2, out); err != nil {
		t.Fatal(err)
	}
	// η = 1 + 0.5·2 − 2·1 = 0 → 0.5; η = 1 → 1/(1+e^−1).
	wantNear(t, "p0", out[0], 0.5, 1e-15)
	wantNear(t, "p1", out[1], 1/(1+math.Exp(-1)), 1e-15)
}

const forgedGoodLinear = `{"forged_model":1,"type":"linear","signature":{"features":[{"name":"a","type":"float"},{"name":"b","type":"float"}],"kind":"regressor"},"weights":[[1,2]],"intercepts":[0.5]}`

func TestLoadForgedRejects(t *testing.T) {
	if _, err := Load(FormatForged, []byte(forgedGoodLinear), nil); err != nil {
		t.Fatalf("the base case fails: %v", err)
	}
	sig := func(kind, classes string) string {
		return `"signature":{"features":[{"name":"a","type":"float"},{"name":"b","type":"float"}],"kind":"` + kind + `"` + classes + `}`
	}
	many := make([]string, maxForgedFeatures+1)
	for i := range many {
		many[i] = fmt.Sprintf(`{"name":"f%d","type":"float"}`, i)
	}
	cases := map[string]string{
		"empty":            ``,
		"null":             `null`,
		"array":            `[]`,
		"not json":         `forged`,
		"no version":       `{"type":"linear",` + sig("regressor", "") + `,"weights":[[1,2]],"intercepts":[0]}`,
		"version 2":        `{"forged_model":2,"type":"linear",` + sig("regressor", "") + `,"weights":[[1,2]],"intercepts":[0]}`,
		"version string":   `{"forged_model":"1","type":"linear",` + sig("regressor", "") + `,"weights":[[1,2]],"intercepts":[0]}`,
		"no type":          `{"forged_model":1,` + sig("regressor", "") + `,"weights":[[1,2]],"intercepts":[0]}`,
		"unknown type":     `{"forged_model":1,"type":"forest",` + sig("regressor", "") + `,"weights":[[1,2]],"intercepts":[0]}`,
		"no signature":     `{"forged_model":1,"type":"linear","weights":[[1,2]],"intercepts":[0]}`,
		"unknown field":    `{"forged_model":1,"type":"linear",` + sig("regressor", "") + `,"weights":[[1,2]],"intercepts":[0],"extra":1}`,
		"unknown sig key":  `{"forged_model":1,"type":"linear","signature":{"features":[{"name":"a","type":"float"}],"kind":"regressor","x":1},"weights":[[1]],"intercepts":[0]}`,
		"trailing data":    forgedGoodLinear + `{}`,
		"trailing garbage": forgedGoodLinear + `]`,
		"short weights":    `{"forged_model":1,"type":"linear",` + sig("regressor", "") + `,"weights":[[1]],"intercepts":[0]}`,
		"long weights":     `{"forged_model":1,"type":"linear",` + sig("regressor", "") + `,"weights":[[1,2,3]],"intercepts":[0]}`,
		"two weight rows":  `{"forged_model":1,"type":"linear",` + sig("regressor", "") + `,"weights":[[1,2],[1,2]],"intercepts":[0]}`,
		"no intercept":     `{"forged_model":1,"type":"linear",` + sig("regressor", "") + `,"weights":[[1,2]]}`,
		"huge number":      `{"forged_model":1,"type":"linear",` + sig("regressor", "") + `,"weights":[[1e999,2]],"intercepts":[0]}`,
		"NaN string":       `{"forged_model":1,"type":"linear",` + sig("regressor", "") + `,"weights":[["NaN",2]],"intercepts":[0]}`,
		"linear centroids": `{"forged_model":1,"type":"linear",` + sig("regressor", "") + `,"weights":[[1,2]],"intercepts":[0],"centroids":[[1,2]]}`,
		"wrong kind":       `{"forged_model":1,"type":"linear",` + sig("binary", "") + `,"weights":[[1,2]],"intercepts":[0]}`,
		"binary 3 classes": `{"forged_model":1,"type":"logistic",` + sig("binary", `,"classes":["a","b","c"]`) + `,"weights":[[1,2]],"intercepts":[0]}`,
		"multi rows":       `{"forged_model":1,"type":"logistic",` + sig("multiclass", `,"classes":["a","b","c"]`) + `,"weights":[[1,2],[1,2]],"intercepts":[0,0]}`,
		"multi intercepts": `{"forged_model":1,"type":"logistic",` + sig("multiclass", `,"classes":["a","b","c"]`) + `,"weights":[[1,2],[1,2],[1,2]],"intercepts":[0,0]}`,
		"logistic kind":    `{"forged_model":1,"type":"logistic",` + sig("regressor", "") + `,"weights":[[1,2]],"intercepts":[0]}`,
		"kmeans none":      `{"forged_model":1,"type":"kmeans",` + sig("clustering", "") + `,"centroids":[]}`,
		"kmeans short":     `{"forged_model":1,"type":"kmeans",` + sig("clustering", "") + `,"centroids":[[1,2],[3]]}`,
		"kmeans weights":   `{"forged_model":1,"type":"kmeans",` + sig("clustering", "") + `,"centroids":[[1,2]],"weights":[[1,2]]}`,
		"kmeans kind":      `{"forged_model":1,"type":"kmeans",` + sig("regressor", "") + `,"centroids":[[1,2]]}`,
		"duplicate feat":   `{"forged_model":1,"type":"linear","signature":{"features":[{"name":"a","type":"float"},{"name":"a","type":"float"}],"kind":"regressor"},"weights":[[1,2]],"intercepts":[0]}`,
		"no features":      `{"forged_model":1,"type":"linear","signature":{"features":[],"kind":"regressor"},"weights":[[]],"intercepts":[0]}`,
		"feature type":     `{"forged_model":1,"type":"linear","signature":{"features":[{"name":"a","type":"text"}],"kind":"regressor"},"weights":[[1]],"intercepts":[0]}`,
		"too many features": `{"forged_model":1,"type":"linear","signature":{"features":[` + strings.Join(many, ",") +
			`],"kind":"regressor"},"weights":[[]],"intercepts":[0]}`,
	}
	for name, src := range cases {
		m, err := Load(FormatForged, []byte(src), nil)
		if err == nil {
			t.Errorf("%s: loaded %+v", name, m)
			continue
		}
		if !errors.Is(err, ErrBadModel) {
			t.Errorf("%s: error %v does not wrap ErrBadModel", name, err)
		}
		// The loader itself must refuse it, not just Load's recover.
		if _, err := loadForged([]byte(src)); err == nil {
			t.Errorf("%s: loadForged accepted it", name)
		}
	}
}

func TestLoadForgedTruncated(t *testing.T) {
	models, _ := forgedTestModels(t)
	for name, m := range models {
		data, err := EncodeForged(m)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < len(data); i++ {
			if _, err := loadForged(data[:i]); err == nil {
				t.Fatalf("%s: a file truncated to %d of %d bytes loaded", name, i, len(data))
			}
		}
	}
}

func TestEncodeRefusesNonFinite(t *testing.T) {
	m := &Linear{sig: Signature{Features: placeholderFeatures(1), Kind: Regressor}, Weights: []float64{math.NaN()}}
	if _, err := m.Encode(); err == nil {
		t.Error("encoded a NaN weight")
	}
	k := &KMeans{sig: Signature{Features: placeholderFeatures(2), Kind: Clustering}, Centroids: [][]float64{{1}}}
	if _, err := k.Encode(); err == nil {
		t.Error("encoded a short centroid")
	}
}

// FuzzLoadForged checks that no input makes the loader panic, and that
// whatever it accepts is a valid model that scores and re-encodes.
func FuzzLoadForged(f *testing.F) {
	models, _ := forgedTestModels(f)
	for _, m := range models {
		data, err := EncodeForged(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range []string{forgedGoodLinear, ``, `{}`, `null`, `{"forged_model":1}`, forgedGoodLinear + `x`,
		`{"forged_model":1,"type":"kmeans","signature":{"features":[{"name":"a","type":"float"}],"kind":"clustering"},"centroids":[[1],[2]]}`,
		`{"forged_model":1,"type":"logistic","signature":{"features":[{"name":"a","type":"bool"}],"kind":"multiclass","classes":["x","y","z"]},"weights":[[1],[2],[3]],"intercepts":[0,0,0]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := loadForged(data)
		if err != nil {
			if m != nil {
				t.Fatal("a model with an error")
			}
			return
		}
		sig := m.Signature()
		if err := sig.Validate(); err != nil {
			t.Fatalf("accepted an invalid signature: %v", err)
		}
		const n = 3
		x := make([]float64, n*len(sig.Features))
		for i := range x {
			x[i] = float64(i) - 1.5
		}
		if err := m.Predict(x, n, make([]float64, n*sig.Width())); err != nil {
			t.Fatalf("predict: %v", err)
		}
		again, err := EncodeForged(m)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		if _, err := loadForged(again); err != nil {
			t.Fatalf("reload: %v", err)
		}
	})
}
