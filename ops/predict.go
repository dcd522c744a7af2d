package ops

import (
	"context"
	"errors"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/forged-dev/forged/dag"
	"github.com/forged-dev/forged/model"
)

// predictOp scores a table with a model: a registered one (with.model,
// NAME or NAME@ALIAS or NAME@VERSION) or one a training task made (the
// first of two inputs).
func predictOp() Op {
	return Op{Spec: dag.OpSpec{
		Name: "predict",
		Description: "Scores a table with a model, batch by batch: a registered model (with.model: NAME, NAME@ALIAS " +
			"or NAME@VERSION), or the model a training task made (needs: [train, data]). Adds prediction columns.",
		MinInputs: 1, MaxInputs: 2,
		Optional: []string{"model", "output"},
	}, Run: runPredict}
}

func runPredict(ctx context.Context, env *Env) error {
	w := withOf(env)
	ref, hasRef, err := w.str("model")
	if err != nil {
		return err
	}
	labels := false
	if o, ok, err := w.str("output"); err != nil {
		return err
	} else if ok {
		if o != "label" && o != "probability" {
			return fmt.Errorf("with.output: want label or probability, got %q", o)
		}
		labels = o == "label"
	}
	var m model.Model
	data := 0
	switch {
	case hasRef && len(env.Inputs) == 1:
		if env.Model == nil {
			return errors.New("this node serves no registered models")
		}
		if m, err = env.Model(ctx, ref); err != nil {
			return fmt.Errorf("model %s: %w", ref, err)
		}
	case !hasRef && len(env.Inputs) == 2:
		rr, err := input(env, 0)
		if err != nil {
			return err
		}
		a, err := ReadModelArtifact(rr)
		rr.Release()
		if err != nil {
			return fmt.Errorf("input %s: %w", env.Inputs[0].Need, err)
		}
		if m, err = a.Load(); err != nil {
			return fmt.Errorf("input %s: %w", env.Inputs[0].Need, err)
		}
		data = 1
	default:
		return errors.New("give with.model (a registered model) and one input, or no with.model and two inputs: the model, then the data")
	}
	sig := m.Signature()
	if labels && sig.Kind != model.Binary && sig.Kind != model.Multiclass {
		return fmt.Errorf("with.output: label is for classifiers; this model is a %s", sig.Kind)
	}
	rr, err := input(env, data)
	if err != nil {
		return err
	}
	defer rr.Release()
	cols, err := model.FeatureColumns(rr.Schema(), sig)
	if err != nil {
		return fmt.Errorf("input %s: %w", env.Inputs[data].Need, err)
	}
	fields := append([]arrow.Field(nil), rr.Schema().Fields()...)
	for _, name := range predictionColumns(sig, labels) {
		t := arrow.DataType(arrow.PrimitiveTypes.Float64)
		if labels {
			t = arrow.BinaryTypes.String
		}
		fields = append(fields, arrow.Field{Name: name, Type: t, Nullable: true})
	}
	schema := arrow.NewSchema(fields, nil)
	out, err := output(env, schema)
	if err != nil {
		return err
	}
	var x, pred []float64
	rows, err := each(ctx, rr, func(rec arrow.RecordBatch) error {
		n := int(rec.NumRows())
		x = model.AppendRows(x[:0], rec, cols)
		if need := n * sig.Width(); cap(pred) < need {
			pred = make([]float64, need)
		} else {
			pred = pred[:need]
		}
		if err := m.Predict(x, n, pred); err != nil {
			return err
		}
		added := predictionArrays(env, sig, pred, n, labels)
		arrs := append(append([]arrow.Array(nil), rec.Columns()...), added...)
		res := array.NewRecordBatch(schema, arrs, int64(n))
		for _, a := range added {
			a.Release()
		}
		defer res.Release()
		return out.Write(res)
	})
	if err != nil {
		return err
	}
	logf(env, "predict: %d rows scored", rows)
	metric(env, "rows", rows)
	return nil
}

// predictionColumns names the columns predict adds.
func predictionColumns(sig model.Signature, labels bool) []string {
	switch {
	case labels:
		return []string{"label"}
	case sig.Kind == model.Multiclass:
		names := make([]string, len(sig.Classes))
		for i, c := range sig.Classes {
			names[i] = "p_" + c
		}
		return names
	}
	return []string{"prediction"}
}

func predictionArrays(env *Env, sig model.Signature, pred []float64, n int, labels bool) []arrow.Array {
	w := sig.Width()
	if labels {
		b := array.NewStringBuilder(env.Mem)
		defer b.Release()
		for i := 0; i < n; i++ {
			b.Append(sig.Label(pred[i*w : (i+1)*w]))
		}
		return []arrow.Array{b.NewArray()}
	}
	out := make([]arrow.Array, w)
	for j := range out {
		b := array.NewFloat64Builder(env.Mem)
		for i := 0; i < n; i++ {
			b.Append(pred[i*w+j])
		}
		out[j] = b.NewArray()
		b.Release()
	}
	return out
}
