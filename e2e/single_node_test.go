package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type runJSON struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	Tasks  []struct {
		Name     string `json:"name"`
		Status   string `json:"status"`
		Attempt  int    `json:"attempt"`
		Node     string `json:"node"`
		Attempts []struct {
			Error string `json:"error"`
		} `json:"attempts"`
		Outputs []struct {
			Name string `json:"name"`
			Rows int64  `json:"rows"`
		} `json:"outputs"`
	} `json:"tasks"`
}

func decodeRun(t *testing.T, s string) runJSON {
	t.Helper()
	var r runJSON
	if err := json.Unmarshal([]byte(s), &r); err != nil {
		t.Fatalf("decode run JSON: %v\n%s", err, s)
	}
	return r
}

// exampleRoot starts an agent whose data root holds the bundled examples'
// data, as `forged dev` lays it out.
func exampleAgent(t *testing.T) *agent {
	t.Helper()
	dataDir := t.TempDir()
	return startAgent(t, dataDir, "--data-root", filepath.Join(repoRoot, "examples"))
}

func TestSubmitWaitStatusOutputThroughTheCLI(t *testing.T) {
	a := exampleAgent(t)
	stdout, stderr, code := forged(t, "submit", "examples/etl.yaml", "--param", "min_amount=10", "--wait", "--addr", a.URL, "--json")
	if code != 0 {
		t.Fatalf("submit --wait exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	run := decodeRun(t, stdout)
	if run.Status != "succeeded" || len(run.Tasks) != 5 {
		t.Fatalf("run = %+v", run)
	}
	if !strings.Contains(stderr, "✓ load") || !strings.Contains(stderr, "succeeded") {
		t.Fatalf("no progress lines on stderr:\n%s", stderr)
	}

	stdout, _, code = forged(t, "status", run.ID, "--addr", a.URL)
	if code != 0 || !strings.Contains(stdout, "big_orders") || !strings.Contains(stdout, "succeeded") {
		t.Fatalf("status exit %d:\n%s", code, stdout)
	}
	stdout, _, code = forged(t, "status", "--addr", a.URL)
	if code != 0 || !strings.Contains(stdout, run.ID) {
		t.Fatalf("status listing exit %d:\n%s", code, stdout)
	}

	var kept int64
	for _, task := range run.Tasks {
		if task.Name == "columns" {
			kept = task.Outputs[0].Rows
		}
	}
	stdout, stderr, code = forged(t, "output", run.ID, "columns", "--addr", a.URL, "--via", "flight")
	if code != 0 {
		t.Fatalf("output exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if lines[0] != "order_id,customer,region,amount" || int64(len(lines)-1) != kept || kept == 0 {
		t.Fatalf("output has %d data lines (want %d), header %q", len(lines)-1, kept, lines[0])
	}
	file := filepath.Join(t.TempDir(), "cols.arrow")
	_, stderr, code = forged(t, "output", run.ID, "columns.out", "--format", "arrow", "-o", file, "--limit", "5", "--addr", a.URL, "--via", "http")
	if st, err := os.Stat(file); code != 0 || err != nil || st.Size() == 0 || !strings.Contains(stderr, "wrote 5 of") {
		t.Fatalf("arrow output exit %d, %v: %s", code, err, stderr)
	}
	stdout, _, code = forged(t, "logs", run.ID, "load", "--addr", a.URL)
	if code != 0 || !strings.Contains(stdout, "attempt 1") {
		t.Fatalf("logs exit %d:\n%s", code, stdout)
	}
}

func TestFailingPipelineExitsNonZero(t *testing.T) {
	a := exampleAgent(t)
	stdout, stderr, code := forged(t, "submit", "examples/flaky.yaml", "--wait", "--addr", a.URL)
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "call_api") || !strings.Contains(stdout, "503") || !strings.Contains(stdout, "skipped") {
		t.Fatalf("output does not explain the failure:\n%s", stdout)
	}
}

func TestValidateReportsLines(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("name: bad\ntasks:\n  - name: a\n    op: noop\n    needs: [b]\n  - name: b\n    op: noop\n    needs: [a]\n  - name: c\n    op: nope\n"), 0o644)
	_, stderr, code := forged(t, "validate", bad)
	if code != 1 || !strings.Contains(stderr, "bad.yaml:10: tasks[2].op") || !strings.Contains(stderr, "a -> b -> a") {
		t.Fatalf("validate exit %d:\n%s", code, stderr)
	}
	stdout, _, code := forged(t, "validate", "examples/etl.yaml", "examples/flaky.yaml")
	if code != 0 || strings.Count(stdout, "is valid") != 2 {
		t.Fatalf("validate examples exit %d:\n%s", code, stdout)
	}
}

func TestRunInProcess(t *testing.T) {
	t.Cleanup(func() { os.RemoveAll(filepath.Join(repoRoot, "examples", "out")) })
	stdout, stderr, code := forged(t, "run", "examples/etl.yaml", "--param", "min_amount=10")
	if code != 0 {
		t.Fatalf("run exit %d\n%s\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "run ") || !strings.Contains(stdout, ": succeeded") {
		t.Fatalf("run output:\n%s", stdout)
	}
	_, _, code = forged(t, "run", "examples/flaky.yaml")
	if code != 1 {
		t.Fatalf("flaky run exit %d, want 1", code)
	}
	if _, err := os.Stat(filepath.Join(repoRoot, "examples", "out", "big_orders.parquet")); err != nil {
		t.Fatalf("the save task wrote no parquet file: %v", err)
	}
}

func TestKillNineMidRunThenRestartResumes(t *testing.T) {
	dataDir := t.TempDir()
	a := startAgent(t, dataDir)
	spec := filepath.Join(t.TempDir(), "slow.yaml")
	os.WriteFile(spec, []byte("name: slow\ntasks:\n  - {name: nap, op: sleep, with: {duration: 2s}}\n  - {name: after, op: noop, needs: [nap]}\n"), 0o644)
	stdout, stderr, code := forged(t, "submit", spec, "--addr", a.URL)
	if code != 0 {
		t.Fatalf("submit exit %d: %s", code, stderr)
	}
	id := strings.TrimSpace(stdout)
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, _, _ := forged(t, "status", id, "--json", "--addr", a.URL)
		if r := decodeRun(t, out); r.Tasks[0].Status == "running" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("nap never started")
		}
		time.Sleep(50 * time.Millisecond)
	}
	a.kill()

	b := startAgent(t, dataDir)
	stdout, stderr, code = forged(t, "status", id, "--json", "--addr", b.URL)
	if code != 0 {
		t.Fatalf("acknowledged run lost after kill -9: %s", stderr)
	}
	for {
		r := decodeRun(t, stdout)
		if r.Status == "succeeded" {
			if r.Tasks[0].Attempt != 2 || !strings.Contains(r.Tasks[0].Attempts[0].Error, "restarted") {
				t.Fatalf("nap after restart: %+v", r.Tasks[0])
			}
			return
		}
		if r.Status == "failed" || r.Status == "cancelled" || time.Now().After(deadline.Add(time.Minute)) {
			t.Fatalf("run after restart: %s", stdout)
		}
		time.Sleep(100 * time.Millisecond)
		stdout, _, _ = forged(t, "status", id, "--json", "--addr", b.URL)
	}
}
