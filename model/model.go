// Package model holds what forged knows about machine-learning models:
// the loaded-model interface every format implements, the model formats
// (forged's own for its trainers, XGBoost JSON, LightGBM text), the
// trainers and the evaluation metrics. It does no I/O beyond the bytes it
// is given, and imports nothing else of forged.
package model

import (
	"errors"
	"fmt"
)

// Kind is what a model predicts.
type Kind string

// The kinds of model.
const (
	// Regressor predicts one number per row.
	Regressor Kind = "regressor"
	// Binary predicts the probability of the positive class per row.
	Binary Kind = "binary"
	// Multiclass predicts one probability per class per row.
	Multiclass Kind = "multiclass"
	// Clustering predicts a cluster number per row.
	Clustering Kind = "clustering"
)

// Feature is one input column of a model.
type Feature struct {
	Name string `json:"name"`
	// Type is "float" for any number, or "bool"; inputs are converted to
	// float64 before scoring.
	Type string `json:"type"`
}

// Signature says what a model takes and gives.
type Signature struct {
	Features []Feature `json:"features"`
	Kind     Kind      `json:"kind"`
	// Classes are the class labels of a classifier, in the order of its
	// probabilities (for Binary: negative, then positive).
	Classes []string `json:"classes,omitempty"`
}

// Width is the number of values Predict gives per row: the number of
// classes for Multiclass, else 1.
func (s Signature) Width() int {
	if s.Kind == Multiclass {
		return len(s.Classes)
	}
	return 1
}

// Validate checks that the signature is usable.
func (s Signature) Validate() error {
	if len(s.Features) == 0 {
		return errors.New("signature: no features")
	}
	seen := map[string]bool{}
	for i, f := range s.Features {
		if f.Name == "" {
			return fmt.Errorf("signature: feature %d has no name", i)
		}
		if seen[f.Name] {
			return fmt.Errorf("signature: feature %q is listed twice", f.Name)
		}
		seen[f.Name] = true
		if f.Type != "float" && f.Type != "bool" {
			return fmt.Errorf("signature: feature %q has type %q; want float or bool", f.Name, f.Type)
		}
	}
	switch s.Kind {
	case Regressor, Clustering:
	case Binary:
		if len(s.Classes) != 0 && len(s.Classes) != 2 {
			return fmt.Errorf("signature: a binary classifier has 2 classes, not %d", len(s.Classes))
		}
	case Multiclass:
		if len(s.Classes) < 2 {
			return errors.New("signature: a multiclass classifier needs its classes")
		}
	default:
		return fmt.Errorf("signature: unknown kind %q", s.Kind)
	}
	return nil
}

// Model is a loaded model. It is safe for concurrent use.
type Model interface {
	// Signature describes the model's inputs and outputs.
	Signature() Signature
	// Predict scores n rows. x holds them row by row, len(x) ==
	// n*len(Signature().Features); out receives Signature().Width()
	// values per row, len(out) == n*Width(). Missing values are NaN.
	Predict(x []float64, n int, out []float64) error
}

// Formats a model file can be in.
const (
	// FormatForged is forged's own JSON format, written by its trainers.
	FormatForged = "forged"
	// FormatXGBoost is XGBoost's JSON model (save_model("model.json")).
	FormatXGBoost = "xgboost"
	// FormatLightGBM is LightGBM's text model (save_model("model.txt")).
	FormatLightGBM = "lightgbm"
)

// Formats lists the formats Load reads.
var Formats = []string{FormatForged, FormatXGBoost, FormatLightGBM}

// MaxModelBytes bounds a model file: larger ones are refused before they
// are parsed.
const MaxModelBytes = 256 << 20

// ErrBadModel wraps every error about a malformed or unsupported model
// file.
var ErrBadModel = errors.New("bad model file")

// Load reads a model file in the given format. A malformed, truncated or
// hostile file gives an error wrapping ErrBadModel, never a panic or an
// unbounded allocation. sig, when not nil, names the features of formats
// that do not record them (XGBoost and LightGBM files may not); its
// feature count must match the model's.
func Load(format string, data []byte, sig *Signature) (m Model, err error) {
	if len(data) > MaxModelBytes {
		return nil, fmt.Errorf("%w: %d bytes, over the %d MiB limit", ErrBadModel, len(data), MaxModelBytes>>20)
	}
	defer func() {
		// The loaders check what they read; this is the last line of
		// defence against a file that still trips one of them.
		if v := recover(); v != nil {
			m, err = nil, fmt.Errorf("%w: %s model: %v", ErrBadModel, format, v)
		}
	}()
	switch format {
	case FormatForged:
		m, err = loadForged(data)
	case FormatXGBoost:
		m, err = loadXGBoost(data, sig)
	case FormatLightGBM:
		m, err = loadLightGBM(data, sig)
	default:
		return nil, fmt.Errorf("%w: unknown format %q; want forged, xgboost or lightgbm", ErrBadModel, format)
	}
	if err != nil {
		if !errors.Is(err, ErrBadModel) {
			err = fmt.Errorf("%w: %s model: %v", ErrBadModel, format, err)
		}
		return nil, err
	}
	if err := m.Signature().Validate(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadModel, err)
	}
	return m, nil
}

// Label is a classifier's label for one row of Predict's output: the
// positive class at a probability of 0.5 or more for a binary model, else
// the likeliest class.
func (s Signature) Label(row []float64) string {
	classes := s.Classes
	if s.Kind == Binary {
		if len(classes) != 2 {
			classes = []string{"0", "1"}
		}
		if row[0] >= 0.5 {
			return classes[1]
		}
		return classes[0]
	}
	best := 0
	for j, v := range row {
		if v > row[best] {
			best = j
		}
	}
	if best < len(classes) {
		return classes[best]
	}
	return fmt.Sprint(best)
}
