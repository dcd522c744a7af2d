package node_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/forged-dev/forged/client"
	"github.com/forged-dev/forged/dag"
	"github.com/forged-dev/forged/node/nodetest"
)

// Output files of runs finished longer ago than the retention period are
// deleted; a run still going keeps its own, and the state keeps the runs.
func TestOldOutputsAreDeleted(t *testing.T) {
	cfg := nodetest.Config(t)
	cfg.OutputRetention = 2 * time.Second
	n := nodetest.Open(t, cfg)
	writeOrders(t, n)
	c := client.New(n.URL(), "")
	ctx := context.Background()
	done, err := c.Submit(ctx, []byte("name: old\ntasks:\n  - {name: load, op: read_csv, with: {path: big_orders.csv}}\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if r := waitRun(t, c, done); r.Status != dag.RunSucceeded {
		t.Fatalf("run %s", r.Status)
	}
	slow := "name: slow\ntasks:\n  - {name: load, op: read_csv, with: {path: big_orders.csv}}\n  - {name: wait, op: sleep, needs: [load], with: {duration: 6s}}\n"
	going, err := c.Submit(ctx, []byte(slow), nil)
	if err != nil {
		t.Fatal(err)
	}
	outputs := filepath.Join(n.DataDir(), "outputs")
	exists := func(run string) bool {
		_, err := os.Stat(filepath.Join(outputs, run))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Fatal(err)
		}
		return err == nil
	}
	if !exists(done) {
		t.Fatal("the finished run has no output files to start with")
	}
	waitFor(t, func() bool { return !exists(done) })
	if !exists(going) {
		t.Fatal("the outputs of a run still going were deleted")
	}
	if _, err := n.Run(done); err != nil {
		t.Fatalf("the run itself is gone from the state: %v", err)
	}
	var buf strings.Builder
	_, err = c.Output(ctx, done, "load", "out", "csv", 0, &buf)
	if err == nil || !strings.Contains(err.Error(), "retention") {
		t.Fatalf("reading a deleted output: %v", err)
	}
}
