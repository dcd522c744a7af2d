package dag

// HasActiveTask reports whether a task is still queued or running. A
// cancelled run is terminal at once but waits for these to stop, so
// followers of a run watch for both.
func (r *Run) HasActiveTask() bool {
	for i := range r.Tasks {
		if s := r.Tasks[i].Status; s == TaskQueued || s == TaskRunning {
			return true
		}
	}
	return false
}
