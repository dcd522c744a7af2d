// Command custom-op is forged with one more operator, written in Go:
// clean_names trims and capitalises a text column and drops the rows where
// it is empty. Build it and use it like forged:
//
//	go build -o custom-op ./examples/custom-op
//	./custom-op run examples/custom-op/pipeline.yaml
//	./custom-op dev            # a node whose pipelines may use clean_names
package main

import (
	"context"
	"fmt"
	"strings"
	"unicode"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/forged-dev/forged/forge"
)

func main() {
	forge.MustRegisterOp("clean_names", cleanNames,
		forge.Description("Trims and capitalises a text column and drops the rows where it is empty."),
		forge.Inputs(1, 1),
		forge.Required("column"))
	forge.Main()
}

// cleanNames rewrites the column named by with.column in every batch.
func cleanNames(ctx context.Context, req *forge.Request) (*forge.Result, error) {
	column, _ := req.With["column"].(string)
	in := req.Inputs[0]
	idx := in.Schema.FieldIndices(column)
	if len(idx) == 0 || in.Schema.Field(idx[0]).Type.ID() != arrow.STRING {
		return nil, fmt.Errorf("with.column: %q is not a text column of %s", column, in.Name)
	}
	col := idx[0]
	res := &forge.Result{Schema: in.Schema, Metrics: map[string]any{}}
	dropped := 0
	for _, rec := range in.Records {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		b := array.NewRecordBuilder(req.Mem, in.Schema)
		names := rec.Column(col).(*array.String)
		for row := 0; row < int(rec.NumRows()); row++ {
			name := clean(names.Value(row))
			if names.IsNull(row) || name == "" {
				dropped++
				continue
			}
			for c := 0; c < int(rec.NumCols()); c++ {
				if c == col {
					b.Field(c).(*array.StringBuilder).Append(name)
					continue
				}
				if err := b.Field(c).AppendValueFromString(rec.Column(c).ValueStr(row)); err != nil {
					b.Release()
					return res, fmt.Errorf("column %s: %w", in.Schema.Field(c).Name, err)
				}
			}
		}
		res.Records = append(res.Records, b.NewRecordBatch())
		b.Release()
	}
	res.Metrics["dropped"] = dropped
	fmt.Fprintf(req.Log, "clean_names: dropped %d rows with no %s\n", dropped, column)
	return res, nil
}

// clean trims s, collapses inner spaces and capitalises each word.
func clean(s string) string {
	words := strings.Fields(s)
	for i, w := range words {
		r := []rune(strings.ToLower(w))
		r[0] = unicode.ToUpper(r[0])
		words[i] = string(r)
	}
	return strings.Join(words, " ")
}
