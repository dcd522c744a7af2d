package ops

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	arrowcsv "github.com/apache/arrow-go/v18/arrow/csv"

	"github.com/forged-dev/forged/dag"
)

const (
	defaultBatchRows = 65536
	maxBatchRows     = 1 << 24
	// inferRows is how many rows the column types are inferred from.
	inferRows = 10000
)

var defaultNullValues = []string{"", "NA", "null"}

func readCSVOp() Op {
	return Op{Spec: dag.OpSpec{
		Name: "read_csv",
		Description: "Reads a CSV file under the data roots. Column types (integer, float, boolean, date, " +
			"timestamp or string) are inferred from the first rows; the file is streamed in batches.",
		MinInputs: 0, MaxInputs: 0,
		Required: []string{"path"},
		Optional: []string{"delimiter", "header", "null_values", "batch_rows"},
	}, Run: runReadCSV}
}

type csvOptions struct {
	comma     rune
	header    bool
	nulls     []string
	batchRows int
}

func csvOptionsOf(w with) (csvOptions, error) {
	o := csvOptions{comma: ','}
	delim, ok, err := w.str("delimiter")
	if err != nil {
		return o, err
	}
	if ok {
		switch delim {
		case "tab", `\t`:
			delim = "\t"
		}
		r, size := utf8.DecodeRuneInString(delim)
		if size == 0 || size != len(delim) || r == '"' || r == '\r' || r == '\n' || r == utf8.RuneError {
			return o, fmt.Errorf("with.delimiter: want one character such as \",\", \";\" or \"tab\", got %q", delim)
		}
		o.comma = r
	}
	if o.header, err = w.bool("header", true); err != nil {
		return o, err
	}
	if o.nulls, err = w.strings("null_values", "strings read as null", defaultNullValues); err != nil {
		return o, err
	}
	if o.batchRows, err = w.int("batch_rows", defaultBatchRows); err != nil {
		return o, err
	}
	if o.batchRows < 1 || o.batchRows > maxBatchRows {
		return o, fmt.Errorf("with.batch_rows: want 1 to %d, got %d", maxBatchRows, o.batchRows)
	}
	return o, nil
}

func runReadCSV(ctx context.Context, env *Env) error {
	w := withOf(env)
	path, err := w.required("path")
	if err != nil {
		return err
	}
	opts, err := csvOptionsOf(w)
	if err != nil {
		return err
	}
	return readTextFile(ctx, env, "read_csv", path, func(f io.ReadSeeker, open func(*arrow.Schema) (RecordWriter, error)) (int64, int, error) {
		return readCSVFile(ctx, env, f, opts, open)
	})
}

// readTextFile opens path under the data roots and reads it, as op, with
// read, into the task's output; it logs and records the rows read.
func readTextFile(ctx context.Context, env *Env, op, path string,
	read func(f io.ReadSeeker, open func(*arrow.Schema) (RecordWriter, error)) (rows int64, cols int, err error)) error {
	f, _, err := openInRoots(env, path)
	if err != nil {
		return err
	}
	defer f.Close()
	rows, cols, err := read(f, func(schema *arrow.Schema) (RecordWriter, error) { return output(env, schema) })
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%s %s: %w", op, path, err)
	}
	logf(env, "%s %s: %d rows, %d columns", op, path, rows, cols)
	metric(env, "rows", rows)
	return nil
}

// readCSVFile infers the column types of a CSV file from its first rows,
// opens the output with that schema and streams the file into it. It
// returns the rows and columns read.
func readCSVFile(ctx context.Context, env *Env, f io.ReadSeeker, opts csvOptions, open func(*arrow.Schema) (RecordWriter, error)) (int64, int, error) {
	schema, sampled, err := inferCSVSchema(bomless(f), opts)
	if err != nil {
		return 0, 0, err
	}
	out, err := open(schema)
	if err != nil || sampled == 0 { // sampled 0: a header and no data
		return 0, schema.NumFields(), err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return 0, 0, err
	}
	rows, err := streamCSV(ctx, env, bomless(f), schema, opts, out)
	return rows, schema.NumFields(), err
}

// streamCSV reads the file with the column types already inferred and
// writes each batch as it is parsed.
func streamCSV(ctx context.Context, env *Env, r io.Reader, schema *arrow.Schema, opts csvOptions, out RecordWriter) (rows int64, err error) {
	types := make(map[string]arrow.DataType, schema.NumFields())
	for _, f := range schema.Fields() {
		types[f.Name] = f.Type
	}
	rr := arrowcsv.NewInferringReader(r,
		arrowcsv.WithComma(opts.comma),
		arrowcsv.WithHeader(opts.header),
		arrowcsv.WithNullReader(true, opts.nulls...),
		arrowcsv.WithChunk(opts.batchRows),
		arrowcsv.WithAllocator(env.Mem),
		arrowcsv.WithColumnTypes(types),
	)
	defer rr.Release()
	defer func() {
		if p := recover(); p != nil { // the arrow reader panics on some malformed input
			err = fmt.Errorf("malformed CSV near row %d: %v", rows+1, p)
		}
	}()
	for rr.Next() {
		if err := ctx.Err(); err != nil {
			return rows, err
		}
		if err := rr.Err(); err != nil {
			return rows, csvError(err, rows)
		}
		rec := rr.RecordBatch()
		if !rec.Schema().Equal(schema) {
			rec = array.NewRecordBatch(schema, rec.Columns(), rec.NumRows())
			err = out.Write(rec)
			rec.Release()
		} else {
			err = out.Write(rec)
		}
		if err != nil {
			return rows, err
		}
		rows += rec.NumRows()
		logf(env, "read %d rows", rows)
	}
	if err := rr.Err(); err != nil {
		return rows, csvError(err, rows)
	}
	return rows, nil
}

func csvError(err error, before int64) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return fmt.Errorf("line %d: %w", pe.Line, pe.Err)
	}
	if errors.Is(err, arrowcsv.ErrMismatchFields) {
		return fmt.Errorf("a row after row %d has a different number of fields than the header", before)
	}
	return fmt.Errorf("in the batch after row %d: %w (column types are inferred from the first %d rows; a later value does not fit)", before, err, inferRows)
}

// bomless skips a UTF-8 byte order mark.
func bomless(r io.Reader) io.Reader {
	br := bufio.NewReader(r)
	if b, err := br.Peek(3); err == nil && string(b) == "\xef\xbb\xbf" {
		br.Discard(3)
	}
	return br
}

// Candidate column types, narrowest first.
const (
	kInt = 1 << iota
	kFloat
	kBool
	kDate
	kTimestamp
	kTimestampTZ // a timestamp with an offset somewhere
	kAll         = kInt | kFloat | kBool | kDate | kTimestamp
)

// inferCSVSchema reads the header and up to inferRows rows and gives each
// column the narrowest type every non-null value parses as. It also
// returns how many data rows it read.
func inferCSVSchema(r io.Reader, opts csvOptions) (*arrow.Schema, int, error) {
	cr := csv.NewReader(r)
	cr.Comma = opts.comma
	cr.ReuseRecord = true
	first, err := cr.Read()
	if err == io.EOF {
		return nil, 0, errors.New("the file is empty")
	}
	if err != nil {
		return nil, 0, csvError(err, 0)
	}
	n := len(first)
	names := make([]string, n)
	for i := range names {
		if opts.header {
			names[i] = first[i]
		} else {
			names[i] = "f" + strconv.Itoa(i)
		}
	}
	kinds := make([]int, n)
	for i := range kinds {
		kinds[i] = kAll
	}
	isNull := make(map[string]bool, len(opts.nulls))
	for _, v := range opts.nulls {
		isNull[v] = true
	}
	seen := make([]bool, n)
	observe := func(rec []string) {
		for i, v := range rec {
			if isNull[v] || kinds[i] == 0 {
				continue
			}
			seen[i] = true
			kinds[i] = narrow(kinds[i], v)
		}
	}
	sampled := 0
	if !opts.header {
		observe(first)
		sampled++
	}
	for ; sampled < inferRows; sampled++ {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, 0, csvError(err, int64(sampled))
		}
		observe(rec)
	}
	// Columns of the same name must agree on a type.
	byName := map[string]int{}
	for i, name := range names {
		if j, dup := byName[name]; dup {
			kinds[i] &= kinds[j]
			kinds[j] = kinds[i]
			seen[i] = seen[i] || seen[j]
		}
		byName[name] = i
	}
	fields := make([]arrow.Field, n)
	for i := range fields {
		fields[i] = arrow.Field{Name: names[i], Type: kindType(kinds[i], seen[i]), Nullable: true}
	}
	return arrow.NewSchema(fields, nil), sampled, nil
}

// narrow removes the candidate types v does not parse as.
func narrow(k int, v string) int {
	if k&kInt != 0 {
		if _, err := strconv.ParseInt(v, 10, 64); err != nil {
			k &^= kInt
		}
	}
	if k&kFloat != 0 {
		if _, err := strconv.ParseFloat(v, 64); err != nil {
			k &^= kFloat
		}
	}
	if k&kBool != 0 {
		if _, err := strconv.ParseBool(v); err != nil {
			k &^= kBool
		}
	}
	if k&kDate != 0 {
		if _, err := time.Parse(time.DateOnly, v); err != nil {
			k &^= kDate
		}
	}
	if k&kTimestamp != 0 {
		_, zoned, err := arrow.TimestampFromStringInLocation(v, arrow.Microsecond, time.UTC)
		if err != nil {
			k &^= kTimestamp | kTimestampTZ
		} else if zoned {
			k |= kTimestampTZ
		}
	}
	return k
}

func kindType(k int, seen bool) arrow.DataType {
	switch {
	case !seen:
		return arrow.BinaryTypes.String
	case k&kInt != 0:
		return arrow.PrimitiveTypes.Int64
	case k&kFloat != 0:
		return arrow.PrimitiveTypes.Float64
	case k&kBool != 0:
		return arrow.FixedWidthTypes.Boolean
	case k&kDate != 0:
		return arrow.FixedWidthTypes.Date32
	case k&kTimestampTZ != 0 && k&kTimestamp != 0:
		return &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}
	case k&kTimestamp != 0:
		return &arrow.TimestampType{Unit: arrow.Microsecond}
	}
	return arrow.BinaryTypes.String
}
