package node_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/forged-dev/forged/dag"
)

func TestRetryRerunsOnlyTheFailedTaskAndWhatFollows(t *testing.T) {
	_, c, cfg := startNode(t)
	ctx := context.Background()
	spec := `name: late_data
tasks:
  - {name: orders, op: read_csv, with: {path: orders.csv}}
  - {name: refunds, op: read_csv, retries: 1, retry_backoff: 10ms, with: {path: refunds.csv}}
  - {name: both, op: concat, needs: [orders, refunds]}
  - {name: side, op: noop, needs: [orders]}
`
	id, err := c.Submit(ctx, []byte(spec), nil)
	if err != nil {
		t.Fatal(err)
	}
	run := waitRun(t, c, id)
	want := map[string]dag.TaskStatus{"orders": "succeeded", "refunds": "failed", "both": "skipped", "side": "succeeded"}
	if got := taskStatuses(run); run.Status != dag.RunFailed || !equalStatuses(got, want) {
		t.Fatalf("first run %s, tasks %v; want failed with %v", run.Status, got, want)
	}
	ordersFinished := *run.Task("orders").FinishedAt

	// The missing file arrives; the retry runs refunds and both only.
	refunds := "order_id,customer,amount,status\n9,acme,-5.5,refund\n"
	if err := os.WriteFile(filepath.Join(cfg.DataDir, "data", "refunds.csv"), []byte(refunds), 0o644); err != nil {
		t.Fatal(err)
	}
	retried, err := c.Retry(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if retried.Retries != 1 || retried.Status.Terminal() {
		t.Fatalf("after retry: run %s, retries %d", retried.Status, retried.Retries)
	}
	run = waitRun(t, c, id)
	if run.Status != dag.RunSucceeded {
		t.Fatalf("retried run %s (%s), tasks %v: %s", run.Status, run.Error, taskStatuses(run), run.Task("both").Error)
	}
	orders, r := run.Task("orders"), run.Task("refunds")
	if orders.Attempt != 1 || !orders.FinishedAt.Equal(ordersFinished) {
		t.Errorf("orders ran again: attempt %d, finished %v (was %v)", orders.Attempt, orders.FinishedAt, ordersFinished)
	}
	// Two failed attempts before, one after: numbering goes on.
	if r.Attempt != 3 || len(r.Attempts) != 3 || r.Attempts[2].Status != dag.TaskSucceeded {
		t.Errorf("refunds: attempt %d, history %+v", r.Attempt, r.Attempts)
	}
	if both := run.Task("both"); len(both.Outputs) != 1 || both.Outputs[0].Rows != 7 {
		t.Errorf("both: %+v, want 7 rows", both.Outputs)
	}

	// A succeeded run has nothing to retry; an unknown one is not found.
	_, err = c.Retry(ctx, id)
	assertAPIError(t, err, 409, "conflict")
	if err == nil || !strings.Contains(err.Error(), "succeeded") {
		t.Errorf("retry of a succeeded run: %v", err)
	}
	_, err = c.Retry(ctx, "no-such-run")
	assertAPIError(t, err, 404, "not_found")
}
