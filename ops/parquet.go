package ops

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/forged-dev/forged/dag"
)

// rowGroupBytes is when write_parquet starts a new row group.
const rowGroupBytes = 64 << 20

func readParquetOp() Op {
	return Op{Spec: dag.OpSpec{
		Name:        "read_parquet",
		Description: "Reads a Parquet file under the data roots, streaming it in batches.",
		MinInputs:   0, MaxInputs: 0,
		Required: []string{"path"},
		Optional: []string{"batch_rows"},
	}, Run: runReadParquet}
}

func runReadParquet(ctx context.Context, env *Env) error {
	w := withOf(env)
	path, err := w.required("path")
	if err != nil {
		return err
	}
	batch, err := w.int("batch_rows", defaultBatchRows)
	if err != nil {
		return err
	}
	if batch < 1 || batch > maxBatchRows {
		return fmt.Errorf("with.batch_rows: want 1 to %d, got %d", maxBatchRows, batch)
	}
	f, _, err := openInRoots(env, path)
	if err != nil {
		return err
	}
	rows, groups, err := readParquetFile(ctx, env, f, batch, func(schema *arrow.Schema) (RecordWriter, error) { return output(env, schema) })
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("read_parquet %s: %w", path, err)
	}
	logf(env, "read_parquet %s: %d rows in %d row groups", path, rows, groups)
	metric(env, "rows", rows)
	return nil
}

// readParquetFile opens the output with the file's schema and streams the
// file into it in batches of batch rows; it closes f. It returns the rows
// and row groups read.
func readParquetFile(ctx context.Context, env *Env, f parquet.ReaderAtSeeker, batch int, open func(*arrow.Schema) (RecordWriter, error)) (int64, int, error) {
	// The parquet reader closes f.
	pf, err := file.NewParquetReader(f, file.WithReadProps(parquet.NewReaderProperties(env.Mem)))
	if err != nil {
		if c, ok := f.(io.Closer); ok {
			c.Close()
		}
		return 0, 0, fmt.Errorf("not a readable Parquet file: %w", err)
	}
	defer pf.Close()
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: int64(batch)}, env.Mem)
	if err != nil {
		return 0, 0, err
	}
	schema, err := fr.Schema()
	if err != nil {
		return 0, 0, err
	}
	schema = withoutFieldIDs(schema)
	out, err := open(schema)
	if err != nil {
		return 0, 0, err
	}
	if pf.NumRows() == 0 || schema.NumFields() == 0 {
		return 0, pf.NumRowGroups(), nil
	}
	rr, err := fr.GetRecordReader(ctx, nil, nil)
	if err != nil {
		return 0, 0, err
	}
	defer rr.Release()
	rows, err := each(ctx, rr, func(rec arrow.RecordBatch) error {
		if !rec.Schema().Equal(schema) {
			rec = array.NewRecordBatch(schema, rec.Columns(), rec.NumRows())
			defer rec.Release()
		}
		return out.Write(rec)
	})
	return rows, pf.NumRowGroups(), err
}

// withoutFieldIDs drops the "PARQUET:field_id" metadata the reader puts on
// every top-level field, so that a round trip gives back the same schema.
func withoutFieldIDs(s *arrow.Schema) *arrow.Schema {
	fields := s.Fields()
	for i, f := range fields {
		if idx := f.Metadata.FindKey("PARQUET:field_id"); idx >= 0 {
			keys, vals := []string{}, []string{}
			for k := range f.Metadata.Len() {
				if k != idx {
					keys = append(keys, f.Metadata.Keys()[k])
					vals = append(vals, f.Metadata.Values()[k])
				}
			}
			fields[i].Metadata = arrow.NewMetadata(keys, vals)
		}
	}
	md := s.Metadata()
	return arrow.NewSchema(fields, &md)
}

func writeParquetOp() Op {
	return Op{Spec: dag.OpSpec{
		Name: "write_parquet",
		Description: "Writes the input as a Parquet file (snappy) under the data roots, replacing it atomically; " +
			"outputs one row {path, rows, bytes}.",
		MinInputs: 1, MaxInputs: 1,
		Required: []string{"path"},
	}, Run: runWriteParquet}
}

var writeParquetSchema = arrow.NewSchema([]arrow.Field{
	{Name: "path", Type: arrow.BinaryTypes.String},
	{Name: "rows", Type: arrow.PrimitiveTypes.Int64},
	{Name: "bytes", Type: arrow.PrimitiveTypes.Int64},
}, nil)

func runWriteParquet(ctx context.Context, env *Env) error {
	path, err := withOf(env).required("path")
	if err != nil {
		return err
	}
	return writeInput(ctx, env, "write_parquet", path, writeParquetSchema, func(rr array.RecordReader, f *os.File) (int64, error) {
		return writeParquet(ctx, env, rr, f)
	})
}

// writeParquet streams rr into f and syncs it; it does not close f.
func writeParquet(ctx context.Context, env *Env, rr array.RecordReader, f *os.File) (int64, error) {
	bw := bufio.NewWriterSize(f, 1<<20)
	props := parquet.NewWriterProperties(
		parquet.WithAllocator(env.Mem),
		parquet.WithCompression(compress.Codecs.Snappy),
		parquet.WithMaxRowGroupLength(1<<20),
	)
	// The struct hides bw's other methods so the parquet writer cannot
	// close the file before it is synced.
	pw, err := pqarrow.NewFileWriter(rr.Schema(), struct{ io.Writer }{bw}, props,
		pqarrow.NewArrowWriterProperties(pqarrow.WithAllocator(env.Mem), pqarrow.WithStoreSchema()))
	if err != nil {
		return 0, err
	}
	rows, err := each(ctx, rr, func(rec arrow.RecordBatch) error {
		if pw.RowGroupTotalBytesWritten() >= rowGroupBytes {
			pw.NewBufferedRowGroup()
		}
		return pw.WriteBuffered(rec)
	})
	if cerr := pw.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return rows, err
	}
	if err := bw.Flush(); err != nil {
		return rows, err
	}
	return rows, f.Sync()
}

// writeOneRow writes a one-row table of a string and int64 columns.
func writeOneRow(env *Env, schema *arrow.Schema, s string, ints ...int64) error {
	b := array.NewRecordBuilder(env.Mem, schema)
	defer b.Release()
	b.Field(0).(*array.StringBuilder).Append(s)
	for i, v := range ints {
		b.Field(i + 1).(*array.Int64Builder).Append(v)
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	out, err := output(env, schema)
	if err != nil {
		return err
	}
	return out.Write(rec)
}
