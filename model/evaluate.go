package model

import (
	"errors"
	"fmt"
	"math"
	"sort"
)

// logLossClip bounds the probabilities log loss takes the log of, so that
// a confident mistake costs −log(1e-15) ≈ 34.5 rather than infinity.
const logLossClip = 1e-15

// EvaluateClassifier scores the probabilities a classifier gave n rows of
// known classes yTrue (0..k-1, k ≥ 2). probs holds k probabilities per
// row, row by row, or, for k == 2, one value per row: P(class 1), as a
// Binary model predicts.
//
// The predicted class of a row is, for k == 2, class 1 when P(class 1) ≥
// P(class 0) (a threshold of 0.5); for k > 2 the most probable class, the
// lowest on a tie. The result holds:
//
//   - rows: n.
//   - accuracy: the share of rows whose predicted class is the true one.
//   - precision, recall, f1: for k == 2 those of class 1, the positive
//     class; for k > 2 their unweighted means (macro averages) over the
//     classes that occur in yTrue or among the predictions. precision =
//     TP/(TP+FP) is 0 for a class never predicted, recall = TP/(TP+FN) is
//     0 for a class that never occurs, and f1 = 2·P·R/(P+R) is 0 when P
//     and R are; the macro f1 is the mean of the classes' f1, not the f1
//     of the means.
//   - roc_auc: for k == 2 the area under the ROC curve of P(class 1), the
//     probability that a random positive row scores above a random
//     negative one, ties counting one half (Mann–Whitney); for k > 2 the
//     mean of the one-vs-rest areas of the classes that have both positive
//     and negative rows. It is nil (undefined) when no class has both,
//     such as when yTrue holds a single class.
//   - log_loss: the mean of −ln p, p the probability given to the true
//     class clipped to [1e-15, 1−1e-15]; probabilities are not
//     renormalised.
//   - confusion_matrix: a [][]int64, k×k, rows by true class and columns
//     by predicted class.
//
// A NaN or a value outside [0, 1] in probs, a class outside 0..k-1 or a
// length mismatch is an error.
func EvaluateClassifier(yTrue []int, probs []float64, k int) (map[string]any, error) {
	n := len(yTrue)
	if k < 2 {
		return nil, fmt.Errorf("evaluate classifier: %d classes; want at least 2", k)
	}
	if n == 0 {
		return nil, errors.New("evaluate classifier: no rows")
	}
	width := k
	if k == 2 && len(probs) == n {
		width = 1
	} else if len(probs) != n*k {
		return nil, fmt.Errorf("evaluate classifier: %d probabilities for %d rows of %d classes", len(probs), n, k)
	}
	for i, p := range probs {
		if math.IsNaN(p) || p < 0 || p > 1 {
			return nil, fmt.Errorf("evaluate classifier: row %d has the probability %v; want a number in [0, 1]", i/width, p)
		}
	}
	// prob returns the probability row i gives class c.
	prob := func(i, c int) float64 {
		if width == 1 {
			if c == 1 {
				return probs[i]
			}
			return 1 - probs[i]
		}
		return probs[i*k+c]
	}

	cm := make([][]int64, k)
	for c := range cm {
		cm[c] = make([]int64, k)
	}
	var correct int64
	var logLoss float64
	for i, y := range yTrue {
		if y < 0 || y >= k {
			return nil, fmt.Errorf("evaluate classifier: row %d has class %d; want 0 to %d", i, y, k-1)
		}
		pred := 0
		if k == 2 {
			if prob(i, 1) >= prob(i, 0) {
				pred = 1
			}
		} else {
			for c := 1; c < k; c++ {
				if prob(i, c) > prob(i, pred) {
					pred = c
				}
			}
		}
		cm[y][pred]++
		if pred == y {
			correct++
		}
		p := min(max(prob(i, y), logLossClip), 1-logLossClip)
		logLoss -= math.Log(p)
	}

	// Per-class precision, recall and f1 from the confusion matrix.
	prf := func(c int) (p, r, f float64) {
		tp := cm[c][c]
		var predicted, actual int64
		for o := 0; o < k; o++ {
			predicted += cm[o][c]
			actual += cm[c][o]
		}
		if predicted > 0 {
			p = float64(tp) / float64(predicted)
		}
		if actual > 0 {
			r = float64(tp) / float64(actual)
		}
		if p+r > 0 {
			f = 2 * p * r / (p + r)
		}
		return p, r, f
	}
	var precision, recall, f1 float64
	if k == 2 {
		precision, recall, f1 = prf(1)
	} else {
		present := 0
		for c := 0; c < k; c++ {
			var seen int64
			for o := 0; o < k; o++ {
				seen += cm[c][o] + cm[o][c]
			}
			if seen == 0 {
				continue
			}
			p, r, f := prf(c)
			precision, recall, f1 = precision+p, recall+r, f1+f
			present++
		}
		precision, recall, f1 = precision/float64(present), recall/float64(present), f1/float64(present)
	}

	// ROC AUC: of class 1 when binary, else the one-vs-rest mean.
	var auc any
	scores := make([]float64, n)
	positive := make([]bool, n)
	classes := []int{1}
	if k > 2 {
		classes = classes[:0]
		for c := 0; c < k; c++ {
			classes = append(classes, c)
		}
	}
	var aucSum float64
	aucN := 0
	for _, c := range classes {
		for i, y := range yTrue {
			scores[i], positive[i] = prob(i, c), y == c
		}
		if a, ok := rankAUC(scores, positive); ok {
			aucSum += a
			aucN++
		}
	}
	if aucN > 0 {
		auc = aucSum / float64(aucN)
	}

	return map[string]any{
		"rows":             n,
		"accuracy":         float64(correct) / float64(n),
		"precision":        precision,
		"recall":           recall,
		"f1":               f1,
		"roc_auc":          auc,
		"log_loss":         logLoss / float64(n),
		"confusion_matrix": cm,
	}, nil
}

// rankAUC is the area under the ROC curve of scores for the rows marked
// positive: (R⁺ − P(P+1)/2)/(P·N), R⁺ the sum of the positives' ranks
// (tied scores sharing their mean rank), P and N the numbers of positive
// and negative rows. ok is false when either number is 0.
func rankAUC(scores []float64, positive []bool) (auc float64, ok bool) {
	n := len(scores)
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return scores[order[a]] < scores[order[b]] })
	var rankSum float64
	var pos, neg int64
	for i := 0; i < n; {
		j := i
		for j < n && scores[order[j]] == scores[order[i]] {
			j++
		}
		// Rows i..j-1 (0-based) share the ranks i+1..j; their mean is
		// (i+1+j)/2.
		mean := float64(i+1+j) / 2
		for _, o := range order[i:j] {
			if positive[o] {
				rankSum += mean
				pos++
			} else {
				neg++
			}
		}
		i = j
	}
	if pos == 0 || neg == 0 {
		return 0, false
	}
	p, q := float64(pos), float64(neg)
	return (rankSum - p*(p+1)/2) / (p * q), true
}

// EvaluateRegressor scores predictions yPred of targets yTrue. The result
// holds rows (n); rmse, √(Σ(y−ŷ)²/n); mae, Σ|y−ŷ|/n; and r2, 1 −
// Σ(y−ŷ)²/Σ(y−ȳ)², which is nil (undefined) when every target is the
// same. A NaN or infinity, an empty input or a length mismatch is an
// error.
func EvaluateRegressor(yTrue, yPred []float64) (map[string]any, error) {
	n := len(yTrue)
	if n == 0 {
		return nil, errors.New("evaluate regressor: no rows")
	}
	if len(yPred) != n {
		return nil, fmt.Errorf("evaluate regressor: %d predictions for %d rows", len(yPred), n)
	}
	var mean float64
	for i := range yTrue {
		if nonFinite(yTrue[i]) {
			return nil, fmt.Errorf("evaluate regressor: row %d has the target %v", i, yTrue[i])
		}
		if nonFinite(yPred[i]) {
			return nil, fmt.Errorf("evaluate regressor: row %d has the prediction %v", i, yPred[i])
		}
		mean += yTrue[i]
	}
	mean /= float64(n)
	var ssRes, ssTot, absSum float64
	for i, y := range yTrue {
		e := y - yPred[i]
		ssRes += e * e
		absSum += math.Abs(e)
		ssTot += (y - mean) * (y - mean)
	}
	var r2 any
	if ssTot > 0 {
		r2 = 1 - ssRes/ssTot
	}
	rmse, mae := math.Sqrt(ssRes/float64(n)), absSum/float64(n)
	if nonFinite(rmse) || nonFinite(mae) || (r2 != nil && nonFinite(r2.(float64))) {
		return nil, errors.New("evaluate regressor: the errors overflow")
	}
	return map[string]any{"rows": n, "rmse": rmse, "mae": mae, "r2": r2}, nil
}

func nonFinite(v float64) bool { return math.IsNaN(v) || math.IsInf(v, 0) }
