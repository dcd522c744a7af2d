package ops

import (
	"bufio"
	"context"
	"encoding/csv"
	"fmt"
	"os"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/forged-dev/forged/dag"
)

func writeCSVOp() Op {
	return Op{Spec: dag.OpSpec{
		Name: "write_csv",
		Description: "Writes the input as a CSV file (nulls as empty fields) under the data roots, replacing it atomically; " +
			"outputs one row {path, rows, bytes}.",
		MinInputs: 1, MaxInputs: 1,
		Required: []string{"path"},
		Optional: []string{"delimiter", "header"},
	}, Run: runWriteCSV}
}

var writeCSVSchema = arrow.NewSchema([]arrow.Field{
	{Name: "path", Type: arrow.BinaryTypes.String},
	{Name: "rows", Type: arrow.PrimitiveTypes.Int64},
	{Name: "bytes", Type: arrow.PrimitiveTypes.Int64},
}, nil)

// writeCSVDelimiter reads with.delimiter: one character, or "tab".
func writeCSVDelimiter(w with) (rune, error) {
	d, ok, err := w.str("delimiter")
	if err != nil || !ok {
		return ',', err
	}
	if d == "tab" || d == `\t` {
		d = "\t"
	}
	r, size := utf8.DecodeRuneInString(d)
	if size == 0 || size != len(d) || r == '"' || r == '\r' || r == '\n' || r == utf8.RuneError {
		return 0, fmt.Errorf("with.delimiter: want one character such as \",\", \";\" or \"tab\", got %q", d)
	}
	return r, nil
}

func runWriteCSV(ctx context.Context, env *Env) error {
	w := withOf(env)
	path, err := w.required("path")
	if err != nil {
		return err
	}
	comma, err := writeCSVDelimiter(w)
	if err != nil {
		return err
	}
	header, err := w.bool("header", true)
	if err != nil {
		return err
	}
	return writeInput(ctx, env, "write_csv", path, writeCSVSchema, func(rr array.RecordReader, f *os.File) (int64, error) {
		return writeCSV(ctx, rr, f, comma, header)
	})
}

// writeCSV streams rr into f as CSV and syncs it; it does not close f.
func writeCSV(ctx context.Context, rr array.RecordReader, f *os.File, comma rune, header bool) (int64, error) {
	bw := bufio.NewWriterSize(f, 1<<20)
	cw := csv.NewWriter(bw)
	cw.Comma = comma
	schema := rr.Schema()
	n := schema.NumFields()
	if header && n > 0 {
		if err := cw.Write(writeCSVHeader(schema)); err != nil {
			return 0, err
		}
	}
	row := make([]string, n)
	cells := make([]func(int) string, n)
	rows, err := each(ctx, rr, func(rec arrow.RecordBatch) error {
		if n == 0 {
			return nil
		}
		for j, col := range rec.Columns() {
			cells[j] = writeCSVCell(col)
		}
		for i := range int(rec.NumRows()) {
			for j := range row {
				row[j] = cells[j](i)
			}
			if err := cw.Write(row); err != nil {
				return err
			}
		}
		return cw.Error()
	})
	if err != nil {
		return rows, err
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return rows, err
	}
	if err := bw.Flush(); err != nil {
		return rows, err
	}
	return rows, f.Sync()
}

func writeCSVHeader(s *arrow.Schema) []string {
	names := make([]string, s.NumFields())
	for i, f := range s.Fields() {
		names[i] = f.Name
	}
	return names
}

// writeCSVCell returns how to render the values of col: numbers in Go's
// shortest form, dates as 2006-01-02, timestamps as RFC 3339 (without an
// offset when the type has no time zone), nulls as empty fields and other
// types as Arrow renders them. read_csv reads these back.
func writeCSVCell(col arrow.Array) func(int) string {
	nullable := func(f func(int) string) func(int) string {
		if col.NullN() == 0 {
			return f
		}
		return func(i int) string {
			if col.IsNull(i) {
				return ""
			}
			return f(i)
		}
	}
	switch a := col.(type) {
	case *array.Null:
		return func(int) string { return "" }
	case *array.String:
		return nullable(a.Value)
	case *array.LargeString:
		return nullable(a.Value)
	case *array.Int64:
		return nullable(func(i int) string { return strconv.FormatInt(a.Value(i), 10) })
	case *array.Int32:
		return nullable(func(i int) string { return strconv.FormatInt(int64(a.Value(i)), 10) })
	case *array.Float64:
		return nullable(func(i int) string { return strconv.FormatFloat(a.Value(i), 'g', -1, 64) })
	case *array.Float32:
		return nullable(func(i int) string { return strconv.FormatFloat(float64(a.Value(i)), 'g', -1, 32) })
	case *array.Boolean:
		return nullable(func(i int) string { return strconv.FormatBool(a.Value(i)) })
	case *array.Date32:
		return nullable(func(i int) string { return a.Value(i).ToTime().Format(time.DateOnly) })
	case *array.Date64:
		return nullable(func(i int) string { return a.Value(i).ToTime().Format(time.DateOnly) })
	case *array.Timestamp:
		dt := a.DataType().(*arrow.TimestampType)
		layout := "2006-01-02T15:04:05.999999999"
		if dt.TimeZone != "" {
			layout += "Z07:00"
		}
		toTime, err := dt.GetToTimeFunc()
		if err != nil { // an unknown zone: show UTC
			toTime = func(ts arrow.Timestamp) time.Time { return ts.ToTime(dt.Unit) }
		}
		return nullable(func(i int) string { return toTime(a.Value(i)).Format(layout) })
	}
	return nullable(col.ValueStr)
}
