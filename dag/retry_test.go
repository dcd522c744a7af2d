package dag

import (
	"errors"
	"slices"
	"testing"
	"time"
)

func TestRetryReopensFailedAndDownstreamOnly(t *testing.T) {
	r := newTestRun(t)
	out := []OutputMeta{{Name: "out", Rows: 3}}
	runTask(t, r, "a", TaskResult{Outputs: out}, at(time.Second))
	runTask(t, r, "d", TaskResult{Outputs: out}, at(time.Second))
	runTask(t, r, "b", TaskResult{Error: "boom"}, at(2*time.Second))
	if r.Status != RunFailed {
		t.Fatalf("run is %s, want failed", r.Status)
	}
	wantStatus(t, r, map[string]TaskStatus{"a": TaskSucceeded, "b": TaskFailed, "c": TaskSkipped, "d": TaskSucceeded})
	r.TakeChanged()

	reopened, err := r.Retry(map[string]int{"b": 2})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(reopened, []string{"b", "c"}) {
		t.Errorf("reopened %v, want [b c]", reopened)
	}
	if r.Status != RunRunning || r.Error != "" || r.FinishedAt != nil || r.Retries != 1 {
		t.Errorf("run after retry: status %s, error %q, finished %v, retries %d", r.Status, r.Error, r.FinishedAt, r.Retries)
	}
	wantStatus(t, r, map[string]TaskStatus{"a": TaskSucceeded, "b": TaskPending, "c": TaskPending, "d": TaskSucceeded})
	if a := r.Task("a"); len(a.Outputs) != 1 || a.Attempt != 1 {
		t.Errorf("a lost its outputs or attempts: %+v", a)
	}
	b := r.Task("b")
	if b.Attempt != 1 || b.MaxAttempts != 3 || b.Error != "" || len(b.Attempts) != 1 || b.FinishedAt != nil {
		t.Errorf("b after retry: %+v", b)
	}
	if c := r.Task("c"); c.MaxAttempts != 1 || c.Error != "" {
		t.Errorf("c after retry: %+v", c)
	}
	if got := r.TakeChanged(); len(got) != 2 {
		t.Errorf("changed tasks %v, want b and c", got)
	}
	if ready := r.Ready(at(3 * time.Second)); !slices.Equal(ready, []string{"b"}) {
		t.Errorf("ready %v, want [b]", ready)
	}

	// The reopened tasks run again, attempt numbers going on; the run
	// then succeeds.
	if n := runTask(t, r, "b", TaskResult{Outputs: out}, at(4*time.Second)); n != 2 {
		t.Errorf("b's new attempt is %d, want 2", n)
	}
	runTask(t, r, "c", TaskResult{Outputs: out}, at(5*time.Second))
	if r.Status != RunSucceeded {
		t.Errorf("run is %s after the retried tasks succeeded", r.Status)
	}
	if b := r.Task("b"); len(b.Attempts) != 2 || b.Attempts[0].Status != TaskFailed || b.Attempts[1].Status != TaskSucceeded {
		t.Errorf("b's attempts: %+v", b.Attempts)
	}
}

func TestRetryOfACancelledRunThatNeverStarted(t *testing.T) {
	r := newTestRun(t)
	if _, err := r.Cancel("", at(time.Second)); err != nil {
		t.Fatal(err)
	}
	reopened, err := r.Retry(nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(reopened) != 4 || r.Status != RunPending {
		t.Errorf("reopened %v, run %s; want all four and pending", reopened, r.Status)
	}
	if a := r.Task("a"); a.MaxAttempts != 1 {
		t.Errorf("a has %d attempts with no budget given, want 1", a.MaxAttempts)
	}
}

func TestRetryRefusals(t *testing.T) {
	r := newTestRun(t)
	if _, err := r.Retry(nil); !errors.Is(err, ErrNothingToRetry) {
		t.Errorf("retry of a pending run: %v", err)
	}
	for _, name := range []string{"a", "d", "b", "c"} {
		runTask(t, r, name, TaskResult{}, at(time.Second))
	}
	if _, err := r.Retry(nil); !errors.Is(err, ErrNothingToRetry) || r.Status != RunSucceeded {
		t.Errorf("retry of a succeeded run: %v, run %s", err, r.Status)
	}

	// A cancelled run whose task is still stopping cannot be retried yet.
	r = newTestRun(t)
	n, err := r.Assign("a", "node1", at(0))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start("a", n, at(0)); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Cancel("", at(time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Retry(nil); !errors.Is(err, ErrNothingToRetry) {
		t.Errorf("retry while a task is stopping: %v", err)
	}
	if err := r.Finish("a", n, TaskResult{Cancelled: true}, at(2*time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Retry(nil); err != nil {
		t.Errorf("retry once the task stopped: %v", err)
	}
}
