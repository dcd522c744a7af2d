package ops

import (
	"context"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/forged-dev/forged/dag"
)

func readArrowOp() Op {
	return Op{Spec: dag.OpSpec{
		Name:        "read_arrow",
		Description: "Reads an Arrow IPC file or stream (told apart by the ARROW1 magic) under the data roots, streaming its batches.",
		MinInputs:   0, MaxInputs: 0,
		Required: []string{"path"},
	}, Run: runReadArrow}
}

func runReadArrow(ctx context.Context, env *Env) (err error) {
	path, err := withOf(env).required("path")
	if err != nil {
		return err
	}
	f, _, err := openInRoots(env, path)
	if err != nil {
		return err
	}
	defer f.Close()
	defer func() {
		// The IPC readers trust the lengths in the file; a damaged one can
		// make them panic.
		if p := recover(); p != nil {
			err = fmt.Errorf("read_arrow %s: not a readable Arrow IPC file or stream: %v", path, p)
		}
	}()
	opened := false
	rows, err := readArrowFile(ctx, env, f, func(s *arrow.Schema) (RecordWriter, error) {
		opened = true
		return output(env, s)
	})
	switch {
	case err != nil && ctx.Err() != nil:
		return ctx.Err()
	case err != nil && !opened:
		return fmt.Errorf("read_arrow %s: not a readable Arrow IPC file or stream: %w", path, err)
	case err != nil:
		return fmt.Errorf("read_arrow %s: %w", path, err)
	}
	logf(env, "read_arrow %s: %d rows", path, rows)
	metric(env, "rows", rows)
	return nil
}
