package model

import (
	"math"
	"strings"
	"testing"
)

func wantNear(t *testing.T, what string, got, want, tol float64) {
	t.Helper()
	if math.Abs(got-want) > tol || math.IsNaN(got) {
		t.Errorf("%s = %.15g, want %.15g (±%g)", what, got, want, tol)
	}
}

func TestTrainLinearOLSExact(t *testing.T) {
	// y = 1 + 2a − 3b exactly, on 5 rows that determine it.
	x := []float64{
		0, 0,
		1, 0,
		0, 1,
		2, 3,
		-1, 4,
	}
	y := make([]float64, 5)
	for i := range y {
		y[i] = 1 + 2*x[2*i] - 3*x[2*i+1]
	}
	m, rep, err := TrainLinear(x, 5, 2, y, LinearOptions{FitIntercept: true})
	if err != nil {
		t.Fatal(err)
	}
	wantNear(t, "w0", m.Weights[0], 2, 1e-9)
	wantNear(t, "w1", m.Weights[1], -3, 1e-9)
	wantNear(t, "intercept", m.Intercept, 1, 1e-9)
	wantNear(t, "r2", rep.Metrics["r2"].(float64), 1, 1e-12)
	wantNear(t, "rmse", rep.Metrics["rmse"].(float64), 0, 1e-9)
	if rep.Metrics["rows"] != 5 || rep.Metrics["features"] != 2 {
		t.Errorf("report = %v", rep.Metrics)
	}
	sig := m.Signature()
	if sig.Kind != Regressor || sig.Features[0].Name != "x0" || sig.Features[1].Name != "x1" || sig.Width() != 1 {
		t.Errorf("signature = %+v", sig)
	}
	out := make([]float64, 2)
	if err := m.Predict([]float64{10, 1, math.NaN(), 0}, 2, out); err != nil {
		t.Fatal(err)
	}
	wantNear(t, "predict", out[0], 1+20-3, 1e-9)
	if !math.IsNaN(out[1]) {
		t.Errorf("a missing feature predicted %v, want NaN", out[1])
	}
	if err := m.Predict([]float64{1, 2, 3}, 2, out); err == nil {
		t.Error("predict accepted 3 values for 2 rows of 2 features")
	}
	if err := m.Predict([]float64{1, 2}, 1, out); err == nil {
		t.Error("predict accepted 2 outputs for 1 row")
	}
}

func TestTrainLinearNoIntercept(t *testing.T) {
	// y = 2a + 3b through the origin; an intercept is not fitted.
	x := []float64{1, 0, 0, 1, 1, 1, 2, 1}
	y := []float64{2, 3, 5, 7}
	m, _, err := TrainLinear(x, 4, 2, y, LinearOptions{Features: []Feature{{Name: "a", Type: "float"}, {Name: "b", Type: "bool"}}})
	if err != nil {
		t.Fatal(err)
	}
	wantNear(t, "w0", m.Weights[0], 2, 1e-9)
	wantNear(t, "w1", m.Weights[1], 3, 1e-9)
	if m.Intercept != 0 {
		t.Errorf("intercept = %v, want 0", m.Intercept)
	}
	if f := m.Signature().Features; f[0].Name != "a" || f[1].Type != "bool" {
		t.Errorf("features = %+v", f)
	}
}

func TestTrainLinearRidgeOneFeature(t *testing.T) {
	// x = 1..4, y = 2,3,5,8, λ = 2. Centred: x̄ = 2.5, ȳ = 4.5,
	// Sxx = 2.25+0.25+0.25+2.25 = 5,
	// Sxy = (−1.5)(−2.5)+(−0.5)(−1.5)+(0.5)(0.5)+(1.5)(3.5) = 10,
	// w = Sxy/(Sxx+λ) = 10/7, b = ȳ − w·x̄ = 4.5 − 25/7 = 13/14 (the
	// intercept is not penalised).
	m, _, err := TrainLinear([]float64{1, 2, 3, 4}, 4, 1, []float64{2, 3, 5, 8}, LinearOptions{Ridge: 2, FitIntercept: true})
	if err != nil {
		t.Fatal(err)
	}
	wantNear(t, "w", m.Weights[0], 10.0/7, 1e-12)
	wantNear(t, "b", m.Intercept, 13.0/14, 1e-12)
}

func TestTrainLinearRidgeNormalEquations(t *testing.T) {
	x := []float64{
		1, 2,
		2, 1,
		3, 5,
		4, 2,
		5, 7,
		6, 3,
	}
	y := []float64{3, 1, 8, 2, 11, 4}
	const n, lambda = 6, 0.7
	for _, intercept := range []bool{true, false} {
		// Solve (XcᵀXc + λI)w = Xcᵀyc by Cramer's rule, Xc and yc centred
		// when fitting an intercept (then b = ȳ − w·x̄).
		var ma, mb, my float64
		if intercept {
			for i := 0; i < n; i++ {
				ma, mb, my = ma+x[2*i]/n, mb+x[2*i+1]/n, my+y[i]/n
			}
		}
		var saa, sab, sbb, say, sby float64
		for i := 0; i < n; i++ {
			a, b, v := x[2*i]-ma, x[2*i+1]-mb, y[i]-my
			saa, sab, sbb, say, sby = saa+a*a, sab+a*b, sbb+b*b, say+a*v, sby+b*v
		}
		saa, sbb = saa+lambda, sbb+lambda
		det := saa*sbb - sab*sab
		wa, wb := (say*sbb-sab*sby)/det, (saa*sby-sab*say)/det
		b := my - wa*ma - wb*mb

		m, _, err := TrainLinear(x, n, 2, y, LinearOptions{Ridge: lambda, FitIntercept: intercept})
		if err != nil {
			t.Fatal(err)
		}
		wantNear(t, "wa", m.Weights[0], wa, 1e-10)
		wantNear(t, "wb", m.Weights[1], wb, 1e-10)
		wantNear(t, "b", m.Intercept, b, 1e-10)
	}
}

func TestTrainLinearErrors(t *testing.T) {
	collinear := []float64{1, 2, 2, 4, 3, 6, 4, 8} // b = 2a
	y := []float64{1, 2, 3, 5}
	if _, _, err := TrainLinear(collinear, 4, 2, y, LinearOptions{FitIntercept: true}); err == nil || !strings.Contains(err.Error(), "collinear") {
		t.Errorf("collinear features: err = %v", err)
	}
	if _, _, err := TrainLinear(collinear, 4, 2, y, LinearOptions{FitIntercept: true, Ridge: 0.1}); err != nil {
		t.Errorf("a ridge penalty should resolve collinearity: %v", err)
	}
	constant := []float64{1, 5, 2, 5, 3, 5, 4, 5}
	if _, _, err := TrainLinear(constant, 4, 2, y, LinearOptions{FitIntercept: true}); err == nil || !strings.Contains(err.Error(), `"x1" is constant`) {
		t.Errorf("constant feature: err = %v", err)
	}
	m, _, err := TrainLinear(constant, 4, 2, y, LinearOptions{FitIntercept: true, Ridge: 1})
	if err != nil || m.Weights[1] != 0 {
		t.Errorf("constant feature with ridge: %v, %v", m, err)
	}
	for name, f := range map[string]func() error{
		"too few rows": func() error {
			_, _, err := TrainLinear([]float64{1, 2}, 1, 2, []float64{1}, LinearOptions{})
			return err
		},
		"NaN feature": func() error {
			_, _, err := TrainLinear([]float64{1, math.NaN()}, 2, 1, []float64{1, 2}, LinearOptions{})
			return err
		},
		"NaN target": func() error {
			_, _, err := TrainLinear([]float64{1, 2}, 2, 1, []float64{1, math.Inf(1)}, LinearOptions{})
			return err
		},
		"short x": func() error {
			_, _, err := TrainLinear([]float64{1}, 2, 1, []float64{1, 2}, LinearOptions{})
			return err
		},
		"negative ridge": func() error {
			_, _, err := TrainLinear([]float64{1, 2}, 2, 1, []float64{1, 2}, LinearOptions{Ridge: -1})
			return err
		},
		"feature names": func() error {
			_, _, err := TrainLinear([]float64{1, 2}, 2, 1, []float64{1, 2}, LinearOptions{Features: []Feature{}})
			return err
		},
		"no rows": func() error {
			_, _, err := TrainLinear(nil, 0, 1, nil, LinearOptions{})
			return err
		},
	} {
		if f() == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
