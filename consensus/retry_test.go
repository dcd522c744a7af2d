package consensus

import (
	"slices"
	"testing"

	"github.com/forged-dev/forged/dag"
)

func TestRetryRunReopensTheFailedTaskAndMakesTheRunActive(t *testing.T) {
	db := mustOpenState(t)
	ok(t, apply(t, db, putChain("v1")))
	ok(t, apply(t, db, &SubmitRun{Run: newRun("r1", chain, 1)}))
	ok(t, apply(t, db, &AssignTasks{At: t0, Assignments: []Assignment{{Run: "r1", Task: "a", Node: "n1"}}}))
	ok(t, apply(t, db, &ReportTasks{At: t0.Add(1), Reports: []TaskReport{
		{Run: "r1", Task: "a", Attempt: 1, Node: "n1", Kind: ReportStarted},
		{Run: "r1", Task: "a", Attempt: 1, Node: "n1", Kind: ReportFinished, Result: &dag.TaskResult{Error: "boom"}},
	}}))
	if r := getRun(t, db, "r1"); r.Status != dag.RunFailed || len(activeIDs(t, db)) != 0 {
		t.Fatalf("run %s, active %v", r.Status, activeIDs(t, db))
	}

	wantRejected(t, apply(t, db, &RetryRun{RunID: "r1", Budget: map[string]int{"a": 0}}), CodeInvalid)
	wantRejected(t, apply(t, db, &RetryRun{RunID: "nope"}), CodeNotFound)
	ok(t, apply(t, db, &RetryRun{RunID: "r1", Budget: map[string]int{"a": 2}}))

	r := getRun(t, db, "r1")
	if r.Status != dag.RunRunning || r.Retries != 1 || r.Task("a").Status != dag.TaskPending || r.Task("a").MaxAttempts != 3 ||
		r.Task("b").Status != dag.TaskPending {
		t.Fatalf("retried run: %s (retries %d), a %+v, b %s", r.Status, r.Retries, r.Task("a"), r.Task("b").Status)
	}
	if got := activeIDs(t, db); !slices.Equal(got, []string{"r1"}) {
		t.Fatalf("active after retry = %v", got)
	}
	// The scheduler can place it again: attempt 2.
	res := ok(t, apply(t, db, &AssignTasks{At: t0.Add(2), Assignments: []Assignment{{Run: "r1", Task: "a", Node: "n2"}}}))
	if res.Items[0].Attempt != 2 {
		t.Fatalf("attempt after retry = %d, want 2", res.Items[0].Attempt)
	}
	// A running run cannot be retried.
	wantRejected(t, apply(t, db, &RetryRun{RunID: "r1"}), CodeConflict)
}
