package ops

import (
	"math"
	"reflect"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/forged-dev/forged/model"
)

// addModelInput adds an input holding the model artifact a.
func addModelInput(te *testEnv, a ModelArtifact) {
	te.t.Helper()
	rec, err := a.Record(te.mem)
	if err != nil {
		te.t.Fatal(err)
	}
	te.t.Cleanup(rec.Release)
	te.addInput(ModelArtifactSchema, rec)
}

// evaluation returns evaluate's output table as metric → value, nil for
// a null.
func evaluation(t *testing.T, te *testEnv) map[string]*float64 {
	t.Helper()
	out := te.out()
	if !out.schema.Equal(evaluateSchema) {
		t.Fatalf("schema = %s", out.schema)
	}
	res := map[string]*float64{}
	for _, rec := range out.recs {
		names, vals := rec.Column(0).(*array.String), rec.Column(1).(*array.Float64)
		for i := 0; i < int(rec.NumRows()); i++ {
			if vals.IsNull(i) {
				res[names.Value(i)] = nil
				continue
			}
			v := vals.Value(i)
			res[names.Value(i)] = &v
		}
	}
	return res
}

func wantValue(t *testing.T, res map[string]*float64, name string, want float64) {
	t.Helper()
	got, ok := res[name]
	if !ok || got == nil {
		t.Errorf("%s is missing or null, want %v", name, want)
	} else if math.Abs(*got-want) > 1e-12 {
		t.Errorf("%s = %v, want %v", name, *got, want)
	}
}

func TestEvaluateTrainedRegressor(t *testing.T) {
	tr := newEnv(t, map[string]any{"label": "y", "features": []any{"x1", "x2", "flag"}})
	tr.addJSONInput(linearSchema, linearRows...)
	if err := tr.run(trainLinearOp()); err != nil {
		t.Fatal(err)
	}
	// The test rows follow y = 1 + 2·x1 − 0.5·x2 + 3·flag + e with
	// e = +1, −1, +1, −1 (the model gives 7.5, 4.5, 5, 10): rmse = mae =
	// 1. Targets 8.5, 3.5, 6, 9: ȳ = 6.75, SStot = 1.75² + 3.25² + 0.75² +
	// 2.25² = 3.0625 + 10.5625 + 0.5625 + 5.0625 = 19.25, SSres = 4,
	// r2 = 1 − 4/19.25.
	te := newEnv(t, map[string]any{"label": "y"})
	te.addInput(ModelArtifactSchema, tr.out().recs...)
	te.addJSONInput(linearSchema,
		`[{"x1": 2, "x2": 1, "flag": true, "name": "p", "y": 8.5}, {"x1": 0, "x2": -1, "flag": true, "name": "q", "y": 3.5}]`,
		`[{"x1": 1, "x2": 2, "flag": true, "name": "r", "y": 6}, {"x1": 4, "x2": -2, "flag": false, "name": "s", "y": 9}]`)
	if err := te.run(evaluateOp()); err != nil {
		t.Fatal(err)
	}
	res := evaluation(t, te)
	wantValue(t, res, "rmse", 1)
	wantValue(t, res, "mae", 1)
	wantValue(t, res, "r2", 1-4/19.25)
	wantValue(t, res, "rows", 4)
	wantValue(t, res, "rows_dropped", 0)
	if len(res) != 5 {
		t.Errorf("metrics = %v", res)
	}
	if v := te.metrics["rmse"].(float64); math.Abs(v-1) > 1e-12 {
		t.Errorf("metric rmse = %v", v)
	}
}

// handModel is a binary logistic model P(yes) = σ(s), written by hand.
func handModel(t *testing.T) ModelArtifact {
	sig := model.Signature{Features: []model.Feature{{Name: "s", Type: "float"}}, Kind: model.Binary, Classes: []string{"no", "yes"}}
	data := []byte(`{"forged_model": 1, "type": "logistic", "signature": {"features": [{"name": "s", "type": "float"}],
		"kind": "binary", "classes": ["no", "yes"]}, "weights": [[1]], "intercepts": [0]}`)
	return NewModelArtifact(model.FormatForged, sig, data)
}

func TestEvaluateClassifierOp(t *testing.T) {
	te := newEnv(t, map[string]any{"label": "truth", "drop_nulls": true})
	addModelInput(te, handModel(t))
	schema := schemaOf(field("s", arrow.PrimitiveTypes.Float64), field("truth", arrow.BinaryTypes.String))
	te.addJSONInput(schema,
		`[{"s": -2, "truth": "no"}, {"s": 1, "truth": "yes"}, {"s": 3, "truth": null}]`,
		`[{"s": 0.5, "truth": "no"}, {"s": -1, "truth": "yes"}]`)
	if err := te.run(evaluateOp()); err != nil {
		t.Fatal(err)
	}
	res := evaluation(t, te)
	sig := func(x float64) float64 { return 1 / (1 + math.Exp(-x)) }
	// P(yes) = σ(−2) ≈ .12, σ(1) ≈ .73, σ(.5) ≈ .62, σ(−1) ≈ .27 for
	// no, yes, no, yes (the null row dropped): predicted no, yes, yes, no.
	// Confusion [[1 1] [1 1]]: accuracy 1/2; TP 1, FP 1, FN 1: precision,
	// recall and f1 1/2. AUC: yes scores .73 and .27 against no scores
	// .12 and .62: .73 beats both, .27 beats .12: 3/4.
	wantValue(t, res, "accuracy", 0.5)
	wantValue(t, res, "precision", 0.5)
	wantValue(t, res, "recall", 0.5)
	wantValue(t, res, "f1", 0.5)
	wantValue(t, res, "roc_auc", 0.75)
	wantValue(t, res, "log_loss", -(math.Log(1-sig(-2))+math.Log(sig(1))+math.Log(1-sig(0.5))+math.Log(sig(-1)))/4)
	wantValue(t, res, "rows", 4)
	wantValue(t, res, "rows_dropped", 1)
	if _, ok := res["confusion_matrix"]; ok {
		t.Error("the confusion matrix is in the table")
	}
	if cm := te.metrics["confusion_matrix"]; !reflect.DeepEqual(cm, [][]int64{{1, 1}, {1, 1}}) {
		t.Errorf("confusion_matrix metric = %v", cm)
	}
	if te.metrics["accuracy"] != 0.5 {
		t.Errorf("metrics = %v", te.metrics)
	}
}

func TestEvaluateTrainedClassifier(t *testing.T) {
	tr := newEnv(t, map[string]any{"label": "animal", "features": []any{"score"}})
	tr.addJSONInput(classSchema, classRows...)
	if err := tr.run(trainLogisticOp()); err != nil {
		t.Fatal(err)
	}
	// P(dog) rises with score and crosses 0.5 between −0.5 and 0.5, so
	// the cat at −1 and the dogs at 1 and 2 are right, the cat at 4 wrong:
	// accuracy 3/4; for dog, TP 2, FP 1, FN 0: precision 2/3, recall 1.
	// AUC: the dogs (1, 2) each beat the cat at −1 and lose to the one at
	// 4: 2 of 4 pairs.
	te := newEnv(t, map[string]any{"label": "animal"})
	te.addInput(ModelArtifactSchema, tr.out().recs...)
	te.addJSONInput(classSchema, `[{"score": -1, "age": 0, "animal": "cat"}, {"score": 1, "age": 0, "animal": "dog"},
		{"score": 2, "age": 0, "animal": "dog"}, {"score": 4, "age": 0, "animal": "cat"}]`)
	if err := te.run(evaluateOp()); err != nil {
		t.Fatal(err)
	}
	res := evaluation(t, te)
	wantValue(t, res, "accuracy", 0.75)
	wantValue(t, res, "roc_auc", 0.5)
	wantValue(t, res, "precision", 2.0/3)
	wantValue(t, res, "recall", 1)
}

func TestEvaluateBinaryWithoutClasses(t *testing.T) {
	// A binary model that names no classes (as XGBoost files may not)
	// takes false/true (or 0/1) labels: P(true) = σ(s).
	sig := model.Signature{Features: []model.Feature{{Name: "s", Type: "float"}}, Kind: model.Binary}
	data := []byte(`{"forged_model": 1, "type": "logistic", "signature": {"features": [{"name": "s", "type": "float"}],
		"kind": "binary"}, "weights": [[1]], "intercepts": [0]}`)
	te := newEnv(t, map[string]any{"label": "truth"})
	addModelInput(te, NewModelArtifact(model.FormatForged, sig, data))
	schema := schemaOf(field("s", arrow.PrimitiveTypes.Float64), field("truth", arrow.FixedWidthTypes.Boolean))
	te.addJSONInput(schema, `[{"s": 2, "truth": true}, {"s": -2, "truth": false}, {"s": 1, "truth": false}]`)
	if err := te.run(evaluateOp()); err != nil {
		t.Fatal(err)
	}
	// Predicted true, false, true: accuracy 2/3, precision 1/2, recall 1;
	// AUC: the true row (2) beats both false rows (−2, 1): 1.
	res := evaluation(t, te)
	wantValue(t, res, "accuracy", 2.0/3)
	wantValue(t, res, "precision", 0.5)
	wantValue(t, res, "recall", 1)
	wantValue(t, res, "roc_auc", 1)
}

func TestEvaluateUndefinedMetric(t *testing.T) {
	// Only "yes" rows: AUC is undefined, a null in the table.
	te := newEnv(t, map[string]any{"label": "truth"})
	addModelInput(te, handModel(t))
	schema := schemaOf(field("s", arrow.PrimitiveTypes.Float64), field("truth", arrow.BinaryTypes.String))
	te.addJSONInput(schema, `[{"s": 1, "truth": "yes"}, {"s": -1, "truth": "yes"}]`)
	if err := te.run(evaluateOp()); err != nil {
		t.Fatal(err)
	}
	res := evaluation(t, te)
	if v, ok := res["roc_auc"]; !ok || v != nil {
		t.Errorf("roc_auc = %v, want null", v)
	}
	if v, ok := te.metrics["roc_auc"]; !ok || v != nil {
		t.Errorf("metric roc_auc = %v, want nil", v)
	}
	wantValue(t, res, "accuracy", 0.5)
}

func TestEvaluateOpErrors(t *testing.T) {
	schema := schemaOf(field("s", arrow.PrimitiveTypes.Float64), field("truth", arrow.BinaryTypes.String),
		field("other", arrow.BinaryTypes.String))
	kmData := []byte(`{"forged_model": 1, "type": "kmeans", "signature": {"features": [{"name": "s", "type": "float"}],
		"kind": "clustering"}, "centroids": [[0], [1]]}`)
	kmSig := model.Signature{Features: []model.Feature{{Name: "s", Type: "float"}}, Kind: model.Clustering}
	for _, c := range []struct {
		name  string
		with  map[string]any
		model ModelArtifact
		rows  string
		want  string
	}{
		{"unknown class", map[string]any{"label": "truth"}, handModel(t), `[{"s": 1, "truth": "yes"}, {"s": 1, "truth": "maybe"}]`,
			`label "maybe" in column "truth" at row 2 is not one of the model's classes (no, yes)`},
		{"null label", map[string]any{"label": "truth"}, handModel(t), `[{"s": 1, "truth": null}]`, `label column "truth" is null at row 1`},
		{"missing label", map[string]any{"label": "nope"}, handModel(t), `[{"s": 1, "truth": "yes"}]`, `no column "nope"`},
		{"no label", map[string]any{}, handModel(t), `[{"s": 1, "truth": "yes"}]`, `with.label is required`},
		{"null feature", map[string]any{"label": "truth"}, handModel(t), `[{"s": null, "truth": "yes"}]`, `no prediction for row 1`},
		{"clustering", map[string]any{"label": "truth"}, NewModelArtifact(model.FormatForged, kmSig, kmData), `[{"s": 1, "truth": "yes"}]`, `clustering`},
		{"bad checksum", map[string]any{"label": "truth"}, func() ModelArtifact { a := handModel(t); a.SHA256 = "00"; return a }(),
			`[{"s": 1, "truth": "yes"}]`, `checksum`},
		{"string regression label", map[string]any{"label": "truth"}, regressorArtifact(t), `[{"s": 1, "truth": "yes"}]`, `label column "truth" is utf8`},
	} {
		t.Run(c.name, func(t *testing.T) {
			te := newEnv(t, c.with)
			addModelInput(te, c.model)
			te.addJSONInput(schema, c.rows)
			wantErr(t, te.run(evaluateOp()), c.want)
		})
	}
	// A feature the model needs is not a column.
	te := newEnv(t, map[string]any{"label": "truth"})
	addModelInput(te, handModel(t))
	te.addJSONInput(schemaOf(field("t", arrow.PrimitiveTypes.Float64), field("truth", arrow.BinaryTypes.String)), `[{"t": 1, "truth": "yes"}]`)
	wantErr(t, te.run(evaluateOp()), `"s"`)
	// A table, not a model, as the first input.
	te = newEnv(t, map[string]any{"label": "truth"})
	te.addJSONInput(schema, `[{"s": 1, "truth": "yes"}]`)
	te.addJSONInput(schema, `[{"s": 1, "truth": "yes"}]`)
	wantErr(t, te.run(evaluateOp()), `not a model`)
}

func regressorArtifact(t *testing.T) ModelArtifact {
	m, _, err := model.TrainLinear([]float64{0, 1, 2}, 3, 1, []float64{1, 3, 5},
		model.LinearOptions{FitIntercept: true, Features: []model.Feature{{Name: "s", Type: "float"}}})
	if err != nil {
		t.Fatal(err)
	}
	data, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return NewModelArtifact(model.FormatForged, m.Signature(), data)
}
