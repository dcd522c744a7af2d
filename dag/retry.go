package dag

import "fmt"

// ErrNothingToRetry means a run has no failed, cancelled or skipped task
// to run again, or cannot be retried yet.
var ErrNothingToRetry = fmt.Errorf("%w: nothing to retry", ErrBadTransition)

// Retry reopens a failed or cancelled run: every task that did not
// succeed (failed, cancelled or skipped) goes back to pending, and so does
// everything downstream of it, while succeeded tasks keep their outputs
// and are not run again. Each reopened task gets budget[name] attempts
// (1 when absent); attempt numbers go on from where they were, and the
// history of earlier attempts is kept. It returns the reopened tasks.
func (r *Run) Retry(budget map[string]int) ([]string, error) {
	switch r.Status {
	case RunFailed, RunCancelled:
	case RunSucceeded:
		return nil, fmt.Errorf("%w: run %s succeeded", ErrNothingToRetry, r.ID)
	default:
		return nil, fmt.Errorf("%w: run %s is still %s", ErrNothingToRetry, r.ID, r.Status)
	}
	for i := range r.Tasks {
		if s := r.Tasks[i].Status; s == TaskQueued || s == TaskRunning {
			return nil, fmt.Errorf("%w: task %s of run %s is still stopping; try again in a moment",
				ErrNothingToRetry, r.Tasks[i].Name, r.ID)
		}
	}
	reopen := make(map[string]bool, len(r.Tasks))
	for i := range r.Tasks {
		if r.Tasks[i].Status != TaskSucceeded {
			reopen[r.Tasks[i].Name] = true
		}
	}
	if len(reopen) == 0 {
		return nil, fmt.Errorf("%w: every task of run %s succeeded", ErrNothingToRetry, r.ID)
	}
	// Downstream of a reopened task is reopened too, so that nothing
	// keeps outputs computed from inputs that will change.
	for changed := true; changed; {
		changed = false
		for i := range r.Tasks {
			t := &r.Tasks[i]
			if reopen[t.Name] {
				continue
			}
			for _, u := range t.Upstream {
				if reopen[u] {
					reopen[t.Name], changed = true, true
					break
				}
			}
		}
	}
	var names []string
	for i := range r.Tasks {
		t := &r.Tasks[i]
		if !reopen[t.Name] {
			continue
		}
		n := budget[t.Name]
		if n < 1 {
			n = 1
		}
		t.Status = TaskPending
		t.MaxAttempts = t.Attempt + n
		t.Node = ""
		t.QueuedAt, t.StartedAt, t.FinishedAt, t.NextAttemptAt = nil, nil, nil, nil
		t.Error, t.LogTail = "", ""
		t.Outputs, t.Metrics = nil, nil
		r.touch(t)
		names = append(names, t.Name)
	}
	// A run that never started is pending again; Start marks it running.
	r.Status = RunPending
	if r.StartedAt != nil {
		r.Status = RunRunning
	}
	r.Error = ""
	r.FinishedAt = nil
	r.Retries++
	return names, nil
}
