package model

import (
	"errors"
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"
)

// Linear is a linear regression: y = Intercept + Σ Weights[j]·x[j].
type Linear struct {
	sig Signature
	// Weights has one coefficient per feature.
	Weights []float64
	// Intercept is the constant term (0 when trained without one).
	Intercept float64
}

var _ Model = (*Linear)(nil)

// LinearOptions configure TrainLinear.
type LinearOptions struct {
	// Ridge is the L2 penalty λ: the fit minimises Σ(y − ŷ)² + λ·Σw²
	// over the weights; the intercept is not penalised. 0 is ordinary
	// least squares.
	Ridge float64
	// FitIntercept adds a constant term; without it the fit goes through
	// the origin.
	FitIntercept bool
	// Features names the d features in the model's signature; nil names
	// them x0, x1, ...
	Features []Feature
}

// linearMaxCondition is the largest condition number of the (column-scaled)
// least-squares system TrainLinear accepts; above it the features are
// taken to be collinear.
const linearMaxCondition = 1e12

// TrainLinear fits a linear regression to n rows of d features (x, row by
// row) and their targets y, by QR least squares on the centred data (so
// the intercept is not penalised) with √λ·I rows appended for the ridge
// penalty. Collinear or constant features without a ridge penalty are an
// error. The report holds rows, features, r2, rmse and mae on the
// training data.
func TrainLinear(x []float64, n, d int, y []float64, opts LinearOptions) (*Linear, TrainReport, error) {
	if err := checkTrainMatrix(x, n, d); err != nil {
		return nil, TrainReport{}, err
	}
	if len(y) != n {
		return nil, TrainReport{}, fmt.Errorf("train linear: %d targets for %d rows", len(y), n)
	}
	for i, v := range y {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, TrainReport{}, fmt.Errorf("train linear: target of row %d is %v", i, v)
		}
	}
	if opts.Ridge < 0 || math.IsNaN(opts.Ridge) || math.IsInf(opts.Ridge, 0) {
		return nil, TrainReport{}, fmt.Errorf("train linear: ridge must be a finite number ≥ 0, not %v", opts.Ridge)
	}
	features, err := trainFeatures(opts.Features, d)
	if err != nil {
		return nil, TrainReport{}, fmt.Errorf("train linear: %w", err)
	}
	rows := n
	if opts.Ridge > 0 {
		rows += d
	}
	if rows < d {
		return nil, TrainReport{}, fmt.Errorf("train linear: %d rows cannot determine %d weights; add rows or set a ridge penalty", n, d)
	}

	// Centre the columns and the target when fitting an intercept: the
	// weights of the centred problem are those of the full one, and the
	// intercept follows from the means without being penalised.
	xMean := make([]float64, d)
	var yMean float64
	if opts.FitIntercept {
		for i := 0; i < n; i++ {
			for j := 0; j < d; j++ {
				xMean[j] += x[i*d+j]
			}
			yMean += y[i]
		}
		for j := range xMean {
			xMean[j] /= float64(n)
		}
		yMean /= float64(n)
	}
	a := mat.NewDense(rows, d, nil)
	b := mat.NewVecDense(rows, nil)
	for i := 0; i < n; i++ {
		for j := 0; j < d; j++ {
			a.Set(i, j, x[i*d+j]-xMean[j])
		}
		b.SetVec(i, y[i]-yMean)
	}
	if opts.Ridge > 0 {
		s := math.Sqrt(opts.Ridge)
		for j := 0; j < d; j++ {
			a.Set(n+j, j, s)
		}
	}
	// Scale the columns to unit norm so that the condition number
	// measures collinearity, not the features' units.
	scale := make([]float64, d)
	for j := 0; j < d; j++ {
		norm := mat.Norm(a.ColView(j), 2)
		if norm == 0 {
			return nil, TrainReport{}, fmt.Errorf("train linear: feature %q is constant; drop it or set a ridge penalty", features[j].Name)
		}
		scale[j] = 1 / norm
		for i := 0; i < rows; i++ {
			a.Set(i, j, a.At(i, j)*scale[j])
		}
	}
	var qr mat.QR
	qr.Factorize(a)
	if c := qr.Cond(); c > linearMaxCondition || math.IsNaN(c) {
		return nil, TrainReport{}, errors.New("train linear: the features are collinear (one is a combination of others); drop one or set a ridge penalty")
	}
	var beta mat.VecDense
	if err := qr.SolveVecTo(&beta, false, b); err != nil {
		return nil, TrainReport{}, fmt.Errorf("train linear: %w", err)
	}
	w := make([]float64, d)
	intercept := yMean
	for j := range w {
		w[j] = beta.AtVec(j) * scale[j]
		intercept -= w[j] * xMean[j]
		if math.IsNaN(w[j]) || math.IsInf(w[j], 0) {
			return nil, TrainReport{}, errors.New("train linear: the solution is not finite; the features may be collinear or badly scaled")
		}
	}
	if !opts.FitIntercept {
		intercept = 0
	}
	m := &Linear{sig: Signature{Features: features, Kind: Regressor}, Weights: w, Intercept: intercept}

	pred := make([]float64, n)
	if err := m.Predict(x, n, pred); err != nil {
		return nil, TrainReport{}, err
	}
	ev, err := EvaluateRegressor(y, pred)
	if err != nil {
		return nil, TrainReport{}, fmt.Errorf("train linear: %w", err)
	}
	ev["features"] = d
	ev["ridge"] = opts.Ridge
	return m, TrainReport{Metrics: ev}, nil
}

// Signature describes the model's features; it is a regressor.
func (m *Linear) Signature() Signature { return m.sig }

// Predict gives one value per row; a row with a missing (NaN) feature
// gives NaN.
func (m *Linear) Predict(x []float64, n int, out []float64) error {
	if err := checkPredictSizes(m.sig, x, n, out); err != nil {
		return err
	}
	d := len(m.Weights)
	for i := 0; i < n; i++ {
		s := m.Intercept
		for j, w := range m.Weights {
			s += w * x[i*d+j]
		}
		out[i] = s
	}
	return nil
}

// Encode writes the model in the forged format.
func (m *Linear) Encode() ([]byte, error) {
	return encodeForged(forgedFile{
		Type:       ForgedLinear,
		Signature:  &m.sig,
		Weights:    [][]float64{m.Weights},
		Intercepts: []float64{m.Intercept},
	})
}
