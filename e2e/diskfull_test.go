package e2e

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// tmpfsDir mounts a tmpfs of size MiB on a fresh directory and unmounts
// it in t.Cleanup (after whatever the test starts later has stopped). It
// skips without root, and fails in CI.
func tmpfsDir(t *testing.T, mib int) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "small-disk")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%dm", mib), "tmpfs", dir).CombinedOutput()
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("mount a tmpfs (CI must allow it): %v: %s", err, out)
		}
		t.Skipf("cannot mount a tmpfs here (needs root): %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Logf("umount %s: %v: %s; detaching it", dir, err, out)
			exec.Command("umount", "-l", dir).Run()
		}
	})
	return dir
}

// A worker whose data dir sits on a 24 MiB disk runs tasks that write
// more than that: an exec task writing its output, and read_csv turning
// a 40 MB CSV (from a data root on another disk) into an Arrow output.
// Each fails, saying the disk is full (ENOSPC) and where; the run ends
// failed instead of hanging; the node stays up, serves the API, and runs
// the next pipeline once the failed attempts' files are gone.
func TestDiskFullFailsTheTaskAndTheNodeStaysUp(t *testing.T) {
	disk := tmpfsDir(t, 24)
	roots := t.TempDir()
	f, err := os.Create(filepath.Join(roots, "big.csv"))
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	w.WriteString("a,b\n")
	for i := 0; i < 2_500_000; i++ {
		fmt.Fprintf(w, "%d,%d\n", 1_000_000+i, 2_000_000+i)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()

	a := startAgent(t, disk, "--enable-exec", "--data-root", roots)
	for _, tc := range []struct{ name, spec, want string }{
		{"exec", `name: fill-exec
tasks:
  - name: fill
    script: head -c 100000000 /dev/zero > "$FORGE_OUTPUT_OUT"
`, "No space left on device"},
		{"op", `name: fill-op
tasks:
  - {name: load, op: read_csv, with: {path: big.csv}}
`, "disk full (ENOSPC) on node e2e"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := submitSpec(t, a, tc.spec)
			r := runEnds(t, a, id)
			task := r.Tasks[0].Name
			msg := lastError(r, task)
			if r.Status != "failed" || !strings.Contains(msg, "disk full") || !strings.Contains(msg, tc.want) {
				t.Fatalf("run %s, task %s error %q; want failed naming the full disk and %q", r.Status, task, msg, tc.want)
			}
			t.Logf("%s failed with: %s", task, msg)
			// The node serves the API and its state while its disk was full.
			if out, stderr, code := forged(t, "members", "--addr", a.URL); code != 0 || !strings.Contains(out, "alive") {
				t.Fatalf("members after disk full: exit %d %s %s", code, out, stderr)
			}
		})
	}
	// The failed attempts' files are gone, so the node has room again and
	// runs the next pipeline.
	requireStillWorking(t, a, "the disk filled up")
}
