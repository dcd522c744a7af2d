package dataplane

import (
	"encoding/json"
	"fmt"
	"math"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/forged-dev/forged/dag"
)

// Limits of an output's preview: it travels in the replicated state with
// the task, so it stays small.
const (
	// PreviewRows is the most rows a preview holds.
	PreviewRows = 10
	// previewCellMax cuts longer text values.
	previewCellMax = 64
	// previewBytesMax bounds a preview's JSON; rows are dropped from the
	// end until it fits.
	previewBytesMax = 4 << 10
)

// previewer collects the first rows written to an output.
type previewer struct {
	rows      [][]any
	truncated bool
}

// add takes rows from rec until the preview is full.
func (p *previewer) add(rec arrow.RecordBatch) {
	n := int(rec.NumRows())
	for i := 0; i < n; i++ {
		if len(p.rows) == PreviewRows {
			p.truncated = true
			return
		}
		row := make([]any, rec.NumCols())
		for j, col := range rec.Columns() {
			row[j] = previewValue(col, i)
		}
		p.rows = append(p.rows, row)
	}
}

// preview returns the collected rows within the size limit, or nil when
// there are none.
func (p *previewer) preview() *dag.Preview {
	if len(p.rows) == 0 {
		return nil
	}
	out := &dag.Preview{Rows: p.rows, Truncated: p.truncated}
	for len(out.Rows) > 0 {
		b, err := json.Marshal(out)
		if err == nil && len(b) <= previewBytesMax {
			return out
		}
		out.Rows = out.Rows[:len(out.Rows)-1]
		out.Truncated = true
	}
	return nil
}

// previewValue is one cell as a JSON value.
func previewValue(col arrow.Array, i int) any {
	if col.IsNull(i) {
		return nil
	}
	switch a := col.(type) {
	case *array.Boolean:
		return a.Value(i)
	case *array.Int8:
		return a.Value(i)
	case *array.Int16:
		return a.Value(i)
	case *array.Int32:
		return a.Value(i)
	case *array.Int64:
		return a.Value(i)
	case *array.Uint8:
		return a.Value(i)
	case *array.Uint16:
		return a.Value(i)
	case *array.Uint32:
		return a.Value(i)
	case *array.Uint64:
		return a.Value(i)
	case *array.Float32:
		return finite(float64(a.Value(i)))
	case *array.Float64:
		return finite(a.Value(i))
	case *array.String:
		return clipText(a.Value(i))
	case *array.LargeString:
		return clipText(a.Value(i))
	}
	return clipText(col.ValueStr(i))
}

// finite keeps numbers JSON can hold; NaN and the infinities become text.
func finite(f float64) any {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return fmt.Sprint(f)
	}
	return f
}

func clipText(s string) string {
	if len(s) <= previewCellMax {
		return s
	}
	cut := previewCellMax
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
