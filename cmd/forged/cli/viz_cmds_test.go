package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// forged viz draws a bundled example offline, one marked shape per task,
// to stdout or to a file; a bad spec exits 1 with its problems.
func TestVizDrawsAPipeline(t *testing.T) {
	out, errOut, code := runCLI(t, "viz", "../../../examples/churn.yaml")
	if code != 0 || strings.Count(out, "data-task=") != 4 || !strings.Contains(out, `data-task="train"`) {
		t.Fatalf("exit %d (%s), %d tasks drawn", code, errOut, strings.Count(out, "data-task="))
	}
	file := filepath.Join(t.TempDir(), "dag.svg")
	if _, errOut, code := runCLI(t, "viz", "../../../examples/etl.yaml", "-o", file); code != 0 || !strings.Contains(errOut, "5 tasks") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if b, err := os.ReadFile(file); err != nil || strings.Count(string(b), "data-task=") != 5 {
		t.Fatalf("file: %v", err)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("name: x\ntasks:\n  - {name: a, op: nope}\n"), 0o644)
	if _, errOut, code := runCLI(t, "viz", bad); code != 1 || !strings.Contains(errOut, "unknown op") {
		t.Fatalf("bad spec: exit %d: %s", code, errOut)
	}
}
