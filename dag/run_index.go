package dag

import "sort"

// indexOf returns the position of the named task in r.Tasks, or -1. The
// name index is built on first use and rebuilt if Tasks was replaced.
func (r *Run) indexOf(name string) int {
	if i, ok := r.index[name]; ok && i < len(r.Tasks) && r.Tasks[i].Name == name {
		return i
	}
	if len(r.index) == len(r.Tasks) && r.index != nil {
		if _, ok := r.index[name]; !ok {
			return -1
		}
	}
	r.index = make(map[string]int, len(r.Tasks))
	for i := range r.Tasks {
		if _, dup := r.index[r.Tasks[i].Name]; !dup {
			r.index[r.Tasks[i].Name] = i
		}
	}
	if i, ok := r.index[name]; ok {
		return i
	}
	return -1
}

// touch records that the state methods changed t, which must point into
// r.Tasks.
func (r *Run) touch(t *TaskRun) {
	i := r.indexOf(t.Name)
	if i < 0 {
		return
	}
	for _, c := range r.changed {
		if c == i {
			return
		}
	}
	r.changed = append(r.changed, i)
}

// TakeChanged returns the positions in Tasks of the tasks the state
// methods changed since the last call, in ascending order, and forgets
// them. A store that writes tasks one by one writes just these.
func (r *Run) TakeChanged() []int {
	out := r.changed
	r.changed = nil
	sort.Ints(out)
	return out
}
