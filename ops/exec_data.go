package ops

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"sort"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/ipc"

	"github.com/forged-dev/forged/dag"
	"github.com/forged-dev/forged/dataplane"
)

// writeExecInput writes one input of an exec task to path in format and
// returns its rows. The input streams through: it is never held whole.
func writeExecInput(ctx context.Context, env *Env, in Input, format, path string) (int64, error) {
	rr, err := in.Open()
	if err != nil {
		return 0, err
	}
	defer rr.Release()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var rows int64
	switch format {
	case "parquet":
		rows, err = writeParquet(ctx, env, rr, f)
	case "arrow":
		// The IPC file format: what pyarrow.ipc.open_file, pandas'
		// read_feather and polars' read_ipc read.
		w, werr := ipc.NewFileWriter(f, ipc.WithSchema(rr.Schema()), ipc.WithAllocator(env.Mem))
		if werr != nil {
			return 0, werr
		}
		rows, err = each(ctx, rr, w.Write)
		if cerr := w.Close(); err == nil {
			err = cerr
		}
	default:
		wire := dataplane.FormatCSV
		if format == "jsonl" {
			wire = dataplane.FormatNDJSON
		}
		bw := bufio.NewWriterSize(f, 1<<20)
		rows, err = dataplane.Encode(bw, wire, rr, 0)
		if ferr := bw.Flush(); err == nil {
			err = ferr
		}
	}
	if err != nil {
		return rows, err
	}
	return rows, f.Close()
}

// readExecOutputs reads every declared output back from the file the
// program wrote, in the task's format.
func readExecOutputs(ctx context.Context, env *Env, format string, paths map[string]string) error {
	if env.Task == nil {
		return nil
	}
	for _, name := range env.Task.Outputs {
		path := paths[name]
		rows, err := readExecOutput(ctx, env, format, name, path)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("output %s: the program wrote no file at $FORGE_OUTPUT_%s (%s)", name, dag.EnvName(name), path)
			}
			return fmt.Errorf("output %s: not a valid %s file: %w", name, format, err)
		}
		logf(env, "output %s: %d rows read from $FORGE_OUTPUT_%s", name, rows, dag.EnvName(name))
	}
	return nil
}

func readExecOutput(ctx context.Context, env *Env, format, name, path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	open := func(schema *arrow.Schema) (RecordWriter, error) { return env.Output(name, schema) }
	switch format {
	case "csv":
		opts := csvOptions{comma: ',', header: true, nulls: defaultNullValues, batchRows: defaultBatchRows}
		rows, _, err := readCSVFile(ctx, env, f, opts, open)
		return rows, err
	case "parquet":
		rows, _, err := readParquetFile(ctx, env, f, defaultBatchRows, open)
		return rows, err
	case "jsonl":
		rows, _, err := readJSONLData(ctx, env, f, defaultJSONLOptions, open)
		return rows, err
	}
	return readArrowFile(ctx, env, f, open)
}

// arrowFileMagic starts (and ends) an Arrow IPC file; a stream has none.
var arrowFileMagic = []byte("ARROW1")

// readArrowFile streams an Arrow IPC file or stream into the output.
func readArrowFile(ctx context.Context, env *Env, f *os.File, open func(*arrow.Schema) (RecordWriter, error)) (int64, error) {
	head := make([]byte, len(arrowFileMagic))
	n, _ := io.ReadFull(f, head)
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return 0, err
	}
	if n == len(head) && bytes.Equal(head, arrowFileMagic) {
		st, err := f.Stat()
		if err != nil {
			return 0, err
		}
		if err := dataplane.ValidateIPCFile(f, st.Size(), dataplane.DefaultIPCLimits); err != nil {
			return 0, err
		}
		fr, err := ipc.NewFileReader(f, ipc.WithAllocator(env.Mem))
		if err != nil {
			return 0, err
		}
		defer fr.Close()
		out, err := open(fr.Schema())
		if err != nil {
			return 0, err
		}
		var rows int64
		for i := 0; i < fr.NumRecords(); i++ {
			if err := ctx.Err(); err != nil {
				return rows, err
			}
			rec, err := fr.RecordBatchAt(i)
			if err != nil {
				return rows, err
			}
			rows += rec.NumRows()
			err = out.Write(rec)
			rec.Release()
			if err != nil {
				return rows, err
			}
		}
		return rows, nil
	}
	rr, err := dataplane.NewIPCStreamReader(bufio.NewReaderSize(f, 1<<20), env.Mem)
	if err != nil {
		return 0, err
	}
	defer rr.Release()
	out, err := open(rr.Schema())
	if err != nil {
		return 0, err
	}
	return each(ctx, rr, out.Write)
}

// Limits on a metrics file.
const (
	maxMetricsFile   = 16 << 20
	maxMetrics       = 1000
	maxSeriesPoints  = 100000
	maxMetricNameLen = 128
	maxMetricString  = 1024
)

// readExecMetrics records the metrics the program wrote to path, if it
// wrote any: a JSON object of numbers, booleans, short strings and lists
// of numbers (series, such as a loss per epoch).
func readExecMetrics(env *Env, path string) error {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("metrics file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxMetricsFile+1))
	if err != nil {
		return fmt.Errorf("metrics file: %w", err)
	}
	if len(b) > maxMetricsFile {
		return fmt.Errorf("metrics file $FORGE_METRICS is over %d MiB", maxMetricsFile>>20)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil
	}
	metrics, err := parseMetrics(b)
	if err != nil {
		return fmt.Errorf("metrics file $FORGE_METRICS: %w", err)
	}
	names := make([]string, 0, len(metrics))
	for k := range metrics {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		metric(env, k, metrics[k])
	}
	logf(env, "metrics: %d recorded", len(names))
	return nil
}

// parseMetrics checks and converts a metrics document.
func parseMetrics(b []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("want a JSON object such as {\"accuracy\": 0.93, \"loss\": [0.9, 0.5]}: %v", err)
	}
	if len(doc) > maxMetrics {
		return nil, fmt.Errorf("%d metrics; the limit is %d", len(doc), maxMetrics)
	}
	out := make(map[string]any, len(doc))
	for k, v := range doc {
		if k == "" || len(k) > maxMetricNameLen {
			return nil, fmt.Errorf("metric name %q: want 1 to %d characters", clipped(k), maxMetricNameLen)
		}
		switch x := v.(type) {
		case json.Number:
			n, err := metricNumber(x)
			if err != nil {
				return nil, fmt.Errorf("%s: %v", k, err)
			}
			out[k] = n
		case bool:
			out[k] = x
		case string:
			if len(x) > maxMetricString {
				return nil, fmt.Errorf("%s: a string metric is limited to %d bytes", k, maxMetricString)
			}
			out[k] = x
		case []any:
			if len(x) > maxSeriesPoints {
				return nil, fmt.Errorf("%s: %d points; a series is limited to %d", k, len(x), maxSeriesPoints)
			}
			series := make([]float64, len(x))
			for i, p := range x {
				num, ok := p.(json.Number)
				if !ok {
					return nil, fmt.Errorf("%s[%d]: a series holds numbers only", k, i)
				}
				f, err := num.Float64()
				if err != nil || math.IsInf(f, 0) {
					return nil, fmt.Errorf("%s[%d]: %q is not a finite number", k, i, num)
				}
				series[i] = f
			}
			out[k] = series
		default:
			return nil, fmt.Errorf("%s: want a number, boolean, string or list of numbers, got %s", k, describeValue(v))
		}
	}
	return out, nil
}

// metricNumber keeps whole numbers whole.
func metricNumber(n json.Number) (any, error) {
	if i, err := n.Int64(); err == nil {
		return i, nil
	}
	f, err := n.Float64()
	if err != nil || math.IsInf(f, 0) {
		return nil, fmt.Errorf("%q is not a finite number", n)
	}
	return f, nil
}

func clipped(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
