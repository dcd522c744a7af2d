package ops

import (
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/forged-dev/forged/model"
)

// trainedArtifact reads the model a training env wrote.
func trainedArtifact(t *testing.T, te *testEnv) (ModelArtifact, model.Model) {
	t.Helper()
	out := te.out()
	if !out.schema.Equal(ModelArtifactSchema) || out.rows() != 1 {
		t.Fatalf("model output: %d rows of %s", out.rows(), out.schema)
	}
	rr, err := array.NewRecordReader(ModelArtifactSchema, out.recs)
	if err != nil {
		t.Fatal(err)
	}
	defer rr.Release()
	a, err := ReadModelArtifact(rr)
	if err != nil {
		t.Fatal(err)
	}
	if a.Format != model.FormatForged {
		t.Errorf("format = %q", a.Format)
	}
	m, err := a.Load()
	if err != nil {
		t.Fatal(err)
	}
	return a, m
}

var linearSchema = schemaOf(
	field("x1", arrow.PrimitiveTypes.Int64),
	field("x2", arrow.PrimitiveTypes.Float64),
	field("flag", arrow.FixedWidthTypes.Boolean),
	field("name", arrow.BinaryTypes.String),
	field("y", arrow.PrimitiveTypes.Float64),
)

// linearRows holds y = 1 + 2·x1 − 0.5·x2 + 3·flag exactly, in two batches.
var linearRows = []string{
	`[{"x1": 1, "x2": 0.5, "flag": true, "name": "a", "y": 5.75},
	  {"x1": 2, "x2": -1, "flag": false, "name": "b", "y": 5.5},
	  {"x1": 3, "x2": 2, "flag": true, "name": "c", "y": 9}]`,
	`[{"x1": 4, "x2": 4, "flag": false, "name": "d", "y": 7},
	  {"x1": 5, "x2": 0, "flag": false, "name": "e", "y": 11},
	  {"x1": 6, "x2": 3, "flag": true, "name": "f", "y": 14.5}]`,
}

func TestTrainLinearOp(t *testing.T) {
	for _, with := range []map[string]any{
		{"label": "y", "features": []any{"x1", "x2", "flag"}},
		{"label": "y"}, // the default: every number and bool column but y
	} {
		te := newEnv(t, with)
		te.addJSONInput(linearSchema, linearRows...)
		if err := te.run(trainLinearOp()); err != nil {
			t.Fatal(err)
		}
		a, m := trainedArtifact(t, te)
		sig := m.Signature()
		want := []model.Feature{{Name: "x1", Type: "float"}, {Name: "x2", Type: "float"}, {Name: "flag", Type: "bool"}}
		if sig.Kind != model.Regressor || !reflect.DeepEqual(sig.Features, want) || !reflect.DeepEqual(a.Signature, sig) {
			t.Fatalf("signature = %+v, artifact's %+v", sig, a.Signature)
		}
		lin := m.(*model.Linear)
		for j, w := range []float64{2, -0.5, 3} {
			if math.Abs(lin.Weights[j]-w) > 1e-9 {
				t.Errorf("weight %d = %v, want %v", j, lin.Weights[j], w)
			}
		}
		if math.Abs(lin.Intercept-1) > 1e-9 {
			t.Errorf("intercept = %v", lin.Intercept)
		}
		if r2 := te.metrics["r2"].(float64); math.Abs(r2-1) > 1e-12 {
			t.Errorf("r2 = %v", r2)
		}
		if te.metrics["rows"] != 6 || te.metrics["rows_dropped"] != int64(0) || te.metrics["features"] != 3 {
			t.Errorf("metrics = %v", te.metrics)
		}
	}
}

func TestTrainLinearOpRidgeNoIntercept(t *testing.T) {
	// Through the origin with λ = 1 on one feature: w = Σxy/(Σx² + λ).
	// x = 1..6 (x1), y as in linearRows: Σxy = 5.75 + 11 + 27 + 28 + 55 +
	// 87 = 213.75, Σx² = 91, so w = 213.75/92.
	te := newEnv(t, map[string]any{"label": "y", "features": []any{"x1"}, "ridge": 1, "fit_intercept": false})
	te.addJSONInput(linearSchema, linearRows...)
	if err := te.run(trainLinearOp()); err != nil {
		t.Fatal(err)
	}
	_, m := trainedArtifact(t, te)
	lin := m.(*model.Linear)
	if math.Abs(lin.Weights[0]-213.75/92) > 1e-12 || lin.Intercept != 0 {
		t.Errorf("model = %+v", lin)
	}
}

var classSchema = schemaOf(
	field("score", arrow.PrimitiveTypes.Float64),
	field("age", arrow.PrimitiveTypes.Int32),
	field("animal", arrow.BinaryTypes.String),
)

// classRows are separable by score: cat below 0, dog above.
var classRows = []string{
	`[{"score": -3, "age": 5, "animal": "cat"}, {"score": -2, "age": 1, "animal": "cat"},
	  {"score": -1.5, "age": 7, "animal": "cat"}, {"score": -0.5, "age": 3, "animal": "cat"}]`,
	`[{"score": 0.5, "age": 2, "animal": "dog"}, {"score": 1, "age": 6, "animal": "dog"},
	  {"score": 2, "age": 4, "animal": "dog"}, {"score": 3, "age": 8, "animal": "dog"}]`,
}

func TestTrainLogisticOpBinary(t *testing.T) {
	te := newEnv(t, map[string]any{"label": "animal", "l2": 0.01})
	te.addJSONInput(classSchema, classRows...)
	if err := te.run(trainLogisticOp()); err != nil {
		t.Fatal(err)
	}
	_, m := trainedArtifact(t, te)
	sig := m.Signature()
	if sig.Kind != model.Binary || !reflect.DeepEqual(sig.Classes, []string{"cat", "dog"}) || len(sig.Features) != 2 {
		t.Fatalf("signature = %+v", sig)
	}
	if te.metrics["classes"] != 2 || te.metrics["rows"] != 8 || te.metrics["accuracy"] != 1.0 {
		t.Errorf("metrics = %v", te.metrics)
	}
	// P(dog) rises with score.
	out := make([]float64, 2)
	if err := m.Predict([]float64{-2, 4, 2, 4}, 2, out); err != nil {
		t.Fatal(err)
	}
	if out[0] >= 0.5 || out[1] <= 0.5 {
		t.Errorf("P(dog) = %v", out)
	}
}

func TestTrainLogisticOpClassOrder(t *testing.T) {
	// Integer labels sort by value (2 < 10 < 33), not as text.
	schema := schemaOf(field("a", arrow.PrimitiveTypes.Float64), field("b", arrow.PrimitiveTypes.Float64),
		field("k", arrow.PrimitiveTypes.Int64))
	var rows []string
	for i := 0; i < 12; i++ {
		o := float64(i%4) * 0.1
		switch i % 3 {
		case 0:
			rows = append(rows, jsonRow(o, o, 10))
		case 1:
			rows = append(rows, jsonRow(5+o, o, 2))
		case 2:
			rows = append(rows, jsonRow(o, 5+o, 33))
		}
	}
	te := newEnv(t, map[string]any{"label": "k", "features": []any{"a", "b"}})
	te.addJSONInput(schema, "["+strings.Join(rows, ",")+"]")
	if err := te.run(trainLogisticOp()); err != nil {
		t.Fatal(err)
	}
	_, m := trainedArtifact(t, te)
	sig := m.Signature()
	if sig.Kind != model.Multiclass || !reflect.DeepEqual(sig.Classes, []string{"2", "10", "33"}) {
		t.Fatalf("signature = %+v", sig)
	}
	if te.metrics["accuracy"] != 1.0 {
		t.Errorf("metrics = %v", te.metrics)
	}
	out := make([]float64, 3)
	if err := m.Predict([]float64{5, 0}, 1, out); err != nil {
		t.Fatal(err)
	}
	if sig.Label(out) != "2" {
		t.Errorf("a point at (5, 0) is labelled %s (%v)", sig.Label(out), out)
	}
}

func jsonRow(a, b float64, k int) string {
	return fmt.Sprintf(`{"a": %g, "b": %g, "k": %d}`, a, b, k)
}

func TestTrainKMeansOp(t *testing.T) {
	schema := schemaOf(field("a", arrow.PrimitiveTypes.Float64), field("b", arrow.PrimitiveTypes.Float64),
		field("tag", arrow.BinaryTypes.String))
	rows := `[{"a": 0, "b": 0, "tag": "x"}, {"a": 10, "b": 10, "tag": "y"}, {"a": 0.2, "b": 0.1, "tag": "x"},
	  {"a": 10.2, "b": 9.9, "tag": "y"}, {"a": 0.1, "b": 0.2, "tag": "x"}, {"a": 9.8, "b": 10.1, "tag": "y"}]`
	te := newEnv(t, map[string]any{"k": 2, "seed": 7})
	te.addJSONInput(schema, rows)
	if err := te.run(trainKMeansOp()); err != nil {
		t.Fatal(err)
	}
	_, m := trainedArtifact(t, te)
	km := m.(*model.KMeans)
	if m.Signature().Kind != model.Clustering || len(km.Centroids) != 2 || len(m.Signature().Features) != 2 {
		t.Fatalf("model = %+v", km)
	}
	out := make([]float64, 6)
	if err := m.Predict([]float64{0, 0, 10, 10, 0.2, 0.1, 10.2, 9.9, 0.1, 0.2, 9.8, 10.1}, 6, out); err != nil {
		t.Fatal(err)
	}
	if out[0] != out[2] || out[0] != out[4] || out[1] != out[3] || out[1] != out[5] || out[0] == out[1] {
		t.Errorf("clusters = %v", out)
	}
	// Inertia: (0,0), (0.2,0.1), (0.1,0.2) about their mean (0.1,0.1) give
	// 0.02 + 0.01 + 0.01 = 0.04; (10,10), (10.2,9.9), (9.8,10.1) about
	// (10,10) give 0 + 0.05 + 0.05 = 0.1; total 0.14.
	if in := te.metrics["inertia"].(float64); math.Abs(in-0.14) > 1e-9 {
		t.Errorf("inertia = %v", in)
	}
	if te.metrics["k"] != 2 || te.metrics["converged"] != true {
		t.Errorf("metrics = %v", te.metrics)
	}
}

func TestTrainOpErrors(t *testing.T) {
	nullSchema := schemaOf(field("x", arrow.PrimitiveTypes.Float64), field("y", arrow.PrimitiveTypes.Float64))
	nullRows := `[{"x": 1, "y": 2}, {"x": 2, "y": null}, {"x": 3, "y": 7}, {"x": null, "y": 1}, {"x": 4, "y": 8}]`
	for _, c := range []struct {
		name   string
		op     Op
		with   map[string]any
		schema *arrow.Schema
		rows   string
		want   string
	}{
		{"missing label", trainLinearOp(), map[string]any{"label": "nope"}, linearSchema, linearRows[0], `no column "nope"`},
		{"missing feature", trainLinearOp(), map[string]any{"label": "y", "features": []any{"x1", "zz"}}, linearSchema, linearRows[0], `no column "zz"`},
		{"string feature", trainLinearOp(), map[string]any{"label": "y", "features": []any{"x1", "name"}}, linearSchema, linearRows[0], `feature column "name" is utf8`},
		{"label as feature", trainLinearOp(), map[string]any{"label": "y", "features": []any{"y"}}, linearSchema, linearRows[0], `"y" is the label`},
		{"twice", trainLinearOp(), map[string]any{"label": "y", "features": []any{"x1", "x1"}}, linearSchema, linearRows[0], `"x1" is listed twice`},
		{"string label", trainLinearOp(), map[string]any{"label": "name"}, linearSchema, linearRows[0], `label column "name" is utf8`},
		{"null label", trainLinearOp(), map[string]any{"label": "y"}, nullSchema, nullRows, `column "y" is null (or NaN or infinite) at row 2`},
		{"null feature", trainKMeansOp(), map[string]any{"k": 2}, nullSchema, nullRows, `column "y" is null (or NaN or infinite) at row 2`},
		{"null feature x", trainLinearOp(), map[string]any{"label": "y", "drop_nulls": false}, nullSchema, `[{"x": null, "y": 1}]`, `column "x" is null`},
		{"float class", trainLogisticOp(), map[string]any{"label": "y"}, nullSchema, nullRows, `label column "y" is float64; a class label is an int, bool or string column`},
		{"one class", trainLogisticOp(), map[string]any{"label": "animal"}, classSchema, `[{"score": 1, "age": 1, "animal": "cat"}]`, `single value "cat"`},
		{"no label", trainLogisticOp(), map[string]any{}, classSchema, classRows[0], `with.label is required`},
		{"bad ridge", trainLinearOp(), map[string]any{"label": "y", "ridge": "lots"}, linearSchema, linearRows[0], `with.ridge: want a number`},
		{"negative ridge", trainLinearOp(), map[string]any{"label": "y", "ridge": -1}, linearSchema, linearRows[0], `with.ridge`},
		{"k", trainKMeansOp(), map[string]any{"k": 0}, linearSchema, linearRows[0], `with.k`},
		{"k > rows", trainKMeansOp(), map[string]any{"k": 9}, linearSchema, linearRows[0], `9 clusters for only 3 rows`},
		{"no numbers", trainKMeansOp(), map[string]any{"k": 1}, schemaOf(field("s", arrow.BinaryTypes.String)), `[{"s": "a"}]`, `no number or bool columns`},
		{"empty", trainLinearOp(), map[string]any{"label": "y"}, linearSchema, `[]`, `no rows`},
		{"all dropped", trainLinearOp(), map[string]any{"label": "y", "drop_nulls": true}, nullSchema, `[{"x": null, "y": 1}]`, `every one of the 1 rows`},
	} {
		t.Run(c.name, func(t *testing.T) {
			te := newEnv(t, c.with)
			te.addJSONInput(c.schema, c.rows)
			wantErr(t, te.run(c.op), c.want)
		})
	}
}

func TestTrainOpDropNulls(t *testing.T) {
	// Rows 2 and 4 have a null; the rest fit y = 2x + 0 except row 1
	// (y = 2 at x = 1), so the fit is over (1,2), (3,7), (4,8).
	nullSchema := schemaOf(field("x", arrow.PrimitiveTypes.Float64), field("y", arrow.PrimitiveTypes.Float64))
	te := newEnv(t, map[string]any{"label": "y", "drop_nulls": true})
	te.addJSONInput(nullSchema, `[{"x": 1, "y": 2}, {"x": 2, "y": null}]`, `[{"x": 3, "y": 7}, {"x": null, "y": 1}, {"x": 4, "y": 8}]`)
	if err := te.run(trainLinearOp()); err != nil {
		t.Fatal(err)
	}
	_, m := trainedArtifact(t, te)
	lin := m.(*model.Linear)
	// OLS over x = 1, 3, 4 and y = 2, 7, 8: x̄ = 8/3, ȳ = 17/3,
	// Sxy = (−5/3)(−11/3) + (1/3)(4/3) + (4/3)(7/3) = (55+4+28)/9 = 87/9,
	// Sxx = 25/9 + 1/9 + 16/9 = 42/9: w = 87/42, b = 17/3 − (87/42)(8/3).
	w := 87.0 / 42
	if math.Abs(lin.Weights[0]-w) > 1e-12 || math.Abs(lin.Intercept-(17.0/3-w*8/3)) > 1e-12 {
		t.Errorf("model = %+v", lin)
	}
	if te.metrics["rows_dropped"] != int64(2) || te.metrics["rows"] != 3 {
		t.Errorf("metrics = %v", te.metrics)
	}
}

func TestTrainFloat(t *testing.T) {
	w := with{"i": 3, "f": 0.5, "s": " 2.5 ", "bad": "x", "list": []any{1}, "inf": "Inf"}
	for key, want := range map[string]float64{"i": 3, "f": 0.5, "s": 2.5, "missing": 7} {
		if got, err := trainFloat(w, key, 7); err != nil || got != want {
			t.Errorf("%s = %v, %v", key, got, err)
		}
	}
	for _, key := range []string{"bad", "list", "inf"} {
		if _, err := trainFloat(w, key, 0); err == nil {
			t.Errorf("%s accepted", key)
		}
	}
}
