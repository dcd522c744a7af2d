package ops

import (
	"context"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/forged-dev/forged/dag"
)

// with reads a task's `with` values. Values arrive decoded from YAML or
// JSON, possibly through parameter templating, so numbers may be int or
// float64 and scalars may be strings.
type with map[string]any

func withOf(env *Env) with {
	if env.Task == nil {
		return nil
	}
	return env.Task.With
}

func describeValue(v any) string {
	switch v.(type) {
	case []any:
		return "a list"
	case map[string]any:
		return "a mapping"
	case nil:
		return "nothing"
	}
	return fmt.Sprintf("%v (%T)", v, v)
}

// str returns with.key as a string; ok is false when it is absent.
func (w with) str(key string) (s string, ok bool, err error) {
	v, ok := w[key]
	if !ok || v == nil {
		return "", false, nil
	}
	s, isStr := v.(string)
	if !isStr {
		return "", true, fmt.Errorf("with.%s: want a string, got %s", key, describeValue(v))
	}
	return s, true, nil
}

// required returns with.key as a non-empty string.
func (w with) required(key string) (string, error) {
	s, ok, err := w.str(key)
	if err != nil {
		return "", err
	}
	if !ok || strings.TrimSpace(s) == "" {
		return "", fmt.Errorf("with.%s is required", key)
	}
	return s, nil
}

// int returns with.key as an int, or def when absent.
func (w with) int(key string, def int) (int, error) {
	v, ok := w[key]
	if !ok || v == nil {
		return def, nil
	}
	bad := fmt.Errorf("with.%s: want a whole number, got %s", key, describeValue(v))
	switch n := v.(type) {
	case int:
		return n, nil
	case int64:
		return int(n), nil
	case uint64:
		if n > math.MaxInt32 {
			return 0, bad
		}
		return int(n), nil
	case float64:
		if n != math.Trunc(n) || math.Abs(n) > 1<<53 {
			return 0, bad
		}
		return int(n), nil
	case string:
		i, err := strconv.Atoi(strings.TrimSpace(n))
		if err != nil {
			return 0, bad
		}
		return i, nil
	}
	return 0, bad
}

// bool returns with.key as a bool, or def when absent.
func (w with) bool(key string, def bool) (bool, error) {
	v, ok := w[key]
	if !ok || v == nil {
		return def, nil
	}
	switch b := v.(type) {
	case bool:
		return b, nil
	case string:
		if p, err := strconv.ParseBool(strings.TrimSpace(b)); err == nil {
			return p, nil
		}
	}
	return false, fmt.Errorf("with.%s: want true or false, got %s", key, describeValue(v))
}

// strings returns with.key as a list of strings; what names the items in
// errors ("column names").
func (w with) strings(key, what string, def []string) ([]string, error) {
	v, ok := w[key]
	if !ok || v == nil {
		return def, nil
	}
	bad := fmt.Errorf("with.%s: want a list of %s, got %s", key, what, describeValue(v))
	switch l := v.(type) {
	case []string:
		return l, nil
	case []any:
		out := make([]string, len(l))
		for i, x := range l {
			s, ok := x.(string)
			if !ok {
				return nil, fmt.Errorf("with.%s[%d]: want one of the %s as a string, got %s", key, i, what, describeValue(x))
			}
			out[i] = s
		}
		return out, nil
	}
	return nil, bad
}

func logf(env *Env, format string, args ...any) {
	if env.Log == nil {
		return
	}
	fmt.Fprintf(env.Log, format+"\n", args...)
}

func metric(env *Env, name string, value any) {
	if env.Metrics != nil {
		env.Metrics(name, value)
	}
}

// input opens the i-th input.
func input(env *Env, i int) (array.RecordReader, error) {
	if i >= len(env.Inputs) {
		return nil, fmt.Errorf("op needs input %d, the task has %d", i+1, len(env.Inputs))
	}
	in := env.Inputs[i]
	rr, err := in.Open()
	if err != nil {
		return nil, fmt.Errorf("open input %s: %w", in.Need, err)
	}
	return rr, nil
}

func output(env *Env, schema *arrow.Schema) (RecordWriter, error) {
	if env.Output == nil {
		return nil, fmt.Errorf("no output writer")
	}
	w, err := env.Output(dag.DefaultOutput, schema)
	if err != nil {
		return nil, fmt.Errorf("open output %s: %w", dag.DefaultOutput, err)
	}
	return w, nil
}

// each calls f for every batch of rr, stopping at the first error or when
// ctx is done. It returns the rows seen.
func each(ctx context.Context, rr array.RecordReader, f func(rec arrow.RecordBatch) error) (int64, error) {
	var rows int64
	for rr.Next() {
		if err := ctx.Err(); err != nil {
			return rows, err
		}
		rec := rr.RecordBatch()
		rows += rec.NumRows()
		if err := f(rec); err != nil {
			return rows, err
		}
	}
	if err := rr.Err(); err != nil && err != io.EOF {
		return rows, err
	}
	return rows, ctx.Err()
}

func columnNames(s *arrow.Schema) string {
	names := make([]string, s.NumFields())
	for i, f := range s.Fields() {
		names[i] = f.Name
	}
	return strings.Join(names, ", ")
}
