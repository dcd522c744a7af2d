package ops

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/forged-dev/forged/dag"
	"github.com/forged-dev/forged/model"
)

func evaluateOp() Op {
	return Op{Spec: dag.OpSpec{
		Name: "evaluate",
		Description: "Scores a trained model (the first input) on a table holding its features and the true " +
			"`label` (the second input): rmse, mae and r2 for a regressor; accuracy, precision, recall, f1, " +
			"roc_auc and log_loss for a classifier. Outputs one row per metric.",
		MinInputs: 2, MaxInputs: 2,
		Required: []string{"label"},
		Optional: []string{"drop_nulls"},
	}, Run: runEvaluate}
}

// evaluateSchema is the output of evaluate: one row per scalar metric; an
// undefined metric (roc_auc over a single class, r2 of a constant target)
// has a null value.
var evaluateSchema = arrow.NewSchema([]arrow.Field{
	{Name: "metric", Type: arrow.BinaryTypes.String},
	{Name: "value", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
}, nil)

func runEvaluate(ctx context.Context, env *Env) error {
	w := withOf(env)
	label, err := w.required("label")
	if err != nil {
		return err
	}
	dropNulls, err := w.bool("drop_nulls", false)
	if err != nil {
		return err
	}
	mr, err := input(env, 0)
	if err != nil {
		return err
	}
	art, err := ReadModelArtifact(mr)
	mr.Release()
	if err != nil {
		return fmt.Errorf("evaluate: input %s: %w", env.Inputs[0].Need, err)
	}
	m, err := art.Load()
	if err != nil {
		return fmt.Errorf("evaluate: input %s: %w", env.Inputs[0].Need, err)
	}
	sig := m.Signature()
	var classes map[string]int
	switch sig.Kind {
	case model.Regressor:
	case model.Binary, model.Multiclass:
		classes = evalClasses(sig)
	default:
		return fmt.Errorf("evaluate: the model is a %s; evaluate scores regressors and classifiers", sig.Kind)
	}

	rr, err := input(env, 1)
	if err != nil {
		return err
	}
	defer rr.Release()
	schema := rr.Schema()
	cols, err := model.FeatureColumns(schema, sig)
	if err != nil {
		return fmt.Errorf("evaluate: input %s: %w (available: %s)", env.Inputs[1].Need, err, columnNames(schema))
	}
	idx := schema.FieldIndices(label)
	if len(idx) == 0 {
		return fmt.Errorf("evaluate: with.label: no column %q (available: %s)", label, columnNames(schema))
	}
	labelCol := idx[0]
	if lt := schema.Field(labelCol).Type; sig.Kind == model.Regressor && !trainNumeric(lt) {
		return fmt.Errorf("evaluate: label column %q is %s; a regressor's label is numbers", label, lt)
	}

	width := sig.Width()
	var (
		x, pred, probs, yNum []float64
		yClass               []int
		row, dropped         int64 // input rows before the batch; rows skipped
	)
	_, err = each(ctx, rr, func(rec arrow.RecordBatch) error {
		n := int(rec.NumRows())
		x = model.AppendRows(x[:0], rec, cols)
		if need := n * width; cap(pred) < need {
			pred = make([]float64, need)
		} else {
			pred = pred[:need]
		}
		if err := m.Predict(x, n, pred); err != nil {
			return fmt.Errorf("evaluate: %w", err)
		}
		lab := rec.Column(labelCol)
		var ys []float64
		if classes == nil {
			ys = model.AppendRows(nil, rec, []int{labelCol})
		}
		for i := 0; i < n; i++ {
			at := row + int64(i) + 1
			var y float64
			class := -1
			missing := false
			if classes == nil {
				y = ys[i]
				missing = math.IsNaN(y)
			} else if key, ok := classKey(lab, i); !ok {
				missing = true
			} else if c, known := classes[key]; known {
				class = c
			} else {
				return fmt.Errorf("evaluate: label %q in column %q at row %d is not one of the model's classes (%s)",
					key, label, at, strings.Join(evalClassNames(sig), ", "))
			}
			if missing {
				if dropNulls {
					dropped++
					continue
				}
				return fmt.Errorf("evaluate: label column %q is null at row %d; set drop_nulls: true to skip such rows", label, at)
			}
			p := pred[i*width : (i+1)*width]
			for _, v := range p {
				if math.IsNaN(v) {
					return fmt.Errorf("evaluate: the model gives no prediction for row %d: a feature is null or NaN", at)
				}
			}
			if classes == nil {
				yNum, probs = append(yNum, y), append(probs, p[0])
			} else {
				yClass, probs = append(yClass, class), append(probs, p...)
			}
		}
		row += int64(n)
		return nil
	})
	if err != nil {
		return err
	}
	var res map[string]any
	if classes == nil {
		res, err = model.EvaluateRegressor(yNum, probs)
	} else {
		res, err = model.EvaluateClassifier(yClass, probs, len(evalClassNames(sig)))
	}
	if err != nil {
		if len(yNum) == 0 && len(yClass) == 0 {
			return fmt.Errorf("evaluate: no rows to score (%d dropped for a null label)", dropped)
		}
		return fmt.Errorf("evaluate: %w", err)
	}
	res["rows_dropped"] = dropped
	return writeEvaluation(env, res)
}

// evalClassNames returns the class names of a classifier; a binary model
// that records none has the classes 0 and 1.
func evalClassNames(sig model.Signature) []string {
	if sig.Kind == model.Binary && len(sig.Classes) != 2 {
		return []string{"0", "1"}
	}
	return sig.Classes
}

// evalClasses maps the label values of a classifier's rows to its
// classes, by name (as classKey renders them). A binary model without
// class names takes 0/1 and false/true.
func evalClasses(sig model.Signature) map[string]int {
	m := map[string]int{}
	names := evalClassNames(sig)
	for i, c := range names {
		m[c] = i
	}
	if sig.Kind == model.Binary && len(sig.Classes) != 2 {
		m["false"], m["true"] = 0, 1
	}
	return m
}

// writeEvaluation writes the scalar metrics as the output table, sorted
// by name, and records every metric (the confusion matrix too) as a
// metric of the task.
func writeEvaluation(env *Env, res map[string]any) error {
	names := make([]string, 0, len(res))
	for name := range res {
		names = append(names, name)
	}
	sort.Strings(names)
	b := array.NewRecordBuilder(env.Mem, evaluateSchema)
	defer b.Release()
	var parts []string
	for _, name := range names {
		v := res[name]
		metric(env, name, v)
		var f float64
		switch n := v.(type) {
		case nil:
			b.Field(0).(*array.StringBuilder).Append(name)
			b.Field(1).(*array.Float64Builder).AppendNull()
			parts = append(parts, name+"=null")
			continue
		case float64:
			f = n
		case int:
			f = float64(n)
		case int64:
			f = float64(n)
		default:
			continue // not a scalar: the confusion matrix
		}
		b.Field(0).(*array.StringBuilder).Append(name)
		b.Field(1).(*array.Float64Builder).Append(f)
		parts = append(parts, fmt.Sprintf("%s=%.6g", name, f))
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	out, err := output(env, evaluateSchema)
	if err != nil {
		return err
	}
	if err := out.Write(rec); err != nil {
		return err
	}
	logf(env, "evaluate: %s", strings.Join(parts, " "))
	return nil
}
