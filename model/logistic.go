package model

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"

	"gonum.org/v1/gonum/optimize"
)

// Logistic is a logistic regression. A binary one has one row of
// weights, the log-odds of the second (positive) class:
// P(class 1) = σ(Intercepts[0] + Weights[0]·x). A multiclass one has one
// row per class and gives the softmax of Intercepts[c] + Weights[c]·x.
type Logistic struct {
	sig Signature
	// Weights has one row of one coefficient per feature: a single row
	// for a binary model, one per class for a multiclass one.
	Weights [][]float64
	// Intercepts has one constant term per row of Weights.
	Intercepts []float64
}

var _ Model = (*Logistic)(nil)

// LogisticOptions configure TrainLogistic.
type LogisticOptions struct {
	// L2 is the penalty λ: the fit minimises the mean log loss plus
	// λ/2·Σw² over the weights of the raw features; intercepts are not
	// penalised. 0 is unpenalised, which on separable data only stops at
	// MaxIter or Tol.
	L2 float64
	// MaxIter bounds the optimiser's iterations; 0 means 500.
	MaxIter int
	// Tol stops the optimiser once the largest gradient component of the
	// objective (on standardised features) is below it; 0 means 1e-6.
	Tol float64
	// Features names the d features in the model's signature; nil names
	// them x0, x1, ...
	Features []Feature
	// Classes names the k classes in label order; nil names them "0",
	// "1", ...
	Classes []string
	// Context, when not nil, stops training with its error once done.
	Context context.Context
}

// TrainLogistic fits a logistic regression to n rows of d features (x,
// row by row) and their class labels (0..k-1). With k == 2 it fits one
// sigmoid (Predict gives P(class 1)); with k > 2 a multinomial softmax
// (Predict gives k probabilities). Every class needs at least one row.
//
// It minimises the regularised mean log loss with L-BFGS, on features
// standardised to mean 0 and variance 1 (a change of variables only: the
// objective and the saved weights are those of the raw features). The
// report holds rows, features, classes, iterations, objective (the final
// value of the minimised function), log_loss and accuracy on the
// training data, and converged (false when MaxIter stopped it).
func TrainLogistic(x []float64, n, d int, labels []int, k int, opts LogisticOptions) (*Logistic, TrainReport, error) {
	if err := checkTrainMatrix(x, n, d); err != nil {
		return nil, TrainReport{}, err
	}
	if k < 2 || k > maxForgedClasses {
		return nil, TrainReport{}, fmt.Errorf("train logistic: %d classes; want 2 to %d", k, maxForgedClasses)
	}
	if len(labels) != n {
		return nil, TrainReport{}, fmt.Errorf("train logistic: %d labels for %d rows", len(labels), n)
	}
	counts := make([]int, k)
	for i, c := range labels {
		if c < 0 || c >= k {
			return nil, TrainReport{}, fmt.Errorf("train logistic: label %d of row %d is not a class in 0..%d", c, i, k-1)
		}
		counts[c]++
	}
	if opts.L2 < 0 || math.IsNaN(opts.L2) || math.IsInf(opts.L2, 0) {
		return nil, TrainReport{}, fmt.Errorf("train logistic: l2 must be a finite number ≥ 0, not %v", opts.L2)
	}
	if opts.MaxIter < 0 || opts.Tol < 0 || math.IsNaN(opts.Tol) {
		return nil, TrainReport{}, fmt.Errorf("train logistic: max_iter and tol must not be negative")
	}
	maxIter, tol := opts.MaxIter, opts.Tol
	if maxIter == 0 {
		maxIter = 500
	}
	if tol == 0 {
		tol = 1e-6
	}
	features, err := trainFeatures(opts.Features, d)
	if err != nil {
		return nil, TrainReport{}, fmt.Errorf("train logistic: %w", err)
	}
	classes := opts.Classes
	if classes == nil {
		for c := 0; c < k; c++ {
			classes = append(classes, strconv.Itoa(c))
		}
	}
	if len(classes) != k {
		return nil, TrainReport{}, fmt.Errorf("train logistic: %d class names for %d classes", len(classes), k)
	}
	for c, name := range classes {
		if slices.Index(classes, name) != c {
			return nil, TrainReport{}, fmt.Errorf("train logistic: class %q is named twice", name)
		}
		if counts[c] == 0 {
			return nil, TrainReport{}, fmt.Errorf("train logistic: class %q has no rows; a classifier needs examples of every class", name)
		}
	}
	kind := Binary
	if k > 2 {
		kind = Multiclass
	}
	sig := Signature{Features: features, Kind: kind, Classes: slices.Clone(classes)}

	p := newLogitProblem(x, n, d, labels, k, opts.L2)
	theta := p.start(counts)
	settings := &optimize.Settings{
		GradientThreshold: tol,
		MajorIterations:   maxIter,
		Converger:         &optimize.FunctionConverge{Absolute: 1e-14, Relative: 1e-12, Iterations: 20},
	}
	if opts.Context != nil {
		settings.Recorder = ctxRecorder{opts.Context}
	}
	res, err := optimize.Minimize(optimize.Problem{Func: p.f, Grad: p.grad}, theta, settings, &optimize.LBFGS{})
	if opts.Context != nil && opts.Context.Err() != nil {
		return nil, TrainReport{}, opts.Context.Err()
	}
	if res == nil {
		return nil, TrainReport{}, fmt.Errorf("train logistic: %w", err)
	}
	// A line search that fails very close to the optimum still leaves
	// the best point found; only a non-finite one is an error.
	for _, v := range res.X {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, TrainReport{}, errors.New("train logistic: the fit diverged; scale the features or add an l2 penalty")
		}
	}
	m := p.model(sig, res.X)

	probs := make([]float64, n*sig.Width())
	if err := m.Predict(x, n, probs); err != nil {
		return nil, TrainReport{}, err
	}
	ev, err := EvaluateClassifier(labels, probs, k)
	if err != nil {
		return nil, TrainReport{}, fmt.Errorf("train logistic: %w", err)
	}
	objective := res.F
	if math.IsNaN(objective) || math.IsInf(objective, 0) {
		objective = p.f(res.X)
	}
	return m, TrainReport{Metrics: map[string]any{
		"rows":       n,
		"features":   d,
		"classes":    k,
		"l2":         opts.L2,
		"iterations": res.MajorIterations,
		"objective":  objective,
		"log_loss":   ev["log_loss"],
		"accuracy":   ev["accuracy"],
		"converged":  !res.Status.Early(),
	}}, nil
}

// ctxRecorder stops the optimiser once its context is done.
type ctxRecorder struct{ ctx context.Context }

// Init stops the optimiser before it starts when the context is done.
func (r ctxRecorder) Init() error { return r.ctx.Err() }

// Record stops the optimiser once the context is done.
func (r ctxRecorder) Record(*optimize.Location, optimize.Operation, *optimize.Stats) error {
	return r.ctx.Err()
}

// logitProblem is the training objective on standardised features. Its
// parameters are rows of d weights then an intercept: one row for a
// binary model, k for a multiclass one.
type logitProblem struct {
	x       []float64
	n, d, k int
	rows    int
	labels  []int
	l2      float64
	mean    []float64
	inv     []float64 // 1/standard deviation (1 for a constant feature)
	z       []float64 // one row of standardised features
	eta     []float64 // one row of logits
	// The last point evaluated, for the optimiser's separate calls of f
	// and grad at the same point.
	lastX []float64
	lastF float64
	lastG []float64
}

func newLogitProblem(x []float64, n, d int, labels []int, k int, l2 float64) *logitProblem {
	rows := k
	if k == 2 {
		rows = 1
	}
	p := &logitProblem{x: x, n: n, d: d, k: k, rows: rows, labels: labels, l2: l2,
		mean: make([]float64, d), inv: make([]float64, d), z: make([]float64, d), eta: make([]float64, rows)}
	for i := 0; i < n; i++ {
		for j := 0; j < d; j++ {
			p.mean[j] += x[i*d+j]
		}
	}
	for j := range p.mean {
		p.mean[j] /= float64(n)
	}
	for i := 0; i < n; i++ {
		for j := 0; j < d; j++ {
			dv := x[i*d+j] - p.mean[j]
			p.inv[j] += dv * dv
		}
	}
	for j, ss := range p.inv {
		sd := math.Sqrt(ss / float64(n))
		if sd > 0 && !math.IsInf(1/sd, 0) {
			p.inv[j] = 1 / sd
		} else {
			p.inv[j] = 1
		}
	}
	return p
}

// start returns the initial parameters: zero weights and the intercepts
// of the class frequencies.
func (p *logitProblem) start(counts []int) []float64 {
	theta := make([]float64, p.rows*(p.d+1))
	if p.rows == 1 {
		theta[p.d] = math.Log(float64(counts[1]) / float64(counts[0]))
		return theta
	}
	for c := 0; c < p.k; c++ {
		theta[c*(p.d+1)+p.d] = math.Log(float64(counts[c]) / float64(p.n))
	}
	return theta
}

func (p *logitProblem) f(theta []float64) float64 {
	p.eval(theta)
	return p.lastF
}

func (p *logitProblem) grad(g, theta []float64) {
	p.eval(theta)
	copy(g, p.lastG)
}

// eval computes the objective and its gradient at theta, once per point.
func (p *logitProblem) eval(theta []float64) {
	if p.lastX != nil && slices.Equal(p.lastX, theta) {
		return
	}
	p.lastX = append(p.lastX[:0], theta...)
	if p.lastG == nil {
		p.lastG = make([]float64, len(theta))
	}
	g := p.lastG
	clear(g)
	d, stride := p.d, p.d+1
	var loss float64
	for i := 0; i < p.n; i++ {
		for j := 0; j < d; j++ {
			p.z[j] = (p.x[i*d+j] - p.mean[j]) * p.inv[j]
		}
		for r := 0; r < p.rows; r++ {
			row := theta[r*stride : (r+1)*stride]
			s := row[d]
			for j, zj := range p.z {
				s += row[j] * zj
			}
			p.eta[r] = s
		}
		y := p.labels[i]
		if p.rows == 1 {
			// loss = log(1 + e^η) − y·η; dloss/dη = σ(η) − y.
			eta := p.eta[0]
			loss += stableSoftplus(eta)
			resid := stableSigmoid(eta)
			if y == 1 {
				loss -= eta
				resid -= 1
			}
			for j, zj := range p.z {
				g[j] += resid * zj
			}
			g[d] += resid
			continue
		}
		// loss = logΣe^η − η_y; dloss/dη_c = softmax_c − [c = y].
		lse := stableLogSumExp(p.eta)
		loss += lse - p.eta[y]
		for c := 0; c < p.rows; c++ {
			resid := math.Exp(p.eta[c] - lse)
			if c == y {
				resid -= 1
			}
			gr := g[c*stride : (c+1)*stride]
			for j, zj := range p.z {
				gr[j] += resid * zj
			}
			gr[d] += resid
		}
	}
	inv := 1 / float64(p.n)
	loss *= inv
	for i := range g {
		g[i] *= inv
	}
	// The penalty is on the raw weights w_j = θ_j/sd_j = θ_j·inv_j.
	for r := 0; r < p.rows; r++ {
		for j := 0; j < d; j++ {
			t := theta[r*stride+j]
			w := t * p.inv[j]
			loss += p.l2 / 2 * w * w
			g[r*stride+j] += p.l2 * w * p.inv[j]
		}
	}
	p.lastF = loss
}

// model converts parameters on standardised features to a model on raw
// ones: w_j = θ_j/sd_j and b = θ_b − Σ θ_j·mean_j/sd_j.
func (p *logitProblem) model(sig Signature, theta []float64) *Logistic {
	m := &Logistic{sig: sig, Weights: make([][]float64, p.rows), Intercepts: make([]float64, p.rows)}
	stride := p.d + 1
	for r := 0; r < p.rows; r++ {
		w := make([]float64, p.d)
		b := theta[r*stride+p.d]
		for j := range w {
			w[j] = theta[r*stride+j] * p.inv[j]
			b -= w[j] * p.mean[j]
		}
		m.Weights[r], m.Intercepts[r] = w, b
	}
	return m
}

// stableSoftplus is log(1 + e^x) without overflow.
func stableSoftplus(x float64) float64 {
	if x > 0 {
		return x + math.Log1p(math.Exp(-x))
	}
	return math.Log1p(math.Exp(x))
}

// stableSigmoid is 1/(1 + e^−x) without overflow.
func stableSigmoid(x float64) float64 {
	if x >= 0 {
		return 1 / (1 + math.Exp(-x))
	}
	e := math.Exp(x)
	return e / (1 + e)
}

// stableLogSumExp is log Σ e^v without overflow.
func stableLogSumExp(v []float64) float64 {
	hi := math.Inf(-1)
	for _, x := range v {
		hi = max(hi, x)
	}
	if math.IsInf(hi, 0) {
		return hi
	}
	var s float64
	for _, x := range v {
		s += math.Exp(x - hi)
	}
	return hi + math.Log(s)
}

// Signature describes the model's features and classes.
func (m *Logistic) Signature() Signature { return m.sig }

// Predict gives P(class 1) per row for a binary model and the k class
// probabilities per row for a multiclass one; a row with a missing (NaN)
// feature gives NaN.
func (m *Logistic) Predict(x []float64, n int, out []float64) error {
	if err := checkPredictSizes(m.sig, x, n, out); err != nil {
		return err
	}
	d, rows := len(m.sig.Features), len(m.Weights)
	eta := make([]float64, rows)
	for i := 0; i < n; i++ {
		row := x[i*d : (i+1)*d]
		for r, w := range m.Weights {
			s := m.Intercepts[r]
			for j, v := range row {
				s += w[j] * v
			}
			eta[r] = s
		}
		if m.sig.Kind == Binary {
			out[i] = stableSigmoid(eta[0])
			continue
		}
		o := out[i*rows : (i+1)*rows]
		lse := stableLogSumExp(eta)
		for c, e := range eta {
			o[c] = math.Exp(e - lse)
			if math.IsNaN(lse) {
				o[c] = math.NaN()
			}
		}
	}
	return nil
}

// Encode writes the model in the forged format.
func (m *Logistic) Encode() ([]byte, error) {
	return encodeForged(forgedFile{
		Type:       ForgedLogistic,
		Signature:  &m.sig,
		Weights:    m.Weights,
		Intercepts: m.Intercepts,
	})
}
