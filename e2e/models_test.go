package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A model file registered through one agent's CLI is served by the
// others, by alias, from a CSV; a corrupt file is refused and the agent
// stays up.
func TestModelRegisteredByUploadIsServedByEveryAgent(t *testing.T) {
	c := startCluster(t)
	dir := t.TempDir()
	// y = 1 + 2a + 3b, in forged's own format.
	file := filepath.Join(dir, "linear.json")
	if err := os.WriteFile(file, []byte(`{"forged_model": 1, "type": "linear",
		"signature": {"features": [{"name": "a", "type": "float"}, {"name": "b", "type": "float"}], "kind": "regressor"},
		"weights": [[2, 3]], "intercepts": [1]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	a := c.agents[0]
	stdout, stderr, code := forged(t, "models", "register", "price", file, "--format", "forged", "--addr", a.URL)
	if code != 0 || !strings.Contains(stdout, "model price version 1") {
		t.Fatalf("register exit %d: %s %s", code, stdout, stderr)
	}
	if _, stderr, code := forged(t, "models", "alias", "price", "production", "1", "--addr", a.URL); code != 0 {
		t.Fatalf("alias exit %d: %s", code, stderr)
	}
	data := filepath.Join(dir, "rows.csv")
	if err := os.WriteFile(data, []byte("id,a,b\n1,1,1\n2,0.5,-2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, b := range c.agents[1:] {
		var out string
		deadline := time.Now().Add(10 * time.Second)
		for {
			stdout, stderr, code := forged(t, "predict", "price@production", "--data", data, "--addr", b.URL)
			if code == 0 {
				out = stdout
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("predict on %s: exit %d: %s", b.name, code, stderr)
			}
			time.Sleep(100 * time.Millisecond) // the agent's replica catches up
		}
		if strings.Fields(out)[0] != "6" || strings.Fields(out)[1] != "-4" {
			t.Fatalf("predictions on %s: %q, want 6 and -4", b.name, out)
		}
	}

	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"forged_model": 1, "type": "linear", "weights": [[2, 3`), 0o644); err != nil {
		t.Fatal(err)
	}
	_, stderr, code = forged(t, "models", "register", "price", bad, "--format", "forged", "--addr", a.URL)
	if code == 0 || !strings.Contains(stderr, "400") || !strings.Contains(stderr, "bad model file") {
		t.Fatalf("corrupt model: exit %d: %s", code, stderr)
	}
	stdout, _, code = forged(t, "models", "show", "price", "--addr", a.URL)
	if code != 0 || !strings.Contains(stdout, "production: (none) -> 1") {
		t.Fatalf("show exit %d:\n%s", code, stdout)
	}
}
