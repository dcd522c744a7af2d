package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// An agent started with --tokens-file refuses the CLI without a token,
// refuses a submission with a read token, and serves each command its
// token allows, over HTTP and Flight.
func TestTokensFileGuardsTheAgent(t *testing.T) {
	const admin, submit, read = "e2e-admin-0123456789", "e2e-submit-0123456789", "e2e-read-0123456789"
	tokens := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(tokens, []byte("# roles\n"+admin+" admin\n"+submit+" submit\n"+read+" read\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a := startAgent(t, t.TempDir(), "--data-root", filepath.Join(repoRoot, "examples"), "--tokens-file", tokens)

	_, stderr, code := forged(t, "submit", "examples/etl.yaml", "--addr", a.URL)
	if code == 0 || !strings.Contains(stderr, "401") || !strings.Contains(stderr, "--token") {
		t.Fatalf("submit without a token: exit %d, %s", code, stderr)
	}
	_, stderr, code = forged(t, "submit", "examples/etl.yaml", "--addr", a.URL, "--token", read)
	if code == 0 || !strings.Contains(stderr, "403") || !strings.Contains(stderr, "submit role") {
		t.Fatalf("submit with a read token: exit %d, %s", code, stderr)
	}
	stdout, stderr, code := forged(t, "submit", "examples/etl.yaml", "--wait", "--json", "--addr", a.URL, "--token", submit)
	if code != 0 {
		t.Fatalf("submit with a submit token: exit %d, %s", code, stderr)
	}
	run := decodeRun(t, stdout)
	stdout, stderr, code = forged(t, "output", run.ID, "columns", "--addr", a.URL, "--token", read, "--via", "flight")
	if code != 0 || !strings.HasPrefix(stdout, "order_id,") {
		t.Fatalf("output over Flight with a read token: exit %d, %s", code, stderr)
	}
	if _, stderr, code = forged(t, "output", run.ID, "columns", "--addr", a.URL, "--via", "flight"); code == 0 || !strings.Contains(stderr, "--token") {
		t.Fatalf("output over Flight without a token succeeded: %s", stderr)
	}
	// The tokens never reach the node's log.
	for _, secret := range []string{admin, submit, read} {
		if strings.Contains(a.out.String(), secret) {
			t.Fatal("a token appears in the agent's output")
		}
	}
}
