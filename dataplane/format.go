package dataplane

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"io"
	"mime"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Format is a wire format for outputs.
type Format string

// The formats outputs can be served and saved in.
const (
	FormatArrow  Format = "arrow"
	FormatCSV    Format = "csv"
	FormatNDJSON Format = "jsonl"
)

// ParseFormat reads a format name as users write it: arrow or ipc, csv,
// jsonl, ndjson or json.
func ParseFormat(s string) (Format, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "arrow", "ipc":
		return FormatArrow, nil
	case "csv":
		return FormatCSV, nil
	case "jsonl", "ndjson", "json":
		return FormatNDJSON, nil
	}
	return "", fmt.Errorf("unknown format %q: want arrow, csv or jsonl", s)
}

// FormatFromAccept picks the format an HTTP Accept header prefers, honoring
// q values; NDJSON is the default for an empty header, */* or nothing known.
func FormatFromAccept(accept string) Format {
	best, bestQ := FormatNDJSON, -1.0
	for _, part := range strings.Split(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		q := 1.0
		if v, ok := params["q"]; ok {
			if q, err = strconv.ParseFloat(v, 64); err != nil {
				continue
			}
		}
		var f Format
		switch mt {
		case "application/vnd.apache.arrow.stream", "application/vnd.apache.arrow.file", "application/x-arrow":
			f = FormatArrow
		case "text/csv":
			f = FormatCSV
		case "application/x-ndjson", "application/jsonl", "application/json", "application/ndjson", "*/*":
			f = FormatNDJSON
		default:
			continue
		}
		if q > bestQ {
			best, bestQ = f, q
		}
	}
	return best
}

// ContentType is the media type of the format.
func (f Format) ContentType() string {
	switch f {
	case FormatArrow:
		return "application/vnd.apache.arrow.stream"
	case FormatCSV:
		return "text/csv"
	default:
		return "application/x-ndjson"
	}
}

// Encode writes at most limit rows (limit <= 0: all) of rr to w in format
// f, batch by batch, and returns the rows written. CSV has a header row and
// writes null as an empty field; NDJSON is one JSON object per row keyed by
// column name; arrow is an IPC stream. Encode stops reading rr once the
// limit is reached and does not release it.
func Encode(w io.Writer, f Format, rr array.RecordReader, limit int64) (int64, error) {
	var enc encoder
	switch f {
	case FormatArrow:
		enc = &arrowEncoder{w: ipc.NewWriter(w, ipc.WithSchema(rr.Schema()), ipc.WithAllocator(memory.DefaultAllocator))}
	case FormatCSV:
		enc = newCSVEncoder(w, rr.Schema())
	case FormatNDJSON:
		enc = newJSONEncoder(w, rr.Schema())
	default:
		return 0, fmt.Errorf("encode: unknown format %q", f)
	}
	n, err := encodeRows(enc, rr, limit)
	if cerr := enc.close(); err == nil {
		err = cerr
	}
	if err != nil {
		return n, fmt.Errorf("encode %s: %w", f, err)
	}
	return n, nil
}

func encodeRows(enc encoder, rr array.RecordReader, limit int64) (int64, error) {
	var n int64
	for (limit <= 0 || n < limit) && rr.Next() {
		rec := rr.RecordBatch()
		if limit > 0 && n+rec.NumRows() > limit {
			rec = rec.NewSlice(0, limit-n)
			err := enc.write(rec)
			n += rec.NumRows()
			rec.Release()
			if err != nil {
				return n, err
			}
			break
		}
		if err := enc.write(rec); err != nil {
			return n, err
		}
		n += rec.NumRows()
	}
	return n, rr.Err()
}

// encoder is one format's writer.
type encoder interface {
	write(rec arrow.RecordBatch) error
	close() error
}

type arrowEncoder struct{ w *ipc.Writer }

func (e *arrowEncoder) write(rec arrow.RecordBatch) error { return e.w.Write(rec) }
func (e *arrowEncoder) close() error                      { return e.w.Close() }

type csvEncoder struct {
	w      *csv.Writer
	schema *arrow.Schema
	header bool
	row    []string
	cells  []cellFunc
}

func newCSVEncoder(w io.Writer, schema *arrow.Schema) *csvEncoder {
	return &csvEncoder{w: csv.NewWriter(w), schema: schema, row: make([]string, schema.NumFields())}
}

func (e *csvEncoder) writeHeader() error {
	if e.header {
		return nil
	}
	e.header = true
	for i, f := range e.schema.Fields() {
		e.row[i] = f.Name
	}
	return e.w.Write(e.row)
}

func (e *csvEncoder) write(rec arrow.RecordBatch) error {
	if err := e.writeHeader(); err != nil {
		return err
	}
	e.cells = e.cells[:0]
	for _, col := range rec.Columns() {
		e.cells = append(e.cells, cellFormatter(col))
	}
	var buf []byte
	for i := 0; i < int(rec.NumRows()); i++ {
		for j, cell := range e.cells {
			var k cellKind
			buf, k = cell(buf[:0], i)
			if k == cellNull {
				e.row[j] = ""
			} else {
				e.row[j] = string(buf)
			}
		}
		if err := e.w.Write(e.row); err != nil {
			return err
		}
	}
	e.w.Flush()
	return e.w.Error()
}

func (e *csvEncoder) close() error {
	if err := e.writeHeader(); err != nil {
		return err
	}
	e.w.Flush()
	return e.w.Error()
}

type jsonEncoder struct {
	w     *bufio.Writer
	keys  [][]byte // `"name":` per column, pre-encoded
	cells []cellFunc
	line  []byte
	val   []byte
}

func newJSONEncoder(w io.Writer, schema *arrow.Schema) *jsonEncoder {
	e := &jsonEncoder{w: bufio.NewWriterSize(w, 64<<10)}
	for _, f := range schema.Fields() {
		k := appendJSONString(nil, f.Name)
		e.keys = append(e.keys, append(k, ':'))
	}
	return e
}

func (e *jsonEncoder) write(rec arrow.RecordBatch) error {
	e.cells = e.cells[:0]
	for _, col := range rec.Columns() {
		e.cells = append(e.cells, cellFormatter(col))
	}
	for i := 0; i < int(rec.NumRows()); i++ {
		e.line = append(e.line[:0], '{')
		for j, cell := range e.cells {
			if j > 0 {
				e.line = append(e.line, ',')
			}
			e.line = append(e.line, e.keys[j]...)
			var k cellKind
			e.val, k = cell(e.val[:0], i)
			switch k {
			case cellNull:
				e.line = append(e.line, "null"...)
			case cellString:
				e.line = appendJSONString(e.line, string(e.val))
			default:
				e.line = append(e.line, e.val...)
			}
		}
		e.line = append(e.line, '}', '\n')
		if _, err := e.w.Write(e.line); err != nil {
			return err
		}
	}
	return e.w.Flush()
}

func (e *jsonEncoder) close() error { return e.w.Flush() }
