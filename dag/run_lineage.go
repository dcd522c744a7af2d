package dag

import (
	"fmt"
	"time"
)

// recompute handles an attempt of t that found upstream outputs lost:
// each lost producer is queued to run again (its outputs are gone) unless
// another consumer already had it queued again, and t waits for them as a
// pending task. Neither spends a retry: the loss is a node's, not theirs.
// It changes nothing and returns an error when a name is not an upstream
// task of t that succeeded or is being run again.
func (r *Run) recompute(t *TaskRun, lost []string, at time.Time) error {
	var producers []*TaskRun
	for _, name := range lost {
		up := false
		for _, u := range t.Upstream {
			up = up || u == name
		}
		p := r.Task(name)
		if !up || p == nil {
			return fmt.Errorf("%w: %s is not an upstream task of %s", ErrBadTransition, name, t.Name)
		}
		switch p.Status {
		case TaskSucceeded:
			producers = append(producers, p)
		case TaskRetrying, TaskQueued, TaskRunning:
			// Already running again for another consumer.
		default:
			return fmt.Errorf("%w: upstream %s of %s is %s", ErrBadTransition, name, t.Name, p.Status)
		}
	}
	for _, p := range producers {
		p.Attempts = append(p.Attempts, AttemptInfo{
			Attempt: p.Attempt, Node: p.Node, Status: TaskRetrying,
			StartedAt: p.StartedAt, FinishedAt: p.FinishedAt,
			Error: "its outputs were lost with node " + p.Node + "; running it again for " + t.Name,
		})
		p.Status = TaskRetrying
		p.Outputs = nil
		p.NextAttemptAt = timePtr(at)
		p.MaxAttempts++
		r.touch(p)
	}
	t.Attempts = append(t.Attempts, AttemptInfo{
		Attempt: t.Attempt, Node: t.Node, Status: TaskPending,
		StartedAt: t.StartedAt, FinishedAt: t.FinishedAt, Error: t.Error,
	})
	t.Status = TaskPending
	t.MaxAttempts++
	t.NextAttemptAt = nil
	return nil
}
