package e2e

import (
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The example program that registers a Go function as an op builds into
// its own forged binary, which runs a pipeline using the op.
func TestCustomOpExampleBuildsAndRuns(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "custom-op")
	build := exec.Command("go", "build", "-o", bin, "./examples/custom-op")
	build.Dir = repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the example: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "run", "examples/custom-op/pipeline.yaml", "--json")
	cmd.Dir = repoRoot
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("custom-op run: %v\n%s", err, stderr.String())
	}
	var run struct {
		Status string `json:"status"`
		Tasks  []struct {
			Name    string         `json:"name"`
			Metrics map[string]any `json:"metrics"`
			Outputs []struct {
				Rows    int64 `json:"rows"`
				Preview struct {
					Rows [][]any `json:"rows"`
				} `json:"preview"`
			} `json:"outputs"`
		} `json:"tasks"`
	}
	if err := json.Unmarshal(out, &run); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if run.Status != "succeeded" || len(run.Tasks) != 3 {
		t.Fatalf("run = %+v", run)
	}
	clean := run.Tasks[1]
	if clean.Metrics["dropped"] != float64(2) || clean.Outputs[0].Rows != 4 || clean.Outputs[0].Preview.Rows[0][1] != "Ada Lovelace" {
		t.Fatalf("clean = %+v", clean)
	}
	// The program's own validate knows the op; stock forged does not.
	if out, err := exec.Command(bin, "validate", filepath.Join(repoRoot, "examples/custom-op/pipeline.yaml")).CombinedOutput(); err != nil {
		t.Fatalf("custom-op validate: %v\n%s", err, out)
	}
	if _, stderr, code := forged(t, "validate", "examples/custom-op/pipeline.yaml"); code == 0 {
		t.Fatalf("forged validate accepted an op it does not have: %s", stderr)
	}
}
