package model

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
)

// forged's own model format is one JSON object:
//
//	{
//	  "forged_model": 1,
//	  "type": "linear" | "logistic" | "kmeans",
//	  "signature": {"features": [{"name": "x", "type": "float"}, ...], "kind": ..., "classes": [...]},
//	  "weights": [[w1, ..., wd], ...],   // linear: 1 row; logistic: 1 row (binary) or one per class
//	  "intercepts": [b, ...],            // one per row of weights
//	  "centroids": [[c1, ..., cd], ...]  // kmeans only: one row per cluster
//	}
//
// Every row has one number per feature. A linear model has kind
// regressor; a logistic one binary (one weight row: the log-odds of the
// second class) or multiclass (one row per class, softmax); a kmeans one
// clustering. Unknown fields, trailing data, non-finite numbers and
// mismatched lengths are refused.

// ForgedVersion is the version of the forged model format this package
// writes and reads.
const ForgedVersion = 1

// Types of model in the forged format.
const (
	// ForgedLinear is a linear regression.
	ForgedLinear = "linear"
	// ForgedLogistic is a logistic (binary) or softmax (multiclass)
	// regression.
	ForgedLogistic = "logistic"
	// ForgedKMeans is a k-means clustering.
	ForgedKMeans = "kmeans"
)

// Bounds of a forged model file, well above any model forged trains but
// low enough that a hostile file cannot ask for absurd work.
const (
	maxForgedFeatures = 1 << 16
	maxForgedClasses  = 1 << 12
	maxForgedClusters = 1 << 16
	maxForgedNumbers  = 1 << 25
)

// forgedFile is the JSON document of the forged format.
type forgedFile struct {
	Version    *int        `json:"forged_model"`
	Type       string      `json:"type"`
	Signature  *Signature  `json:"signature"`
	Weights    [][]float64 `json:"weights,omitempty"`
	Intercepts []float64   `json:"intercepts,omitempty"`
	Centroids  [][]float64 `json:"centroids,omitempty"`
}

// EncodeForged writes a model trained by this package (a *Linear,
// *Logistic or *KMeans) in the forged format.
func EncodeForged(m Model) ([]byte, error) {
	switch m := m.(type) {
	case *Linear:
		if m != nil {
			return m.Encode()
		}
	case *Logistic:
		if m != nil {
			return m.Encode()
		}
	case *KMeans:
		if m != nil {
			return m.Encode()
		}
	}
	return nil, fmt.Errorf("forged format: cannot encode a %T", m)
}

// encodeForged checks f as loadForged would, then renders it.
func encodeForged(f forgedFile) ([]byte, error) {
	v := ForgedVersion
	f.Version = &v
	if _, err := checkForged(&f); err != nil {
		return nil, fmt.Errorf("encode forged model: %w", err)
	}
	b, err := json.Marshal(f)
	if err != nil {
		return nil, fmt.Errorf("encode forged model: %w", err)
	}
	return b, nil
}

// loadForged parses a model in the forged format.
func loadForged(data []byte) (Model, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var f forgedFile
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("%w: forged model: %v", ErrBadModel, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: forged model: data after the model object", ErrBadModel)
	}
	m, err := checkForged(&f)
	if err != nil {
		return nil, fmt.Errorf("%w: forged model: %v", ErrBadModel, err)
	}
	return m, nil
}

// checkForged validates a decoded file and builds its model.
func checkForged(f *forgedFile) (Model, error) {
	if f.Version == nil {
		return nil, errors.New(`not a forged model: no "forged_model" version`)
	}
	if *f.Version != ForgedVersion {
		return nil, fmt.Errorf("version %d; this forged reads version %d", *f.Version, ForgedVersion)
	}
	if f.Signature == nil {
		return nil, errors.New("no signature")
	}
	sig := *f.Signature
	if len(sig.Features) > maxForgedFeatures {
		return nil, fmt.Errorf("%d features, over the limit of %d", len(sig.Features), maxForgedFeatures)
	}
	if len(sig.Classes) > maxForgedClasses {
		return nil, fmt.Errorf("%d classes, over the limit of %d", len(sig.Classes), maxForgedClasses)
	}
	if err := sig.Validate(); err != nil {
		return nil, err
	}
	d := len(sig.Features)
	switch f.Type {
	case ForgedLinear:
		if sig.Kind != Regressor {
			return nil, fmt.Errorf("a linear model is a regressor, not %s", sig.Kind)
		}
		if err := checkForgedRows("weights", f.Weights, 1, d); err != nil {
			return nil, err
		}
		if err := checkForgedVector("intercepts", f.Intercepts, 1); err != nil {
			return nil, err
		}
		if f.Centroids != nil {
			return nil, errors.New("a linear model has no centroids")
		}
		return &Linear{sig: sig, Weights: f.Weights[0], Intercept: f.Intercepts[0]}, nil
	case ForgedLogistic:
		rows := 0
		switch sig.Kind {
		case Binary:
			rows = 1
		case Multiclass:
			rows = len(sig.Classes)
		default:
			return nil, fmt.Errorf("a logistic model is binary or multiclass, not %s", sig.Kind)
		}
		if err := checkForgedRows("weights", f.Weights, rows, d); err != nil {
			return nil, err
		}
		if err := checkForgedVector("intercepts", f.Intercepts, rows); err != nil {
			return nil, err
		}
		if f.Centroids != nil {
			return nil, errors.New("a logistic model has no centroids")
		}
		return &Logistic{sig: sig, Weights: f.Weights, Intercepts: f.Intercepts}, nil
	case ForgedKMeans:
		if sig.Kind != Clustering {
			return nil, fmt.Errorf("a kmeans model is a clustering, not %s", sig.Kind)
		}
		k := len(f.Centroids)
		if k == 0 || k > maxForgedClusters {
			return nil, fmt.Errorf("%d centroids; want 1 to %d", k, maxForgedClusters)
		}
		if err := checkForgedRows("centroids", f.Centroids, k, d); err != nil {
			return nil, err
		}
		if f.Weights != nil || f.Intercepts != nil {
			return nil, errors.New("a kmeans model has no weights or intercepts")
		}
		return &KMeans{sig: sig, Centroids: f.Centroids}, nil
	case "":
		return nil, errors.New("no model type")
	}
	return nil, fmt.Errorf("unknown model type %q; want linear, logistic or kmeans", f.Type)
}

// checkForgedRows checks that m is rows×cols of finite numbers.
func checkForgedRows(what string, m [][]float64, rows, cols int) error {
	if len(m) != rows {
		return fmt.Errorf("%s: %d rows, want %d", what, len(m), rows)
	}
	if rows*cols > maxForgedNumbers {
		return fmt.Errorf("%s: %d×%d numbers, over the limit of %d", what, rows, cols, maxForgedNumbers)
	}
	for i, r := range m {
		if err := checkForgedVector(fmt.Sprintf("%s[%d]", what, i), r, cols); err != nil {
			return err
		}
	}
	return nil
}

// checkForgedVector checks that v holds n finite numbers.
func checkForgedVector(what string, v []float64, n int) error {
	if len(v) != n {
		return fmt.Errorf("%s: %d numbers, want %d", what, len(v), n)
	}
	for i, x := range v {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return fmt.Errorf("%s[%d] is %v", what, i, x)
		}
	}
	return nil
}

// checkPredictSizes checks Predict's buffer sizes.
func checkPredictSizes(sig Signature, x []float64, n int, out []float64) error {
	d, w := len(sig.Features), sig.Width()
	if n < 0 {
		return fmt.Errorf("predict: %d rows", n)
	}
	if len(x) != n*d {
		return fmt.Errorf("predict: %d feature values for %d rows of %d features; want %d", len(x), n, d, n*d)
	}
	if len(out) != n*w {
		return fmt.Errorf("predict: room for %d outputs; want %d (%d rows × %d)", len(out), n*w, n, w)
	}
	return nil
}

// placeholderFeatures names d float features x0, x1, ...
func placeholderFeatures(d int) []Feature {
	fs := make([]Feature, d)
	for j := range fs {
		fs[j] = Feature{Name: fmt.Sprintf("x%d", j), Type: "float"}
	}
	return fs
}

// trainFeatures returns the features a trainer records: given, or named
// x0, x1, ... when nil.
func trainFeatures(given []Feature, d int) ([]Feature, error) {
	if given == nil {
		return placeholderFeatures(d), nil
	}
	if len(given) != d {
		return nil, fmt.Errorf("%d feature names for %d features", len(given), d)
	}
	return append([]Feature(nil), given...), nil
}

// checkTrainMatrix checks the shape and values of a trainer's input.
func checkTrainMatrix(x []float64, n, d int) error {
	if n <= 0 || d <= 0 {
		return fmt.Errorf("train: %d rows of %d features; want at least one of each", n, d)
	}
	if d > maxForgedFeatures {
		return fmt.Errorf("train: %d features, over the limit of %d", d, maxForgedFeatures)
	}
	if len(x) != n*d {
		return fmt.Errorf("train: %d values for %d rows of %d features; want %d", len(x), n, d, n*d)
	}
	for i, v := range x {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("train: feature %d of row %d is %v; drop or fill missing values first", i%d, i/d, v)
		}
	}
	return nil
}

// TrainReport describes a training run.
type TrainReport struct {
	// Metrics are the training metrics by name (such as iterations, loss,
	// inertia, r2); every value is an int, a float64 that is finite, a
	// bool or nil (undefined), so it encodes as JSON.
	Metrics map[string]any
}
