package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The defaults, checked on the real binary: request bodies are bounded
// (413 with a clear error) while dataset uploads keep their own, larger
// limit; file operators stay inside the data roots; exec tasks do not see
// the node's own secrets.
func TestDefaultsBodyLimitsRootsAndSecrets(t *testing.T) {
	const secret = "e2e-node-secret-4f9a1c7d2b"
	t.Setenv("AWS_SECRET_ACCESS_KEY", secret)
	t.Setenv("DATABASE_URL", "postgres://admin:"+secret+"@db/prod")
	roots := t.TempDir()
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret.csv"), []byte("a\n1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(roots, "escape")); err != nil {
		t.Fatal(err)
	}
	a := startAgent(t, t.TempDir(), "--enable-exec", "--data-root", roots)

	t.Run("body limit", func(t *testing.T) {
		spec := "name: big\ndescription: " + strings.Repeat("a", 5<<20) + "\ntasks:\n  - {name: a, op: noop}\n"
		req, _ := http.NewRequest(http.MethodPut, a.URL+"/api/v1/pipelines/big", strings.NewReader(spec))
		req.Header.Set("Content-Type", "application/yaml")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(body), "too_large") ||
			!strings.Contains(string(body), "limit") {
			t.Fatalf("a 5 MiB spec: HTTP %d %s; want 413 too_large naming the limit", resp.StatusCode, body)
		}
		// A dataset upload over the 4 MiB body limit goes through: uploads
		// have their own limit (64 GiB).
		csv := filepath.Join(t.TempDir(), "wide.csv")
		f, err := os.Create(csv)
		if err != nil {
			t.Fatal(err)
		}
		w := bufio.NewWriter(f)
		w.WriteString("id,text\n")
		for i := 0; i < 100_000; i++ {
			fmt.Fprintf(w, "%d,%s\n", i, strings.Repeat("x", 50))
		}
		w.Flush()
		f.Close()
		if st, _ := os.Stat(csv); st.Size() <= 4<<20 {
			t.Fatalf("fixture is only %d bytes", st.Size())
		}
		out, stderr, code := forged(t, "upload", "wide", csv, "--addr", a.URL)
		if code != 0 || !strings.Contains(out, "100000 rows") {
			t.Fatalf("upload of a 5 MiB dataset: exit %d %s %s", code, out, stderr)
		}
	})

	t.Run("data roots", func(t *testing.T) {
		for _, p := range []string{"../../../../etc/passwd", "/etc/passwd", filepath.Join(outside, "secret.csv"), "escape/secret.csv"} {
			id := submitSpec(t, a, fmt.Sprintf("name: escape\ntasks:\n  - {name: r, op: read_csv, with: {path: %q}}\n", p))
			r := runEnds(t, a, id)
			if msg := lastError(r, "r"); r.Status != "failed" || !strings.Contains(msg, "outside the data roots") {
				t.Fatalf("read_csv %s: run %s, error %q", p, r.Status, msg)
			}
		}
		id := submitSpec(t, a, fmt.Sprintf(`name: escape-write
tasks:
  - {name: a, op: noop}
  - {name: w, op: write_csv, needs: [a], with: {path: %q}}
`, "escape/new.csv"))
		r := runEnds(t, a, id)
		if msg := lastError(r, "w"); r.Status != "failed" || !strings.Contains(msg, "outside the data roots") {
			t.Fatalf("write_csv through a symlink: run %s, error %q", r.Status, msg)
		}
		if _, err := os.Stat(filepath.Join(outside, "new.csv")); err == nil {
			t.Fatal("write_csv wrote outside the data roots")
		}
	})

	t.Run("no node secrets in exec logs", func(t *testing.T) {
		id := submitSpec(t, a, "name: env\ntasks:\n  - name: dump\n    script: env; echo \"secret=[$AWS_SECRET_ACCESS_KEY]\"\n")
		if r := runEnds(t, a, id); r.Status != "succeeded" {
			// The task writes no output file; only its log matters here.
			if !strings.Contains(lastError(r, "dump"), "FORGE_OUTPUT_OUT") {
				t.Fatalf("run %s: %s", r.Status, lastError(r, "dump"))
			}
		}
		logs, stderr, code := forged(t, "logs", id, "dump", "--addr", a.URL)
		if code != 0 || !strings.Contains(logs, "FORGE_TASK=dump") || !strings.Contains(logs, "secret=[]") {
			t.Fatalf("logs exit %d (%s); want the env dump:\n%s", code, stderr, logs)
		}
		if strings.Contains(logs, secret) || strings.Contains(logs, "DATABASE_URL") {
			t.Fatalf("the node's secret reached the task's log:\n%s", logs)
		}
	})
}
