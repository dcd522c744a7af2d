package dag

import (
	"errors"
	"fmt"
	"time"
)

// RunStatus is the state of a whole run.
type RunStatus string

// Run states. A run is pending until one of its tasks starts and terminal
// once every task is terminal.
const (
	RunPending   RunStatus = "pending"
	RunRunning   RunStatus = "running"
	RunSucceeded RunStatus = "succeeded"
	RunFailed    RunStatus = "failed"
	RunCancelled RunStatus = "cancelled"
)

// Terminal reports whether the run will change no more.
func (s RunStatus) Terminal() bool {
	return s == RunSucceeded || s == RunFailed || s == RunCancelled
}

// TaskStatus is the state of one task within a run.
type TaskStatus string

// Task states. pending -> queued (assigned to a node) -> running ->
// succeeded | failed | retrying (-> queued again after the backoff).
// A task whose upstream failed is skipped; cancelling a run cancels every
// task that has not finished.
const (
	TaskPending   TaskStatus = "pending"
	TaskQueued    TaskStatus = "queued"
	TaskRunning   TaskStatus = "running"
	TaskRetrying  TaskStatus = "retrying"
	TaskSucceeded TaskStatus = "succeeded"
	TaskFailed    TaskStatus = "failed"
	TaskSkipped   TaskStatus = "skipped"
	TaskCancelled TaskStatus = "cancelled"
)

// Terminal reports whether the task will change no more.
func (s TaskStatus) Terminal() bool {
	switch s {
	case TaskSucceeded, TaskFailed, TaskSkipped, TaskCancelled:
		return true
	}
	return false
}

// Errors returned by the state machine. They are business rejections: the
// caller reports them, nothing changes.
var (
	// ErrUnknownTask means the run has no task of that name.
	ErrUnknownTask = errors.New("unknown task")
	// ErrStaleAttempt means a report names an attempt that is no longer
	// the task's current one; a newer attempt owns the task.
	ErrStaleAttempt = errors.New("stale attempt")
	// ErrBadTransition means the task is not in a state that allows the
	// change (for example finishing a task that was never assigned).
	ErrBadTransition = errors.New("bad transition")
	// ErrRunTerminal means the run has already finished.
	ErrRunTerminal = errors.New("run is finished")
)

// Run is the replicated record of one execution of a pipeline version.
type Run struct {
	ID       string `json:"id"`
	Pipeline string `json:"pipeline"`
	Version  int    `json:"version"`
	// Experiment is the experiment (a sweep) the run belongs to, if any.
	Experiment string `json:"experiment,omitempty"`
	// Tags are free-form labels, to find and group runs by.
	Tags        map[string]string `json:"tags,omitempty"`
	Params      map[string]any    `json:"params"`
	Status      RunStatus         `json:"status"`
	Error       string            `json:"error,omitempty"`
	SubmittedAt time.Time         `json:"submitted_at"`
	StartedAt   *time.Time        `json:"started_at,omitempty"`
	FinishedAt  *time.Time        `json:"finished_at,omitempty"`
	Tasks       []TaskRun         `json:"tasks"`
	// Retries counts how often the run was retried (see Retry).
	Retries int `json:"retries,omitempty"`

	// index maps task names to positions in Tasks, built on first use.
	index map[string]int
	// changed marks the tasks the state methods touched since the last
	// TakeChanged, for stores that write tasks one by one.
	changed []int
}

// TaskRun is the replicated state of one task in a run.
type TaskRun struct {
	Name    string     `json:"name"`
	Status  TaskStatus `json:"status"`
	Attempt int        `json:"attempt"`
	// MaxAttempts is 1 + the task's retries.
	MaxAttempts  int      `json:"max_attempts"`
	RetryBackoff Duration `json:"retry_backoff,omitempty"`
	// Constraints restrict the nodes the scheduler may place it on.
	Constraints Constraints `json:"constraints,omitempty"`
	// Upstream are the names of the tasks this one needs.
	Upstream      []string       `json:"upstream,omitempty"`
	Node          string         `json:"node,omitempty"`
	QueuedAt      *time.Time     `json:"queued_at,omitempty"`
	StartedAt     *time.Time     `json:"started_at,omitempty"`
	FinishedAt    *time.Time     `json:"finished_at,omitempty"`
	NextAttemptAt *time.Time     `json:"next_attempt_at,omitempty"`
	Error         string         `json:"error,omitempty"`
	LogTail       string         `json:"log_tail,omitempty"`
	Outputs       []OutputMeta   `json:"outputs,omitempty"`
	Metrics       map[string]any `json:"metrics,omitempty"`
	Attempts      []AttemptInfo  `json:"attempts,omitempty"`
}

// AttemptInfo is the history of one finished attempt of a task.
type AttemptInfo struct {
	Attempt    int        `json:"attempt"`
	Node       string     `json:"node,omitempty"`
	Status     TaskStatus `json:"status"`
	StartedAt  *time.Time `json:"started_at,omitempty"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
	Error      string     `json:"error,omitempty"`
}

// OutputMeta describes a task output held as an Arrow IPC file.
type OutputMeta struct {
	Name   string  `json:"name"`
	Schema []Field `json:"schema"`
	Rows   int64   `json:"rows"`
	Bytes  int64   `json:"bytes"`
	// Node is where the output is held.
	Node string `json:"node,omitempty"`
	// Replicas are other nodes holding a copy (see Task.Replicas).
	Replicas []string `json:"replicas,omitempty"`
	// Inline holds a small output's whole Arrow IPC file: such an output
	// lives in the replicated state, on every node, and has no file.
	Inline []byte `json:"inline,omitempty"`
	// Preview holds the output's first rows, so that monitoring can show
	// them without reading the data.
	Preview *Preview `json:"preview,omitempty"`
	// Stats summarise the output's columns (the first StatsColumnsMax).
	Stats []ColumnStats `json:"stats,omitempty"`
}

// Preview is the first rows of an output, one value per column of its
// schema, as JSON values: numbers, strings (long ones cut), booleans,
// null; other types as their text.
type Preview struct {
	Rows [][]any `json:"rows"`
	// Truncated is set when the output has more rows than the preview.
	Truncated bool `json:"truncated,omitempty"`
}

// Field is one column of an output's schema.
type Field struct {
	Name     string `json:"name"`
	Type     string `json:"type"`
	Nullable bool   `json:"nullable"`
}

// TaskResult is what a worker reports when an attempt ends.
type TaskResult struct {
	// Error is empty on success.
	Error   string         `json:"error,omitempty"`
	LogTail string         `json:"log_tail,omitempty"`
	Outputs []OutputMeta   `json:"outputs,omitempty"`
	Metrics map[string]any `json:"metrics,omitempty"`
	// Cancelled marks an attempt stopped because its run was cancelled.
	Cancelled bool `json:"cancelled,omitempty"`
	// StartedAt is when the worker began the attempt; Finish uses it when
	// the attempt's start was never recorded (a start and its finish
	// reported together).
	StartedAt *time.Time `json:"started_at,omitempty"`
	// LostInputs names upstream tasks whose outputs the attempt could not
	// read because no live node holds them any more. Finish then runs
	// those producers again (lineage) and this task after them; neither
	// spends a retry.
	LostInputs []string `json:"lost_inputs,omitempty"`
}

// NewRun builds the initial state of a run of p with resolved params.
func NewRun(id string, p *Pipeline, version int, params map[string]any, at time.Time) *Run {
	r := &Run{
		ID:          id,
		Pipeline:    p.Name,
		Version:     version,
		Params:      params,
		Status:      RunPending,
		SubmittedAt: at,
		Tasks:       make([]TaskRun, len(p.Tasks)),
	}
	for i, t := range p.Tasks {
		up := make([]string, 0, len(t.Needs))
		seen := map[string]bool{}
		for _, n := range t.Needs {
			if !seen[n.Task] {
				seen[n.Task] = true
				up = append(up, n.Task)
			}
		}
		r.Tasks[i] = TaskRun{
			Name:         t.Name,
			Status:       TaskPending,
			MaxAttempts:  t.Retries + 1,
			RetryBackoff: t.RetryBackoff,
			Constraints:  t.Constraints,
			Upstream:     up,
		}
	}
	return r
}

// Task returns the state of the named task, or nil.
func (r *Run) Task(name string) *TaskRun {
	if i := r.indexOf(name); i >= 0 {
		return &r.Tasks[i]
	}
	return nil
}

// Ready lists the tasks that may be assigned now: pending tasks whose
// upstream tasks all succeeded, and retrying tasks whose backoff is over.
// A terminal run has none.
func (r *Run) Ready(now time.Time) []string {
	if r.Status.Terminal() {
		return nil
	}
	succeeded := make(map[string]bool, len(r.Tasks))
	for i := range r.Tasks {
		if r.Tasks[i].Status == TaskSucceeded {
			succeeded[r.Tasks[i].Name] = true
		}
	}
	var ready []string
	for i := range r.Tasks {
		t := &r.Tasks[i]
		switch t.Status {
		case TaskPending:
			if allIn(t.Upstream, succeeded) {
				ready = append(ready, t.Name)
			}
		case TaskRetrying:
			if t.NextAttemptAt == nil || !now.Before(*t.NextAttemptAt) {
				ready = append(ready, t.Name)
			}
		}
	}
	return ready
}

// NextWake returns the earliest time a retrying task becomes ready, so a
// scheduler knows when to look again; ok is false when none is waiting.
func (r *Run) NextWake() (at time.Time, ok bool) {
	for i := range r.Tasks {
		t := &r.Tasks[i]
		if t.Status == TaskRetrying && t.NextAttemptAt != nil {
			if !ok || t.NextAttemptAt.Before(at) {
				at, ok = *t.NextAttemptAt, true
			}
		}
	}
	return at, ok
}

func allIn(names []string, set map[string]bool) bool {
	for _, n := range names {
		if !set[n] {
			return false
		}
	}
	return true
}

func (r *Run) upstreamSucceeded(t *TaskRun) bool {
	for _, u := range t.Upstream {
		ut := r.Task(u)
		if ut == nil || ut.Status != TaskSucceeded {
			return false
		}
	}
	return true
}

// Assign queues the task's next attempt on node and returns the attempt
// number.
func (r *Run) Assign(task, node string, at time.Time) (int, error) {
	t, err := r.live(task)
	if err != nil {
		return 0, err
	}
	if t.Status != TaskPending && t.Status != TaskRetrying {
		return 0, fmt.Errorf("%w: assign %s while %s", ErrBadTransition, task, t.Status)
	}
	if t.Status == TaskPending && !r.upstreamSucceeded(t) {
		return 0, fmt.Errorf("%w: assign %s before its upstream succeeded", ErrBadTransition, task)
	}
	t.Attempt++
	t.Status = TaskQueued
	t.Node = node
	t.QueuedAt = timePtr(at)
	t.StartedAt, t.FinishedAt, t.NextAttemptAt = nil, nil, nil
	t.Error, t.LogTail = "", ""
	r.touch(t)
	return t.Attempt, nil
}

// Start marks the attempt as running.
func (r *Run) Start(task string, attempt int, at time.Time) error {
	t, err := r.current(task, attempt)
	if err != nil {
		return err
	}
	if t.Status != TaskQueued {
		return fmt.Errorf("%w: start %s while %s", ErrBadTransition, task, t.Status)
	}
	t.Status = TaskRunning
	t.StartedAt = timePtr(at)
	r.touch(t)
	if r.Status == RunPending {
		r.Status = RunRunning
		r.StartedAt = timePtr(at)
	}
	return nil
}

// Finish records the end of an attempt. A failed attempt with attempts
// left becomes retrying with an exponential backoff; a final failure, or
// an attempt cancelled while the run goes on, skips every task downstream.
// The run's status follows.
func (r *Run) Finish(task string, attempt int, res TaskResult, at time.Time) error {
	t, err := r.current(task, attempt)
	if err != nil {
		return err
	}
	if t.Status != TaskQueued && t.Status != TaskRunning {
		return fmt.Errorf("%w: finish %s while %s", ErrBadTransition, task, t.Status)
	}
	r.touch(t)
	switch {
	case t.StartedAt != nil:
	case res.StartedAt != nil && !res.StartedAt.After(at):
		t.StartedAt = timePtr(*res.StartedAt)
	default:
		t.StartedAt = timePtr(at)
	}
	if r.Status == RunPending {
		r.Status = RunRunning
		r.StartedAt = timePtr(at)
	}
	t.FinishedAt = timePtr(at)
	t.Error, t.LogTail = res.Error, res.LogTail
	t.Metrics = res.Metrics
	if len(res.LostInputs) > 0 && !res.Cancelled && r.Status != RunCancelled {
		if err := r.recompute(t, res.LostInputs, at); err == nil {
			return nil
		}
		// Not a lost input after all (unknown, or not a finished
		// upstream): an ordinary failure.
	}
	switch {
	case res.Cancelled:
		// A stopped attempt produced nothing, even if it reports no error;
		// what needs it can never run.
		t.Status = TaskCancelled
		r.skipDownstream(t.Name, at)
	case res.Error == "":
		t.Status = TaskSucceeded
		t.Outputs = res.Outputs
	case r.Status == RunCancelled:
		t.Status = TaskCancelled
	case t.Attempt < t.MaxAttempts:
		t.Status = TaskRetrying
		next := at.Add(Backoff(t.RetryBackoff.D(), t.Attempt))
		t.NextAttemptAt = &next
	default:
		t.Status = TaskFailed
		r.skipDownstream(t.Name, at)
	}
	t.Attempts = append(t.Attempts, AttemptInfo{
		Attempt: t.Attempt, Node: t.Node, Status: t.Status,
		StartedAt: t.StartedAt, FinishedAt: t.FinishedAt, Error: t.Error,
	})
	r.settle(at)
	return nil
}

// Lost returns an attempt whose node lost it (the node restarted or died)
// to the queue: the task becomes retrying at once without spending one of
// its retries, so the work resumes.
func (r *Run) Lost(task string, attempt int, reason string, at time.Time) error {
	t, err := r.current(task, attempt)
	if err != nil {
		return err
	}
	if t.Status != TaskQueued && t.Status != TaskRunning {
		return fmt.Errorf("%w: lose %s while %s", ErrBadTransition, task, t.Status)
	}
	r.touch(t)
	if r.Status == RunCancelled {
		t.Status = TaskCancelled
		t.FinishedAt = timePtr(at)
		t.Error = reason
		t.Attempts = append(t.Attempts, AttemptInfo{
			Attempt: t.Attempt, Node: t.Node, Status: TaskCancelled,
			StartedAt: t.StartedAt, FinishedAt: t.FinishedAt, Error: reason,
		})
		return nil
	}
	t.Attempts = append(t.Attempts, AttemptInfo{
		Attempt: t.Attempt, Node: t.Node, Status: TaskRetrying,
		StartedAt: t.StartedAt, FinishedAt: timePtr(at), Error: reason,
	})
	t.Status = TaskRetrying
	t.Error = reason
	t.NextAttemptAt = timePtr(at)
	t.MaxAttempts++ // a lost attempt is not the task's fault
	return nil
}

// Cancel stops the run: tasks not yet running are cancelled at once;
// running tasks are cancelled when their worker reports back. It returns
// the tasks that were running, whose workers must be told.
func (r *Run) Cancel(reason string, at time.Time) ([]string, error) {
	if r.Status.Terminal() {
		return nil, ErrRunTerminal
	}
	var running []string
	for i := range r.Tasks {
		t := &r.Tasks[i]
		switch t.Status {
		case TaskQueued, TaskRunning:
			running = append(running, t.Name)
		case TaskPending, TaskRetrying:
			t.Status = TaskCancelled
			t.FinishedAt = timePtr(at)
			t.NextAttemptAt = nil
			r.touch(t)
		}
	}
	if reason == "" {
		reason = "cancelled"
	}
	r.Error = reason
	r.Status = RunCancelled
	r.FinishedAt = timePtr(at)
	// Queued and running tasks stay as they are until their worker reports
	// the cancelled attempt; the run is already terminal for users.
	return running, nil
}

// Fail ends a run that cannot go on (for example its spec no longer
// parses) with a reason; unfinished tasks are cancelled. A run that has
// already finished is left as it is.
func (r *Run) Fail(reason string, at time.Time) {
	if r.Status.Terminal() {
		return // a finished run keeps the outcome it had
	}
	for i := range r.Tasks {
		t := &r.Tasks[i]
		if !t.Status.Terminal() {
			t.Status = TaskCancelled
			t.FinishedAt = timePtr(at)
			t.NextAttemptAt = nil
			r.touch(t)
		}
	}
	r.Status = RunFailed
	r.Error = reason
	r.FinishedAt = timePtr(at)
}

// skipDownstream skips every pending task that needs the failed one,
// directly or transitively.
func (r *Run) skipDownstream(failed string, at time.Time) {
	feeds := make(map[string][]int, len(r.Tasks))
	for i := range r.Tasks {
		for _, u := range r.Tasks[i].Upstream {
			feeds[u] = append(feeds[u], i)
		}
	}
	queue := []string{failed}
	for len(queue) > 0 {
		u := queue[0]
		queue = queue[1:]
		for _, i := range feeds[u] {
			t := &r.Tasks[i]
			if t.Status != TaskPending {
				continue
			}
			t.Status = TaskSkipped
			t.Error = "upstream task " + u + " did not succeed"
			t.FinishedAt = timePtr(at)
			r.touch(t)
			queue = append(queue, t.Name)
		}
	}
}

// settle sets the run's terminal status once every task is terminal.
func (r *Run) settle(at time.Time) {
	if r.Status.Terminal() {
		return
	}
	failed, cancelled := "", false
	for i := range r.Tasks {
		t := &r.Tasks[i]
		if !t.Status.Terminal() {
			return
		}
		if t.Status == TaskFailed && failed == "" {
			failed = t.Name
		}
		if t.Status == TaskCancelled {
			cancelled = true
		}
	}
	r.FinishedAt = timePtr(at)
	switch {
	case failed != "":
		r.Status = RunFailed
		r.Error = "task " + failed + " failed"
	case cancelled:
		r.Status = RunCancelled
	default:
		r.Status = RunSucceeded
	}
}

func (r *Run) live(task string) (*TaskRun, error) {
	if r.Status.Terminal() {
		return nil, ErrRunTerminal
	}
	t := r.Task(task)
	if t == nil {
		return nil, fmt.Errorf("%w: %s", ErrUnknownTask, task)
	}
	return t, nil
}

// current finds the task and checks the attempt is its current one.
// Reports for a cancelled run are still accepted so that running tasks can
// be closed.
func (r *Run) current(task string, attempt int) (*TaskRun, error) {
	t := r.Task(task)
	if t == nil {
		return nil, fmt.Errorf("%w: %s", ErrUnknownTask, task)
	}
	if attempt != t.Attempt {
		return nil, fmt.Errorf("%w: %s attempt %d, current is %d", ErrStaleAttempt, task, attempt, t.Attempt)
	}
	if r.Status.Terminal() && r.Status != RunCancelled {
		return nil, ErrRunTerminal
	}
	return t, nil
}

// Backoff is the wait before attempt n+1 after attempt n failed: base
// doubled for each earlier failure, capped at one hour.
func Backoff(base time.Duration, n int) time.Duration {
	if base <= 0 {
		return 0
	}
	d := base
	for i := 1; i < n && d < time.Hour; i++ {
		d *= 2
	}
	return min(d, time.Hour)
}

func timePtr(t time.Time) *time.Time { return &t }
