package dag

import (
	"errors"
	"testing"
	"time"
)

var t0 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

// newTestRun builds a run of: a -> b -> c, and d alone. a retries twice
// with a 10s backoff.
func newTestRun(t *testing.T) *Run {
	t.Helper()
	a := task("a")
	a.Retries, a.RetryBackoff = 2, Duration(10*time.Second)
	p := pipelineOf(a, task("b", "a", "a"), task("c", "b"), task("d"))
	r := NewRun("r1", p, 1, map[string]any{"x": 1}, t0)
	if r.Status != RunPending || len(r.Tasks) != 4 {
		t.Fatalf("new run: %+v", r)
	}
	return r
}

// run assigns, starts and finishes the task's next attempt.
func runTask(t *testing.T, r *Run, name string, res TaskResult, when time.Time) int {
	t.Helper()
	n, err := r.Assign(name, "node1", when)
	if err != nil {
		t.Fatalf("assign %s: %v", name, err)
	}
	if err := r.Start(name, n, when); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	if err := r.Finish(name, n, res, when); err != nil {
		t.Fatalf("finish %s: %v", name, err)
	}
	return n
}

func wantStatus(t *testing.T, r *Run, want map[string]TaskStatus) {
	t.Helper()
	for name, s := range want {
		if got := r.Task(name).Status; got != s {
			t.Errorf("task %s is %s, want %s", name, got, s)
		}
	}
}

func TestNewRun(t *testing.T) {
	r := newTestRun(t)
	b := r.Task("b")
	if !equal(b.Upstream, []string{"a"}) || b.MaxAttempts != 1 || r.Task("a").MaxAttempts != 3 {
		t.Errorf("b: %+v, a: %+v", b, r.Task("a"))
	}
	if r.Task("zz") != nil {
		t.Error("Task of an unknown name")
	}
}

func TestRunHappyPath(t *testing.T) {
	r := newTestRun(t)
	if got := r.Ready(t0); !equal(got, []string{"a", "d"}) {
		t.Fatalf("ready %v", got)
	}
	n, err := r.Assign("a", "node1", at(time.Second))
	if err != nil || n != 1 {
		t.Fatalf("assign: %d %v", n, err)
	}
	wantStatus(t, r, map[string]TaskStatus{"a": TaskQueued})
	if got := r.Ready(t0); !equal(got, []string{"d"}) {
		t.Errorf("ready while a is queued: %v", got)
	}
	if err := r.Start("a", 1, at(2*time.Second)); err != nil {
		t.Fatal(err)
	}
	if r.Status != RunRunning || !r.StartedAt.Equal(at(2*time.Second)) {
		t.Errorf("run %s started %v", r.Status, r.StartedAt)
	}
	if err := r.Start("a", 1, at(2*time.Second)); !errors.Is(err, ErrBadTransition) {
		t.Errorf("second start: %v", err)
	}
	out := []OutputMeta{{Name: "out", Rows: 3}}
	if err := r.Finish("a", 1, TaskResult{Outputs: out, Metrics: map[string]any{"rows": 3}}, at(3*time.Second)); err != nil {
		t.Fatal(err)
	}
	a := r.Task("a")
	if a.Status != TaskSucceeded || len(a.Outputs) != 1 || a.Metrics["rows"] != 3 || len(a.Attempts) != 1 || a.Node != "node1" {
		t.Errorf("a: %+v", a)
	}
	if err := r.Finish("a", 1, TaskResult{Error: "late"}, at(4*time.Second)); !errors.Is(err, ErrBadTransition) {
		t.Errorf("second finish: %v", err)
	}
	if got := r.Ready(t0); !equal(got, []string{"b", "d"}) {
		t.Errorf("ready %v", got)
	}
	runTask(t, r, "b", TaskResult{}, at(5*time.Second))
	runTask(t, r, "d", TaskResult{}, at(6*time.Second))
	if r.Status != RunRunning {
		t.Errorf("run %s before c finished", r.Status)
	}
	runTask(t, r, "c", TaskResult{}, at(7*time.Second))
	if r.Status != RunSucceeded || !r.FinishedAt.Equal(at(7*time.Second)) || r.Error != "" {
		t.Errorf("run %s at %v: %s", r.Status, r.FinishedAt, r.Error)
	}
	if got := r.Ready(at(time.Hour)); got != nil {
		t.Errorf("ready after the end: %v", got)
	}
	if _, err := r.Assign("c", "n", at(8*time.Second)); !errors.Is(err, ErrRunTerminal) {
		t.Errorf("assign after the end: %v", err)
	}
}

func TestRunRetriesThenFails(t *testing.T) {
	r := newTestRun(t)
	runTask(t, r, "d", TaskResult{}, t0)
	n := runTask(t, r, "a", TaskResult{Error: "boom"}, at(time.Minute))
	a := r.Task("a")
	if n != 1 || a.Status != TaskRetrying || !a.NextAttemptAt.Equal(at(time.Minute+10*time.Second)) {
		t.Fatalf("after attempt 1: %+v", a)
	}
	if got := r.Ready(at(time.Minute + 9*time.Second)); len(got) != 0 {
		t.Errorf("ready during backoff: %v", got)
	}
	if wake, ok := r.NextWake(); !ok || !wake.Equal(*a.NextAttemptAt) {
		t.Errorf("next wake %v %v", wake, ok)
	}
	if got := r.Ready(at(time.Minute + 10*time.Second)); !equal(got, []string{"a"}) {
		t.Errorf("ready after backoff: %v", got)
	}
	n = runTask(t, r, "a", TaskResult{Error: "boom"}, at(2*time.Minute))
	if n != 2 || a.Status != TaskRetrying || !a.NextAttemptAt.Equal(at(2*time.Minute+20*time.Second)) {
		t.Fatalf("after attempt 2: %+v", a)
	}
	if r.Status != RunRunning {
		t.Errorf("run %s while retrying", r.Status)
	}
	runTask(t, r, "a", TaskResult{Error: "boom", LogTail: "trace"}, at(3*time.Minute))
	wantStatus(t, r, map[string]TaskStatus{"a": TaskFailed, "b": TaskSkipped, "c": TaskSkipped, "d": TaskSucceeded})
	if a.Error != "boom" || a.LogTail != "trace" || len(a.Attempts) != 3 || a.Attempts[2].Status != TaskFailed {
		t.Errorf("a: %+v", a)
	}
	if c := r.Task("c"); c.Error != "upstream task b did not succeed" || c.FinishedAt == nil {
		t.Errorf("c: %+v", c)
	}
	if r.Status != RunFailed || r.Error != "task a failed" {
		t.Errorf("run %s: %s", r.Status, r.Error)
	}
	if _, ok := r.NextWake(); ok {
		t.Error("next wake on a finished run")
	}
}

func TestBackoff(t *testing.T) {
	for _, tc := range []struct {
		base time.Duration
		n    int
		want time.Duration
	}{
		{0, 1, 0},
		{-time.Second, 3, 0},
		{10 * time.Second, 1, 10 * time.Second},
		{10 * time.Second, 2, 20 * time.Second},
		{10 * time.Second, 3, 40 * time.Second},
		{40 * time.Minute, 2, time.Hour},
		{time.Second, 1000, time.Hour},
	} {
		if got := Backoff(tc.base, tc.n); got != tc.want {
			t.Errorf("Backoff(%v, %d) = %v, want %v", tc.base, tc.n, got, tc.want)
		}
	}
}

func TestRunStaleAndLost(t *testing.T) {
	r := NewRun("r", pipelineOf(task("a"), task("b", "a")), 1, nil, t0)
	if _, err := r.Assign("b", "n1", t0); !errors.Is(err, ErrBadTransition) {
		t.Errorf("assign before upstream: %v", err)
	}
	if err := r.Finish("a", 0, TaskResult{}, t0); !errors.Is(err, ErrBadTransition) {
		t.Errorf("finish before assign: %v", err)
	}
	if err := r.Start("zz", 1, t0); !errors.Is(err, ErrUnknownTask) {
		t.Errorf("unknown task: %v", err)
	}
	if _, err := r.Assign("zz", "n", t0); !errors.Is(err, ErrUnknownTask) {
		t.Errorf("unknown task: %v", err)
	}
	n1, _ := r.Assign("a", "n1", t0)
	if err := r.Start("a", n1, at(time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := r.Lost("a", n1, "node n1 died", at(time.Minute)); err != nil {
		t.Fatal(err)
	}
	a := r.Task("a")
	if a.Status != TaskRetrying || a.MaxAttempts != 2 || !a.NextAttemptAt.Equal(at(time.Minute)) || a.Error != "node n1 died" {
		t.Fatalf("after lost: %+v", a)
	}
	if got := r.Ready(at(time.Minute)); !equal(got, []string{"a"}) {
		t.Errorf("ready after lost: %v", got)
	}
	n2, err := r.Assign("a", "n2", at(time.Minute))
	if err != nil || n2 != 2 || a.Node != "n2" || a.NextAttemptAt != nil || a.Error != "" {
		t.Fatalf("reassign: %d %v %+v", n2, err, a)
	}
	if err := r.Finish("a", n1, TaskResult{}, at(2*time.Minute)); !errors.Is(err, ErrStaleAttempt) {
		t.Errorf("stale finish: %v", err)
	}
	if err := r.Start("a", n1, at(2*time.Minute)); !errors.Is(err, ErrStaleAttempt) {
		t.Errorf("stale start: %v", err)
	}
	if err := r.Lost("a", n1, "again", at(2*time.Minute)); !errors.Is(err, ErrStaleAttempt) {
		t.Errorf("stale lost: %v", err)
	}
	if a.Status != TaskQueued {
		t.Errorf("stale reports changed the task: %+v", a)
	}
	// The lost attempt spent no retry: a failure now is final, as the
	// task asked for none.
	if err := r.Finish("a", n2, TaskResult{Error: "bad data"}, at(3*time.Minute)); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, r, map[string]TaskStatus{"a": TaskFailed, "b": TaskSkipped})
	if len(a.Attempts) != 2 || a.Attempts[0].Status != TaskRetrying || a.Attempts[0].Node != "n1" {
		t.Errorf("attempts: %+v", a.Attempts)
	}
	if r.Status != RunFailed {
		t.Errorf("run %s", r.Status)
	}
}

func TestRunCancel(t *testing.T) {
	r := newTestRun(t)
	runTask(t, r, "a", TaskResult{Error: "x"}, t0) // a is retrying
	nd, _ := r.Assign("d", "n1", t0)
	_ = r.Start("d", nd, t0)
	running, err := r.Cancel("", at(time.Second))
	if err != nil || !equal(running, []string{"d"}) {
		t.Fatalf("cancel: %v %v", running, err)
	}
	wantStatus(t, r, map[string]TaskStatus{"a": TaskCancelled, "b": TaskCancelled, "c": TaskCancelled, "d": TaskRunning})
	if r.Status != RunCancelled || r.Error != "cancelled" || r.Task("a").NextAttemptAt != nil {
		t.Errorf("run %s %q", r.Status, r.Error)
	}
	if got := r.Ready(at(time.Hour)); got != nil {
		t.Errorf("ready after cancel: %v", got)
	}
	if _, err := r.Cancel("again", at(2*time.Second)); !errors.Is(err, ErrRunTerminal) {
		t.Errorf("second cancel: %v", err)
	}
	// The running attempt still reports, and is closed as cancelled.
	if err := r.Finish("d", nd, TaskResult{Error: "context canceled", Cancelled: true}, at(3*time.Second)); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, r, map[string]TaskStatus{"d": TaskCancelled})
	if r.Status != RunCancelled {
		t.Errorf("run %s", r.Status)
	}
}

func TestRunCancelThenLostOrSucceeded(t *testing.T) {
	r := NewRun("r", pipelineOf(task("a"), task("b")), 1, nil, t0)
	na, _ := r.Assign("a", "n1", t0)
	nb, _ := r.Assign("b", "n1", t0)
	if _, err := r.Cancel("user asked", t0); err != nil {
		t.Fatal(err)
	}
	if err := r.Lost("a", na, "node died", at(time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := r.Finish("b", nb, TaskResult{}, at(time.Second)); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, r, map[string]TaskStatus{"a": TaskCancelled, "b": TaskSucceeded})
	if r.Status != RunCancelled || r.Error != "user asked" {
		t.Errorf("run %s %q", r.Status, r.Error)
	}
}

func TestRunSettles(t *testing.T) {
	for _, tc := range []struct {
		name string
		res  TaskResult
		want RunStatus
		b    TaskStatus
	}{
		{"succeeded", TaskResult{}, RunSucceeded, TaskSucceeded},
		{"failed", TaskResult{Error: "x"}, RunFailed, TaskSkipped},
		// A task cancelled on its own (not by cancelling the run) must not
		// leave what needs it pending forever.
		{"cancelled", TaskResult{Cancelled: true}, RunCancelled, TaskSkipped},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := NewRun("r", pipelineOf(task("a"), task("b", "a")), 1, nil, t0)
			runTask(t, r, "a", tc.res, t0)
			if tc.b == TaskSucceeded {
				runTask(t, r, "b", TaskResult{}, t0)
			}
			wantStatus(t, r, map[string]TaskStatus{"b": tc.b})
			if r.Status != tc.want || r.FinishedAt == nil {
				t.Errorf("run %s, want %s", r.Status, tc.want)
			}
		})
	}
}

func TestRunFail(t *testing.T) {
	r := newTestRun(t)
	n, _ := r.Assign("a", "n", t0)
	r.Fail("spec no longer parses", at(time.Second))
	if r.Status != RunFailed || r.Error != "spec no longer parses" {
		t.Errorf("run %s %q", r.Status, r.Error)
	}
	for _, tr := range r.Tasks {
		if tr.Status != TaskCancelled {
			t.Errorf("%s is %s", tr.Name, tr.Status)
		}
	}
	if err := r.Finish("a", n, TaskResult{}, at(2*time.Second)); !errors.Is(err, ErrRunTerminal) {
		t.Errorf("finish after fail: %v", err)
	}

	done := NewRun("r2", pipelineOf(task("a")), 1, nil, t0)
	runTask(t, done, "a", TaskResult{}, t0)
	done.Fail("too late", at(time.Second))
	if done.Status != RunSucceeded || done.Error != "" {
		t.Errorf("Fail changed a finished run: %s %q", done.Status, done.Error)
	}
}

func TestRunFinishWithoutStart(t *testing.T) {
	r := NewRun("r", pipelineOf(task("a")), 1, nil, t0)
	n, _ := r.Assign("a", "n", t0)
	if err := r.Finish("a", n, TaskResult{}, at(time.Second)); err != nil {
		t.Fatal(err)
	}
	if r.Status != RunSucceeded || r.StartedAt == nil || r.Task("a").StartedAt == nil {
		t.Errorf("run %+v", r)
	}
}

func TestHasActiveTask(t *testing.T) {
	r := &Run{Tasks: []TaskRun{{Status: TaskSucceeded}, {Status: TaskPending}}}
	if r.HasActiveTask() {
		t.Fatal("no task is queued or running")
	}
	for _, s := range []TaskStatus{TaskQueued, TaskRunning} {
		r.Tasks[1].Status = s
		if !r.HasActiveTask() {
			t.Fatalf("a %s task is active", s)
		}
	}
}
