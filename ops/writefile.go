package ops

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// writeInput writes the task's input to path under the data roots, as op
// (write_csv, write_parquet) with write, which streams rr into a file and
// syncs it. The file is written beside its place and renamed into it, so
// a failure leaves no half file. The output is one row {path, rows,
// bytes} of schema.
func writeInput(ctx context.Context, env *Env, op, path string, schema *arrow.Schema,
	write func(rr array.RecordReader, f *os.File) (int64, error)) error {
	real, err := resolvePath(env, path)
	if err != nil {
		return err
	}
	if st, err := os.Stat(real); err == nil && st.IsDir() {
		return fmt.Errorf("%s %s: it is a directory", op, path)
	}
	rr, err := input(env, 0)
	if err != nil {
		return err
	}
	defer rr.Release()
	if err := os.MkdirAll(filepath.Dir(real), 0o755); err != nil {
		return fmt.Errorf("%s %s: %w", op, path, unwrapPathError(err))
	}
	tmp, err := os.CreateTemp(filepath.Dir(real), "."+filepath.Base(real)+".*.tmp")
	if err != nil {
		return fmt.Errorf("%s %s: %w", op, path, unwrapPathError(err))
	}
	committed := false
	defer func() {
		if !committed {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	rows, err := write(rr, tmp)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%s %s: %w", op, path, err)
	}
	st, err := tmp.Stat()
	if err == nil {
		err = tmp.Close()
	}
	if err == nil {
		err = os.Rename(tmp.Name(), real)
	}
	if err != nil {
		return fmt.Errorf("%s %s: %w", op, path, unwrapPathError(err))
	}
	committed = true
	logf(env, "%s %s: %d rows, %d bytes", op, path, rows, st.Size())
	metric(env, "rows", rows)
	return writeOneRow(env, schema, real, rows, st.Size())
}
