package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// bigCSV is large enough that outputs made from it are files, not inline.
func bigCSV() string {
	var sb strings.Builder
	sb.WriteString("order_id,customer,amount\n")
	for i := 0; i < 600; i++ {
		fmt.Fprintf(&sb, "%d,customer-%d,%d\n", i, i%17, i%50)
	}
	return sb.String()
}

// kill -9 of the only node holding an output a later task needs: the
// producer runs again elsewhere and the run succeeds; with replicas: 2 a
// copy serves it and nothing runs again.
func TestKilledHolderIsRecomputedOrServedFromACopy(t *testing.T) {
	for _, replicas := range []int{1, 2} {
		t.Run(fmt.Sprintf("replicas=%d", replicas), func(t *testing.T) {
			c := startClusterWith(t, func(i int) []string {
				if i == 0 {
					return []string{"--label", "role=consumer"}
				}
				return []string{"--label", "role=producer"}
			})
			for _, a := range c.agents {
				dir := filepath.Join(a.DataDir, "data")
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, "big.csv"), []byte(bigCSV()), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			observer := c.agents[0] // n1 runs the consumer and is never killed
			spec := fmt.Sprintf(`name: lineage
tasks:
  - {name: make, op: read_csv, with: {path: big.csv}, constraints: {labels: {role: producer}}, replicas: %d}
  - {name: gate, op: sleep, with: {duration: 4s}, constraints: {node: n1}}
  - {name: use, op: noop, needs: [make, gate], constraints: {node: n1}}
`, replicas)
			path := filepath.Join(t.TempDir(), "lineage.yaml")
			if err := os.WriteFile(path, []byte(spec), 0o644); err != nil {
				t.Fatal(err)
			}
			stdout, stderr, code := forged(t, "submit", path, "--addr", observer.URL)
			if code != 0 {
				t.Fatalf("submit exit %d: %s", code, stderr)
			}
			id := strings.TrimSpace(stdout)
			holder := ""
			deadline := time.Now().Add(30 * time.Second)
			for holder == "" {
				if time.Now().After(deadline) {
					t.Fatal("make did not succeed within 30s")
				}
				if out, _, code := forged(t, "status", id, "--json", "--addr", observer.URL); code == 0 {
					for _, task := range decodeRun(t, out).Tasks {
						if task.Name == "make" && task.Status == "succeeded" {
							holder = task.Node
						}
					}
				}
				time.Sleep(100 * time.Millisecond)
			}
			for i, a := range c.agents {
				if fmt.Sprintf("n%d", i+1) == holder {
					a.kill()
				}
			}
			r := waitSucceeded(t, observer, id, 3)
			want := 2 // lost, then run again
			if replicas > 1 {
				want = 1 // the copy served it
			}
			for _, task := range r.Tasks {
				switch task.Name {
				case "make", "use":
					if task.Attempt != want {
						t.Fatalf("%s ran %d times, want %d (holder %s killed)", task.Name, task.Attempt, want, holder)
					}
				}
				if task.Name == "make" && want == 2 && task.Node == holder {
					t.Fatalf("make ran again on the killed node %s", holder)
				}
			}
		})
	}
}

// forged upload stores a dataset that a pipeline then reads.
func TestUploadADatasetAndReadIt(t *testing.T) {
	a := exampleAgent(t)
	dir := t.TempDir()
	csv := filepath.Join(dir, "sales.csv")
	if err := os.WriteFile(csv, []byte(bigCSV()), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := forged(t, "upload", "sales", csv, "--addr", a.URL)
	if code != 0 || !strings.Contains(stdout, "dataset sales version 1: 600 rows") {
		t.Fatalf("upload exit %d: %s %s", code, stdout, stderr)
	}
	if stdout, _, code := forged(t, "datasets", "--addr", a.URL); code != 0 || !strings.Contains(stdout, "sales") {
		t.Fatalf("datasets exit %d: %s", code, stdout)
	}
	spec := filepath.Join(dir, "read.yaml")
	if err := os.WriteFile(spec, []byte("name: read\ntasks:\n  - {name: r, op: read_dataset, with: {name: sales}}\n  - {name: big, op: filter, needs: [r], with: {expr: \"amount > 20\"}}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code = forged(t, "submit", spec, "--addr", a.URL)
	if code != 0 {
		t.Fatalf("submit exit %d: %s %s", code, stdout, stderr)
	}
	id := strings.TrimSpace(stdout)
	waitSucceeded(t, a, id, 2)
	out, stderr, code := forged(t, "output", id, "big", "--addr", a.URL)
	if code != 0 || strings.Count(out, "\n") != 349 {
		t.Fatalf("output exit %d, %d lines: %s", code, strings.Count(out, "\n"), stderr)
	}
}
