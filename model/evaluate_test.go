package model

import (
	"math"
	"reflect"
	"testing"
)

func wantMetric(t *testing.T, m map[string]any, name string, want float64) {
	t.Helper()
	got, ok := m[name].(float64)
	if !ok {
		t.Errorf("%s = %v (%T), want %v", name, m[name], m[name], want)
		return
	}
	wantNear(t, name, got, want, 1e-12)
}

func TestEvaluateBinary(t *testing.T) {
	yTrue := []int{0, 0, 1, 1, 1}
	probs := []float64{0.1, 0.6, 0.8, 0.4, 0.9}
	// Predicted (P(1) ≥ 0.5): 0, 1, 1, 0, 1.
	// Confusion (rows true, columns predicted): [[1 1] [1 2]].
	// accuracy = 3/5; TP = 2, FP = 1, FN = 1: precision = recall = f1 = 2/3.
	// AUC: positives 0.8, 0.4, 0.9 against negatives 0.1, 0.6: 0.8 beats
	// both, 0.4 beats 0.1 only, 0.9 beats both: 5 of 6 pairs.
	// log loss = −(ln 0.9 + ln 0.4 + ln 0.8 + ln 0.4 + ln 0.9)/5.
	two := make([]float64, 0, 10) // the same as two columns
	for _, p := range probs {
		two = append(two, 1-p, p)
	}
	for _, in := range [][]float64{probs, two} {
		m, err := EvaluateClassifier(yTrue, in, 2)
		if err != nil {
			t.Fatal(err)
		}
		wantMetric(t, m, "accuracy", 0.6)
		wantMetric(t, m, "precision", 2.0/3)
		wantMetric(t, m, "recall", 2.0/3)
		wantMetric(t, m, "f1", 2.0/3)
		wantMetric(t, m, "roc_auc", 5.0/6)
		wantMetric(t, m, "log_loss", -(math.Log(0.9)+math.Log(0.4)+math.Log(0.8)+math.Log(0.4)+math.Log(0.9))/5)
		if cm := m["confusion_matrix"]; !reflect.DeepEqual(cm, [][]int64{{1, 1}, {1, 2}}) {
			t.Errorf("confusion = %v", cm)
		}
		if m["rows"] != 5 {
			t.Errorf("rows = %v", m["rows"])
		}
	}
}

func TestEvaluateBinaryTies(t *testing.T) {
	// AUC with a tie: positives 0.5, 0.7 against negatives 0.5, 0.2:
	// 0.5 ties 0.5 (½) and beats 0.2 (1); 0.7 beats both (2): 3.5/4.
	// Both 0.5 rows are predicted positive (P(1) ≥ 0.5): predicted
	// 1, 1, 0, 1 against 0, 1, 0, 1: TP 2, FP 1, FN 0:
	// precision 2/3, recall 1, f1 = 2·(2/3)/(5/3) = 0.8, accuracy 3/4.
	m, err := EvaluateClassifier([]int{0, 1, 0, 1}, []float64{0.5, 0.5, 0.2, 0.7}, 2)
	if err != nil {
		t.Fatal(err)
	}
	wantMetric(t, m, "roc_auc", 0.875)
	wantMetric(t, m, "precision", 2.0/3)
	wantMetric(t, m, "recall", 1)
	wantMetric(t, m, "f1", 0.8)
	wantMetric(t, m, "accuracy", 0.75)
}

func TestEvaluateMulticlass(t *testing.T) {
	yTrue := []int{0, 1, 2, 2, 1, 0}
	probs := []float64{
		0.7, 0.2, 0.1, // predicted 0, right
		0.1, 0.6, 0.3, // 1, right
		0.2, 0.5, 0.3, // 1, wrong (2)
		0.1, 0.1, 0.8, // 2, right
		0.3, 0.4, 0.3, // 1, right
		0.2, 0.2, 0.6, // 2, wrong (0)
	}
	m, err := EvaluateClassifier(yTrue, probs, 3)
	if err != nil {
		t.Fatal(err)
	}
	// Confusion: true 0 → [1 0 1], true 1 → [0 2 0], true 2 → [0 1 1].
	if cm := m["confusion_matrix"]; !reflect.DeepEqual(cm, [][]int64{{1, 0, 1}, {0, 2, 0}, {0, 1, 1}}) {
		t.Errorf("confusion = %v", cm)
	}
	wantMetric(t, m, "accuracy", 4.0/6)
	// class 0: P = 1/1, R = 1/2, F = 2·1·½/1.5 = 2/3
	// class 1: P = 2/3, R = 2/2, F = 2·(2/3)/(5/3) = 4/5
	// class 2: P = 1/2, R = 1/2, F = 1/2
	// macro P = (1 + 2/3 + 1/2)/3 = 13/18, R = (1/2 + 1 + 1/2)/3 = 2/3,
	// F = (2/3 + 4/5 + 1/2)/3 = 59/90.
	wantMetric(t, m, "precision", 13.0/18)
	wantMetric(t, m, "recall", 2.0/3)
	wantMetric(t, m, "f1", 59.0/90)
	// One-vs-rest AUC:
	// class 0: positives 0.7, 0.2 vs 0.1, 0.2, 0.1, 0.3: 4 + (1+½+1+0) = 6.5/8
	// class 1: positives 0.6, 0.4 vs 0.2, 0.5, 0.1, 0.2: 4 + 3 = 7/8
	// class 2: positives 0.3, 0.8 vs 0.1, 0.3, 0.3, 0.6: (1+½+½+0) + 4 = 6/8
	// mean = (0.8125 + 0.875 + 0.75)/3 = 0.8125.
	wantMetric(t, m, "roc_auc", 0.8125)
	wantMetric(t, m, "log_loss", -(math.Log(0.7)+math.Log(0.6)+math.Log(0.3)+math.Log(0.8)+math.Log(0.4)+math.Log(0.2))/6)
}

func TestEvaluateClassifierConventions(t *testing.T) {
	// Class 1 never predicted: precision 0 by convention, recall 0/1 = 0,
	// f1 0; AUC 1 (0.2 > 0.1).
	m, err := EvaluateClassifier([]int{0, 1}, []float64{0.1, 0.2}, 2)
	if err != nil {
		t.Fatal(err)
	}
	wantMetric(t, m, "precision", 0)
	wantMetric(t, m, "recall", 0)
	wantMetric(t, m, "f1", 0)
	wantMetric(t, m, "roc_auc", 1)
	// One class present: AUC undefined (nil); log loss clips 0 to 1e-15.
	m, err = EvaluateClassifier([]int{1, 1}, []float64{1, 0}, 2)
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := m["roc_auc"]; !ok || v != nil {
		t.Errorf("roc_auc = %v, want nil", v)
	}
	wantMetric(t, m, "accuracy", 0.5)
	// Row 1: −ln(1 − 1e-15) ≈ 1e-15; row 2: −ln(1e-15) ≈ 34.539.
	wantNear(t, "log_loss", m["log_loss"].(float64), -math.Log(1e-15)/2, 1e-9)
	// Multiclass, class 2 neither true nor predicted: the macro averages
	// cover classes 0 and 1 only (both perfect); its AUC is skipped.
	m, err = EvaluateClassifier([]int{0, 1}, []float64{0.8, 0.1, 0.1, 0.1, 0.8, 0.1}, 3)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"precision", "recall", "f1", "roc_auc", "accuracy"} {
		wantMetric(t, m, name, 1)
	}
	// Multiclass ties go to the lowest class.
	m, err = EvaluateClassifier([]int{1}, []float64{0.4, 0.4, 0.2}, 3)
	if err != nil {
		t.Fatal(err)
	}
	wantMetric(t, m, "accuracy", 0)
}

func TestEvaluateClassifierErrors(t *testing.T) {
	for name, c := range map[string]struct {
		y []int
		p []float64
		k int
	}{
		"empty":        {nil, nil, 2},
		"k = 1":        {[]int{0}, []float64{1}, 1},
		"length":       {[]int{0, 1}, []float64{0.5, 0.5, 0.5}, 2},
		"NaN":          {[]int{0, 1}, []float64{0.5, math.NaN()}, 2},
		"above 1":      {[]int{0, 1}, []float64{0.5, 1.5}, 2},
		"negative":     {[]int{0, 1}, []float64{-0.1, 0.5}, 2},
		"class":        {[]int{0, 2}, []float64{0.5, 0.5}, 2},
		"class < 0":    {[]int{-1, 1}, []float64{0.5, 0.5}, 2},
		"multi length": {[]int{0, 1}, []float64{0.5, 0.5}, 3},
	} {
		if _, err := EvaluateClassifier(c.y, c.p, c.k); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestEvaluateRegressor(t *testing.T) {
	// Errors y − ŷ: −0.5, 0, 1, −1. SSres = 0.25 + 0 + 1 + 1 = 2.25,
	// rmse = √(2.25/4) = 0.75, mae = (0.5 + 0 + 1 + 1)/4 = 0.625;
	// ȳ = 2.5, SStot = 2.25 + 0.25 + 0.25 + 2.25 = 5, r2 = 1 − 2.25/5 = 0.55.
	m, err := EvaluateRegressor([]float64{1, 2, 3, 4}, []float64{1.5, 2, 2, 5})
	if err != nil {
		t.Fatal(err)
	}
	wantMetric(t, m, "rmse", 0.75)
	wantMetric(t, m, "mae", 0.625)
	wantMetric(t, m, "r2", 0.55)
	if m["rows"] != 4 {
		t.Errorf("rows = %v", m["rows"])
	}
	// A constant target: r2 undefined (nil).
	m, err = EvaluateRegressor([]float64{3, 3}, []float64{2, 4})
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := m["r2"]; !ok || v != nil {
		t.Errorf("r2 = %v, want nil", v)
	}
	wantMetric(t, m, "rmse", 1)
	for name, c := range map[string][2][]float64{
		"empty":  {nil, nil},
		"length": {{1, 2}, {1}},
		"NaN":    {{1, math.NaN()}, {1, 2}},
		"Inf":    {{1, 2}, {1, math.Inf(-1)}},
	} {
		if _, err := EvaluateRegressor(c[0], c[1]); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
