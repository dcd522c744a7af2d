package ops

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/forged-dev/forged/dag"
)

// jsonlMaxLine bounds one line of a JSON lines file.
const jsonlMaxLine = 64 << 20

// jsonlOptions are read_jsonl's settings.
type jsonlOptions struct {
	inferRows int // objects the column types are inferred from
	batchRows int
}

// defaultJSONLOptions are read_jsonl's defaults.
var defaultJSONLOptions = jsonlOptions{inferRows: 1000, batchRows: defaultBatchRows}

func readJSONLOp() Op {
	return Op{Spec: dag.OpSpec{
		Name: "read_jsonl",
		Description: "Reads a JSON lines file (one object per line) under the data roots, streaming it in batches; " +
			"column types (int64, float64, bool or string, with nested values as JSON text) are inferred from the first `infer_rows` lines.",
		MinInputs: 0, MaxInputs: 0,
		Required: []string{"path"},
		Optional: []string{"infer_rows", "batch_rows"},
	}, Run: runReadJSONL}
}

func jsonlOptionsOf(w with) (jsonlOptions, error) {
	o := defaultJSONLOptions
	var err error
	if o.inferRows, err = w.int("infer_rows", o.inferRows); err != nil {
		return o, err
	}
	if o.inferRows < 1 || o.inferRows > maxBatchRows {
		return o, fmt.Errorf("with.infer_rows: want 1 to %d, got %d", maxBatchRows, o.inferRows)
	}
	if o.batchRows, err = w.int("batch_rows", o.batchRows); err != nil {
		return o, err
	}
	if o.batchRows < 1 || o.batchRows > maxBatchRows {
		return o, fmt.Errorf("with.batch_rows: want 1 to %d, got %d", maxBatchRows, o.batchRows)
	}
	return o, nil
}

func runReadJSONL(ctx context.Context, env *Env) error {
	w := withOf(env)
	path, err := w.required("path")
	if err != nil {
		return err
	}
	opts, err := jsonlOptionsOf(w)
	if err != nil {
		return err
	}
	return readTextFile(ctx, env, "read_jsonl", path, func(f io.ReadSeeker, open func(*arrow.Schema) (RecordWriter, error)) (int64, int, error) {
		return readJSONLData(ctx, env, f, opts, open)
	})
}

// readJSONLData infers the columns of JSON lines from the first
// opts.inferRows objects of r, opens the output with them and streams r
// into it. It returns the rows and columns read.
func readJSONLData(ctx context.Context, env *Env, r io.ReadSeeker, opts jsonlOptions, open func(*arrow.Schema) (RecordWriter, error)) (int64, int, error) {
	schema, err := inferJSONLSchema(ctx, bomless(r), opts.inferRows)
	if err != nil {
		return 0, 0, err
	}
	out, err := open(schema)
	if err != nil {
		return 0, 0, err
	}
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return 0, 0, err
	}
	rows, err := streamJSONL(ctx, env, bomless(r), schema, opts, out)
	return rows, schema.NumFields(), err
}

// jsonlLines reads the non-blank lines of a JSON lines file.
type jsonlLines struct {
	br   *bufio.Reader
	buf  []byte
	line int // number of the line last returned, from 1
}

func newJSONLLines(r io.Reader) *jsonlLines { return &jsonlLines{br: bufio.NewReaderSize(r, 1<<20)} }

// next returns the next non-blank line without its line break, valid until
// the next call, or io.EOF.
func (l *jsonlLines) next() ([]byte, error) {
	for {
		line, err := l.br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			l.buf = append(l.buf[:0], line...)
			for errors.Is(err, bufio.ErrBufferFull) {
				if len(l.buf) > jsonlMaxLine {
					return nil, fmt.Errorf("line %d is longer than %d MiB", l.line+1, jsonlMaxLine>>20)
				}
				line, err = l.br.ReadSlice('\n')
				l.buf = append(l.buf, line...)
			}
			line = l.buf
		}
		if err != nil && err != io.EOF {
			return nil, err
		}
		if len(line) == 0 && err == io.EOF {
			return nil, io.EOF
		}
		l.line++
		if t := bytes.TrimSpace(line); len(t) > 0 {
			return t, nil
		}
		if err == io.EOF {
			return nil, io.EOF
		}
	}
}

// jsonlField is one key of an object with its value as JSON text; both
// point into the line.
type jsonlField struct {
	key []byte
	raw []byte
}

// jsonlObject splits a line holding one JSON object into its fields, in
// order, reusing fields' storage. Keys with escapes are unescaped into
// fresh storage.
func jsonlObject(line []byte, fields []jsonlField) ([]jsonlField, error) {
	if len(line) == 0 || line[0] != '{' || !json.Valid(line) {
		return nil, jsonlExplain(line)
	}
	// The line is one valid object, so the scan below need not check.
	fields = fields[:0]
	i := jsonlSpace(line, 1)
	if line[i] == '}' {
		return fields, nil
	}
	for {
		end := jsonlStringEnd(line, i)
		key := line[i+1 : end-1]
		if bytes.IndexByte(key, '\\') >= 0 {
			var s string
			if err := json.Unmarshal(line[i:end], &s); err != nil {
				return nil, fmt.Errorf("invalid JSON: %w", err)
			}
			key = []byte(s)
		}
		i = jsonlSpace(line, jsonlSpace(line, end)+1) // past the colon
		vend := jsonlValueEnd(line, i)
		fields = append(fields, jsonlField{key, line[i:vend]})
		i = jsonlSpace(line, vend)
		if line[i] == '}' {
			return fields, nil
		}
		i = jsonlSpace(line, i+1) // past the comma
	}
}

// jsonlExplain says what is wrong with a line that is not one JSON object.
func jsonlExplain(line []byte) error {
	dec := json.NewDecoder(bytes.NewReader(line))
	var v json.RawMessage
	if err := dec.Decode(&v); err != nil {
		return fmt.Errorf("invalid JSON: %w", err)
	}
	if v[0] != '{' {
		return fmt.Errorf("want a JSON object, got %s", jsonlShort(line))
	}
	return errors.New("text after the end of the object (one object per line)")
}

func jsonlSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n') {
		i++
	}
	return i
}

// jsonlStringEnd returns the index after the string starting at b[i].
func jsonlStringEnd(b []byte, i int) int {
	for j := i + 1; ; j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
}

// jsonlValueEnd returns the index after the value starting at b[i].
func jsonlValueEnd(b []byte, i int) int {
	switch b[i] {
	case '"':
		return jsonlStringEnd(b, i)
	case '{', '[':
		depth := 0
		for j := i; ; j++ {
			switch b[j] {
			case '"':
				j = jsonlStringEnd(b, j) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1
				}
			}
		}
	}
	j := i
	for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ' ' && b[j] != '\t' && b[j] != '\r' && b[j] != '\n' {
		j++
	}
	return j
}

// jsonlInt parses a JSON number as an int64; ok is false for fractions,
// exponents and numbers out of range.
func jsonlInt(raw []byte) (v int64, ok bool) {
	digits := raw
	if len(digits) > 0 && digits[0] == '-' {
		digits = digits[1:]
	}
	if len(digits) == 0 || len(digits) > 18 {
		n, err := strconv.ParseInt(string(raw), 10, 64)
		return n, err == nil
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int64(c-'0')
	}
	if raw[0] == '-' {
		v = -v
	}
	return v, true
}

// jsonlShort renders a value for an error message.
func jsonlShort(raw []byte) string {
	if len(raw) > 40 {
		return string(raw[:37]) + "..."
	}
	return string(raw)
}

// Kinds of JSON values, as bits.
const (
	jsonlBool = 1 << iota
	jsonlInteger
	jsonlFloat
	jsonlString
	jsonlNested
)

// jsonlKind returns the kind of a JSON value, 0 for null.
func jsonlKind(raw []byte) int {
	switch raw[0] {
	case 'n':
		return 0
	case 't', 'f':
		return jsonlBool
	case '"':
		return jsonlString
	case '{', '[':
		return jsonlNested
	}
	if _, ok := jsonlInt(raw); ok {
		return jsonlInteger
	}
	return jsonlFloat
}

// inferJSONLSchema reads up to limit objects and gives each key a column:
// int64 when every value is a whole number, float64 when they are
// numbers, bool, or else string; nullable when some object lacks it or
// holds null.
func inferJSONLSchema(ctx context.Context, r io.Reader, limit int) (*arrow.Schema, error) {
	type col struct {
		name   string
		kinds  int
		values int // objects holding a non-null value
		object int // the last object holding the key, from 1
	}
	var cols []col
	index := map[string]int{}
	lines := newJSONLLines(r)
	var fields []jsonlField
	objects := 0
	for ; objects < limit; objects++ {
		if objects&0xfff == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		line, err := lines.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if fields, err = jsonlObject(line, fields); err != nil {
			return nil, fmt.Errorf("line %d: %w", lines.line, err)
		}
		for _, f := range fields {
			i, ok := index[string(f.key)]
			if !ok {
				i = len(cols)
				index[string(f.key)] = i
				cols = append(cols, col{name: string(f.key)})
			}
			if cols[i].object == objects+1 {
				return nil, fmt.Errorf("line %d: the key %q appears twice", lines.line, f.key)
			}
			cols[i].object = objects + 1
			if k := jsonlKind(f.raw); k != 0 {
				cols[i].kinds |= k
				cols[i].values++
			}
		}
	}
	out := make([]arrow.Field, len(cols))
	for i, c := range cols {
		var dt arrow.DataType = arrow.BinaryTypes.String
		switch {
		case c.kinds == jsonlBool:
			dt = arrow.FixedWidthTypes.Boolean
		case c.kinds == jsonlInteger:
			dt = arrow.PrimitiveTypes.Int64
		case c.kinds != 0 && c.kinds&^(jsonlInteger|jsonlFloat) == 0:
			dt = arrow.PrimitiveTypes.Float64
		}
		out[i] = arrow.Field{Name: c.name, Type: dt, Nullable: c.values < objects}
	}
	return arrow.NewSchema(out, nil), nil
}

// streamJSONL reads every object with the columns already inferred and
// writes a batch every opts.batchRows rows.
func streamJSONL(ctx context.Context, env *Env, r io.Reader, schema *arrow.Schema, opts jsonlOptions, out RecordWriter) (int64, error) {
	index := make(map[string]int, schema.NumFields())
	for i, f := range schema.Fields() {
		index[f.Name] = i
	}
	b := array.NewRecordBuilder(env.Mem, schema)
	defer b.Release()
	var rows, pending int64
	flush := func() error {
		if pending == 0 {
			return nil
		}
		var rec arrow.RecordBatch
		if schema.NumFields() == 0 {
			rec = array.NewRecordBatch(schema, nil, pending)
		} else {
			rec = b.NewRecordBatch()
		}
		defer rec.Release()
		rows += pending
		pending = 0
		return out.Write(rec)
	}
	lines := newJSONLLines(r)
	var fields []jsonlField
	set := make([]bool, schema.NumFields())
	var text bytes.Buffer
	for {
		line, err := lines.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return rows, err
		}
		if fields, err = jsonlObject(line, fields); err != nil {
			return rows, fmt.Errorf("line %d: %w", lines.line, err)
		}
		clear(set)
		for _, f := range fields {
			i, ok := index[string(f.key)]
			if !ok {
				return rows, fmt.Errorf("line %d: the key %q is not among the columns inferred from the first %d lines (%s); raise infer_rows",
					lines.line, f.key, opts.inferRows, columnNames(schema))
			}
			if set[i] {
				return rows, fmt.Errorf("line %d: the key %q appears twice", lines.line, f.key)
			}
			set[i] = true
			if f.raw[0] == 'n' && !schema.Field(i).Nullable {
				return rows, fmt.Errorf("line %d, column %q: null, but every one of the first %d lines had a value, so the column is not nullable; raise infer_rows",
					lines.line, f.key, opts.inferRows)
			}
			if err := jsonlAppend(b.Field(i), f.raw, &text); err != nil {
				return rows, fmt.Errorf("line %d, column %q: %w (the type was inferred from the first %d lines; raise infer_rows to look at more)",
					lines.line, f.key, err, opts.inferRows)
			}
		}
		for i, ok := range set {
			if ok {
				continue
			}
			if !schema.Field(i).Nullable {
				return rows, fmt.Errorf("line %d, column %q: missing, but every one of the first %d lines had a value, so the column is not nullable; raise infer_rows",
					lines.line, schema.Field(i).Name, opts.inferRows)
			}
			b.Field(i).AppendNull()
		}
		if pending++; pending == int64(opts.batchRows) {
			if err := ctx.Err(); err != nil {
				return rows, err
			}
			if err := flush(); err != nil {
				return rows, err
			}
		}
	}
	return rows + pending, flush()
}

// jsonlAppend appends one JSON value to a column builder of the inferred
// type; a string column holds any other value as its JSON text.
func jsonlAppend(b array.Builder, raw []byte, text *bytes.Buffer) error {
	if raw[0] == 'n' {
		b.AppendNull()
		return nil
	}
	isNumber := raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9'
	switch b := b.(type) {
	case *array.Int64Builder:
		v, ok := jsonlInt(raw)
		if !ok {
			return fmt.Errorf("%s does not fit int64", jsonlShort(raw))
		}
		b.Append(v)
	case *array.Float64Builder:
		v, err := strconv.ParseFloat(string(raw), 64)
		if err != nil || !isNumber {
			return fmt.Errorf("%s does not fit float64", jsonlShort(raw))
		}
		b.Append(v)
	case *array.BooleanBuilder:
		switch string(raw) {
		case "true":
			b.Append(true)
		case "false":
			b.Append(false)
		default:
			return fmt.Errorf("%s does not fit bool", jsonlShort(raw))
		}
	case *array.StringBuilder:
		switch raw[0] {
		case '"':
			var s string
			if err := json.Unmarshal(raw, &s); err != nil {
				return err
			}
			b.Append(s)
		case '{', '[':
			text.Reset()
			if err := json.Compact(text, raw); err != nil {
				return err
			}
			b.BinaryBuilder.Append(text.Bytes())
		default:
			b.BinaryBuilder.Append(raw)
		}
	default:
		return fmt.Errorf("no reader for %s", b.Type())
	}
	return nil
}
