package e2e

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The bundled mixed pipeline (operators, a Python step, operators) runs
// on an agent started with --enable-exec; an agent without it refuses it
// at submission, saying how to allow it.
func TestMixedExamplePipelineRunsWithExecEnabled(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 is not installed (CI installs it)")
	}
	roots := []string{"--data-root", filepath.Join(repoRoot, "examples")}
	plain := startNamedAgent(t, "plain", t.TempDir(), append([]string{"--gossip-port", "0"}, roots...)...)
	_, stderr, code := forged(t, "submit", "examples/regions.yaml", "--addr", plain.URL)
	if code == 0 || !strings.Contains(stderr, "--enable-exec") {
		t.Fatalf("submit to an agent without exec: exit %d, %s", code, stderr)
	}

	a := startAgent(t, t.TempDir(), append(roots, "--enable-exec")...)
	stdout, stderr, code := forged(t, "submit", "examples/regions.yaml", "--wait", "--json", "--addr", a.URL)
	if code != 0 {
		t.Fatalf("submit --wait exit %d\n%s\n%s", code, stdout, stderr)
	}
	run := decodeRun(t, stdout)
	if run.Status != "succeeded" {
		t.Fatalf("run = %+v", run)
	}
	stdout, stderr, code = forged(t, "output", run.ID, "score", "--addr", a.URL)
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if code != 0 || lines[0] != "region,orders,revenue,share" || len(lines) != 4 {
		t.Fatalf("score output (exit %d, %s):\n%s", code, stderr, stdout)
	}
	stdout, _, code = forged(t, "logs", run.ID, "score", "--addr", a.URL)
	if code != 0 || !strings.Contains(stdout, "scored 3 regions") {
		t.Fatalf("score's log:\n%s", stdout)
	}
}
