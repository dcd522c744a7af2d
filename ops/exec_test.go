//go:build unix

package ops

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/forged-dev/forged/dag"
)

var execSchema = schemaOf(field("id", arrow.PrimitiveTypes.Int64), field("name", arrow.BinaryTypes.String),
	field("amount", arrow.PrimitiveTypes.Float64))

const execRows = `[{"id": 1, "name": "ann", "amount": 2.5}, {"id": 2, "name": null, "amount": 4}, {"id": 3, "name": "cy", "amount": null}]`

// execEnv makes an env for an exec task with one input (up0) and the
// given options.
func newExecEnv(t *testing.T, with map[string]any) *testEnv {
	t.Helper()
	te := newEnv(t, with)
	te.Task.Op = dag.ExecOp
	te.Run, te.Attempt = "run-1", 1
	te.Params = map[string]any{"lr": 0.5, "name": "trial"}
	te.WorkDir = t.TempDir()
	te.ArtifactDir = t.TempDir()
	te.AllowExec = true
	te.addJSONInput(execSchema, execRows)
	return te
}

func needPython(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 is not installed (CI installs it)")
	}
}

// A Python script (standard library only) reads its input as CSV, writes
// an output and metrics, and prints to the log; the params reach it.
func TestExecPythonCSV(t *testing.T) {
	needPython(t)
	te := newExecEnv(t, map[string]any{"format": "csv", "interpreter": "python3", "script": `
import csv, json, os, sys
params = json.loads(os.environ["FORGE_PARAMS"])
rows = list(csv.DictReader(open(os.environ["FORGE_INPUT_UP0"])))
print("read", len(rows), "rows; lr", params["lr"], "param", os.environ["FORGE_PARAM_NAME"])
print("a warning", file=sys.stderr)
with open(os.environ["FORGE_OUTPUT_OUT"], "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["id", "double"])
    for r in rows:
        w.writerow([r["id"], float(r["amount"]) * 2 if r["amount"] else ""])
json.dump({"rows": len(rows), "loss": [0.9, 0.5, 0.25], "converged": True, "note": "ok"}, open(os.environ["FORGE_METRICS"], "w"))
open(os.path.join(os.environ["FORGE_ARTIFACTS"], "model.txt"), "w").write("w=1")
`})
	if err := te.run(execOp()); err != nil {
		t.Fatalf("%v\nlog:\n%s", err, te.log.String())
	}
	if got := te.table(); got != "1|5\n2|8\n3|(null)" {
		t.Fatalf("output:\n%s", got)
	}
	log := te.log.String()
	for _, want := range []string{"read 3 rows; lr 0.5 param trial", "a warning", "input up0.out: 3 rows", "output out: 3 rows"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	if te.metrics["rows"] != int64(3) || te.metrics["converged"] != true || te.metrics["note"] != "ok" {
		t.Fatalf("metrics = %v", te.metrics)
	}
	if s, ok := te.metrics["loss"].([]float64); !ok || len(s) != 3 || s[2] != 0.25 {
		t.Fatalf("loss series = %#v", te.metrics["loss"])
	}
	if b, err := os.ReadFile(filepath.Join(te.ArtifactDir, "model.txt")); err != nil || string(b) != "w=1" {
		t.Fatalf("artifact: %q, %v", b, err)
	}
}

// Each format the node converts survives a round trip through a program
// that copies its input to its output.
func TestExecFormatsRoundTrip(t *testing.T) {
	for _, format := range dag.ExecFormats {
		t.Run(format, func(t *testing.T) {
			te := newExecEnv(t, map[string]any{"format": format, "script": `cp "$FORGE_INPUT_UP0" "$FORGE_OUTPUT_OUT"`})
			if err := te.run(execOp()); err != nil {
				t.Fatalf("%v\nlog:\n%s", err, te.log.String())
			}
			if got := te.table(); got != "1|ann|2.5\n2|(null)|4\n3|cy|(null)" {
				t.Fatalf("round trip through %s:\n%s", format, got)
			}
			if s := te.out().schema; s.Field(0).Type.ID() != arrow.INT64 || s.Field(2).Type.ID() != arrow.FLOAT64 {
				t.Fatalf("schema after %s: %v", format, s)
			}
		})
	}
}

// A Python script writes JSON lines; they are read back with types.
func TestExecPythonJSONLines(t *testing.T) {
	needPython(t)
	te := newExecEnv(t, map[string]any{"format": "jsonl", "exec": []any{"python3", "-c", `
import json, os
out = open(os.environ["FORGE_OUTPUT_OUT"], "w")
for line in open(os.environ["FORGE_INPUT_UP0"]):
    r = json.loads(line)
    out.write(json.dumps({"id": r["id"], "big": (r["amount"] or 0) > 3}) + "\n")
`}})
	if err := te.run(execOp()); err != nil {
		t.Fatalf("%v\nlog:\n%s", err, te.log.String())
	}
	if got := te.table(); got != "1|false\n2|true\n3|false" {
		t.Fatalf("output:\n%s", got)
	}
}

func TestExecFailures(t *testing.T) {
	cases := []struct {
		name string
		with map[string]any
		want []string
	}{
		{"exit code and stderr", map[string]any{"script": "echo starting; echo 'bad value in row 7' >&2; echo 'giving up' >&2; exit 3"},
			[]string{"exited with code 3", "bad value in row 7\ngiving up"}},
		{"no output", map[string]any{"script": "true"},
			[]string{"output out: the program wrote no file at $FORGE_OUTPUT_OUT"}},
		{"malformed output", map[string]any{"script": `echo garbage > "$FORGE_OUTPUT_OUT"`},
			[]string{"output out: not a valid arrow file"}},
		{"malformed parquet", map[string]any{"format": "parquet", "script": `echo garbage > "$FORGE_OUTPUT_OUT"`},
			[]string{"output out: not a valid parquet file"}},
		{"malformed metrics", map[string]any{"script": `cp "$FORGE_INPUT_UP0" "$FORGE_OUTPUT_OUT"; echo '{"loss": {"a": 1}}' > "$FORGE_METRICS"`},
			[]string{"metrics file $FORGE_METRICS: loss: want a number, boolean, string or list of numbers"}},
		{"unknown command", map[string]any{"exec": []any{"no-such-command-xyz"}},
			[]string{`command "no-such-command-xyz" not found in PATH`}},
		{"workdir outside the roots", map[string]any{"script": "true", "workdir": "../"},
			[]string{"workdir"}},
		{"bad format", map[string]any{"script": "true", "format": "xlsx"},
			[]string{"format: want one of arrow, parquet, csv, jsonl"}},
		{"FORGE_ env", map[string]any{"script": "true", "env": map[string]any{"FORGE_TASK": "x"}},
			[]string{"FORGE_ variables are set by forged"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := newExecEnv(t, c.with).run(execOp())
			for _, w := range c.want {
				wantErr(t, err, w)
			}
		})
	}

	te := newExecEnv(t, map[string]any{"script": "true"})
	te.AllowExec = false
	wantErr(t, te.run(execOp()), "start it with --enable-exec")
}

// The program sees the task's env and workdir, and none of the node's
// own variables but the few it passes on.
func TestExecEnvironment(t *testing.T) {
	t.Setenv("FORGED_TOKENS", "secret-admin-token-0123456789 admin")
	te := newExecEnv(t, map[string]any{
		"script":  `echo "tokens=${FORGED_TOKENS:-unset} greeting=$GREETING pwd=$(pwd) task=$FORGE_TASK run=$FORGE_RUN_ID attempt=$FORGE_ATTEMPT"; cp "$FORGE_INPUT_UP0" "$FORGE_OUTPUT_OUT"`,
		"env":     map[string]any{"GREETING": "hi"},
		"workdir": "sub",
	})
	if err := os.Mkdir(filepath.Join(te.root, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := te.run(execOp()); err != nil {
		t.Fatalf("%v\nlog:\n%s", err, te.log.String())
	}
	want := "tokens=unset greeting=hi pwd=" + filepath.Join(te.root, "sub") + " task=t run=run-1 attempt=1"
	if !strings.Contains(te.log.String(), want) {
		t.Fatalf("log lacks %q:\n%s", want, te.log.String())
	}
}

// On timeout the whole process group goes, children included, and soon.
func TestExecTimeoutKillsTheProcessGroup(t *testing.T) {
	te := newExecEnv(t, map[string]any{"script": `sleep 1000 & echo $! > "$FORGE_WORKDIR/child"; trap '' TERM; sleep 1000`})
	ctx, cancel := context.WithTimeoutCause(context.Background(), 300*time.Millisecond, errors.New("timed out after 300ms"))
	defer cancel()
	start := time.Now()
	err := execOp().Run(ctx, te.Env)
	wantErr(t, err, "timed out after 300ms")
	if d := time.Since(start); d > execStopGrace+3*time.Second {
		t.Fatalf("the op took %s to stop", d)
	}
	b, rerr := os.ReadFile(filepath.Join(te.WorkDir, "child"))
	if rerr != nil {
		t.Fatal(rerr)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if pid <= 0 {
		t.Fatalf("child pid %q", b)
	}
	// The child was killed with its group; it may linger as a zombie of
	// the shell's until reaped, which counts as gone.
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := syscall.Kill(pid, 0)
		if errors.Is(err, syscall.ESRCH) || zombie(pid) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("child %d still runs after the timeout", pid)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// zombie reports whether the process has exited but is not yet reaped.
func zombie(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] == 'Z'
	}
	return false
}

func TestParseMetrics(t *testing.T) {
	m, err := parseMetrics([]byte(`{"acc": 0.93, "n": 12, "ok": false, "loss": [1, 0.5], "tag": "x"}`))
	if err != nil || m["acc"] != 0.93 || m["n"] != int64(12) || m["ok"] != false || m["tag"] != "x" {
		t.Fatalf("metrics = %v, %v", m, err)
	}
	for doc, want := range map[string]string{
		`[1, 2]`:          "want a JSON object",
		`{"a": null}`:     "a: want a number",
		`{"s": [1, "x"]}`: "s[1]: a series holds numbers only",
		`{"": 1}`:         "metric name",
		`{"a": 1e999}`:    "not a finite number",
		`{"a": "` + strings.Repeat("x", 2000) + `"}`: "limited to 1024 bytes",
	} {
		_, err := parseMetrics([]byte(doc))
		wantErr(t, err, want)
	}
}
