package model

import (
	"context"
	"math"
	"testing"
)

// separableRows returns 40 rows of 2 features, class 1 exactly when
// 2a − b > 3, every row at least 0.5 from the boundary, features on very
// different scales (b is in thousands) to exercise the standardisation.
func separableRows() (x []float64, labels []int) {
	for i := 0; i < 40; i++ {
		a := float64(i%8) - 2
		b := float64((i*7)%11) * 1000
		margin := 2*a - b/1000 - 3
		if math.Abs(margin) < 0.5 {
			a += 1 // push the row off the boundary
			margin = 2*a - b/1000 - 3
		}
		x = append(x, a, b)
		if margin > 0 {
			labels = append(labels, 1)
		} else {
			labels = append(labels, 0)
		}
	}
	return x, labels
}

func TestTrainLogisticSeparable(t *testing.T) {
	x, labels := separableRows()
	n := len(labels)
	for _, l2 := range []float64{0, 1e-3} {
		m, rep, err := TrainLogistic(x, n, 2, labels, 2, LogisticOptions{L2: l2, Classes: []string{"no", "yes"}})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Metrics["accuracy"] != 1.0 {
			t.Errorf("l2 %v: train accuracy = %v, want 1; report %v", l2, rep.Metrics["accuracy"], rep.Metrics)
		}
		sig := m.Signature()
		if sig.Kind != Binary || sig.Width() != 1 || sig.Classes[1] != "yes" {
			t.Errorf("signature = %+v", sig)
		}
		out := make([]float64, n)
		if err := m.Predict(x, n, out); err != nil {
			t.Fatal(err)
		}
		for i, p := range out {
			if (labels[i] == 1) != (p > 0.5) {
				t.Errorf("l2 %v: row %d of class %d has P(1) = %v", l2, i, labels[i], p)
			}
		}
		// Far from the boundary on the raw scale: clear answers.
		far := []float64{10, 0, -5, 9000}
		if err := m.Predict(far, 2, out[:2]); err != nil {
			t.Fatal(err)
		}
		if out[0] < 0.9 || out[1] > 0.1 {
			t.Errorf("l2 %v: far points give %v", l2, out[:2])
		}
	}
}

// TestTrainLogisticOptimum checks the fit is the minimum of the documented
// objective on raw features: mean log loss + l2/2·Σw², whose gradient
// is (1/n)Σ(p − y)x + l2·w for the weights and (1/n)Σ(p − y) for the
// intercept.
func TestTrainLogisticOptimum(t *testing.T) {
	// Overlapping classes, so that the optimum is finite even unpenalised.
	x := []float64{0, 1, 1, 0, 2, 2, 3, 1, 1, 3, 4, 4, 2, 0, 0, 2, 3, 3, 5, 2}
	labels := []int{0, 0, 1, 0, 1, 1, 0, 1, 1, 1}
	const n, d = 10, 2
	for _, l2 := range []float64{0, 0.1} {
		m, rep, err := TrainLogistic(x, n, d, labels, 2, LogisticOptions{L2: l2, Tol: 1e-10})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Metrics["converged"] != true {
			t.Errorf("l2 %v: not converged: %v", l2, rep.Metrics)
		}
		p := make([]float64, n)
		if err := m.Predict(x, n, p); err != nil {
			t.Fatal(err)
		}
		g := make([]float64, d+1)
		for i := 0; i < n; i++ {
			r := (p[i] - float64(labels[i])) / n
			g[0] += r * x[i*d]
			g[1] += r * x[i*d+1]
			g[2] += r
		}
		g[0] += l2 * m.Weights[0][0]
		g[1] += l2 * m.Weights[0][1]
		for j, v := range g {
			if math.Abs(v) > 1e-7 {
				t.Errorf("l2 %v: gradient[%d] = %v at the fit; not the optimum", l2, j, v)
			}
		}
	}
}

// threeClusters returns 30 rows around (0,0), (6,0) and (0,6), class c
// around centre c.
func threeClusters() (x []float64, labels []int) {
	centres := [][2]float64{{0, 0}, {6, 0}, {0, 6}}
	for i := 0; i < 30; i++ {
		c := i % 3
		dx := float64(i%5)/5 - 0.4
		dy := float64((i*3)%7)/7 - 0.4
		x = append(x, centres[c][0]+dx, centres[c][1]+dy)
		labels = append(labels, c)
	}
	return x, labels
}

func TestTrainLogisticMultinomial(t *testing.T) {
	x, labels := threeClusters()
	n := len(labels)
	const l2 = 0.01
	m, rep, err := TrainLogistic(x, n, 2, labels, 3, LogisticOptions{L2: l2, Tol: 1e-9})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Metrics["accuracy"] != 1.0 || rep.Metrics["classes"] != 3 {
		t.Errorf("report = %v", rep.Metrics)
	}
	sig := m.Signature()
	if sig.Kind != Multiclass || sig.Width() != 3 || sig.Classes[2] != "2" || len(m.Weights) != 3 {
		t.Fatalf("signature = %+v", sig)
	}
	p := make([]float64, n*3)
	if err := m.Predict(x, n, p); err != nil {
		t.Fatal(err)
	}
	// Optimality: the gradient of mean log loss + l2/2·Σw² is
	// (1/n)Σ(p_c − [y = c])x + l2·w_c per class.
	g := make([]float64, 9)
	for i := 0; i < n; i++ {
		row := p[i*3 : i*3+3]
		if s := row[0] + row[1] + row[2]; math.Abs(s-1) > 1e-12 {
			t.Errorf("row %d probabilities sum to %v", i, s)
		}
		best := 0
		for c := range row {
			if row[c] > row[best] {
				best = c
			}
			r := row[c] / float64(n)
			if c == labels[i] {
				r -= 1 / float64(n)
			}
			g[c*3] += r * x[i*2]
			g[c*3+1] += r * x[i*2+1]
			g[c*3+2] += r
		}
		if best != labels[i] || row[best] < 0.8 {
			t.Errorf("row %d of class %d: probabilities %v", i, labels[i], row)
		}
	}
	for c := 0; c < 3; c++ {
		g[c*3] += l2 * m.Weights[c][0]
		g[c*3+1] += l2 * m.Weights[c][1]
	}
	for j, v := range g {
		if math.Abs(v) > 1e-6 {
			t.Errorf("gradient[%d] = %v at the fit; not the optimum", j, v)
		}
	}
	// New points near each centre.
	out := make([]float64, 9)
	if err := m.Predict([]float64{0.2, -0.1, 5.5, 0.3, -0.2, 6.4}, 3, out); err != nil {
		t.Fatal(err)
	}
	for c := 0; c < 3; c++ {
		if out[c*3+c] < 0.8 {
			t.Errorf("a point near centre %d: %v", c, out[c*3:c*3+3])
		}
	}
	if err := m.Predict([]float64{math.NaN(), 0}, 1, out[:3]); err != nil || !math.IsNaN(out[0]) {
		t.Errorf("missing feature: %v, %v", out[:3], err)
	}
}

func TestTrainLogisticErrors(t *testing.T) {
	x := []float64{0, 1, 2, 3}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for name, f := range map[string]func() error{
		"one class only": func() error {
			_, _, err := TrainLogistic(x, 4, 1, []int{1, 1, 1, 1}, 2, LogisticOptions{})
			return err
		},
		"label out of range": func() error {
			_, _, err := TrainLogistic(x, 4, 1, []int{0, 1, 2, 1}, 2, LogisticOptions{})
			return err
		},
		"k = 1": func() error {
			_, _, err := TrainLogistic(x, 4, 1, []int{0, 0, 0, 0}, 1, LogisticOptions{})
			return err
		},
		"duplicate class": func() error {
			_, _, err := TrainLogistic(x, 4, 1, []int{0, 1, 0, 1}, 2, LogisticOptions{Classes: []string{"a", "a"}})
			return err
		},
		"labels length": func() error {
			_, _, err := TrainLogistic(x, 4, 1, []int{0, 1}, 2, LogisticOptions{})
			return err
		},
		"negative l2": func() error {
			_, _, err := TrainLogistic(x, 4, 1, []int{0, 1, 0, 1}, 2, LogisticOptions{L2: -1})
			return err
		},
		"cancelled": func() error {
			_, _, err := TrainLogistic(x, 4, 1, []int{0, 1, 0, 1}, 2, LogisticOptions{Context: ctx})
			return err
		},
	} {
		if f() == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
