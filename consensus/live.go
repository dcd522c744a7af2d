package consensus

import (
	"fmt"
	"sort"
	"sync/atomic"
	"time"

	"go.etcd.io/bbolt"

	"github.com/forged-dev/forged/dag"
)

// ActiveRun is what the scheduler and the workers need of a run that
// still needs work: which tasks may be placed and which attempts are
// queued or running where. It is an immutable snapshot; Params is shared
// and must not be changed.
type ActiveRun struct {
	ID       string
	Pipeline string
	Version  int
	Params   map[string]any
	Status   dag.RunStatus
	// Ready are the tasks that may be assigned: pending tasks whose
	// upstream tasks all succeeded, and retrying tasks (from NotBefore).
	Ready []ReadyTask
	// Attempts are the queued and running attempts.
	Attempts []LiveAttempt
}

// ReadyTask is a task waiting for a node.
type ReadyTask struct {
	Name        string
	Constraints dag.Constraints
	// NotBefore is when a retrying task's backoff ends; zero when it may
	// go now.
	NotBefore time.Time
	// Inputs lists, once per upstream output, the node that holds it.
	Inputs []string
}

// LiveAttempt is one queued or running attempt.
type LiveAttempt struct {
	Task    string
	Attempt int
	Node    string
	Status  dag.TaskStatus
}

// liveRuns is the FSM's in-memory copy of the active runs, so that a
// transition neither decodes nor re-encodes a whole run. The apply
// goroutine alone reads and changes the runs; other goroutines read the
// published views. It is rebuilt from the state file when that is opened
// or replaced.
type liveRuns struct {
	loaded bool
	runs   map[string]*liveRun
	// ids is the sorted list of run IDs; nil when it must be rebuilt.
	ids []string

	published atomic.Pointer[[]*ActiveRun]
}

type liveRun struct {
	run *dag.Run
	// view is nil when the run changed since it was built.
	view *ActiveRun
}

// ensure loads the active runs from tx the first time it is called.
func (l *liveRuns) ensure(tx *bbolt.Tx) error {
	if l.loaded {
		return nil
	}
	l.runs = map[string]*liveRun{}
	l.ids = nil
	err := tx.Bucket(bucketActive).ForEach(func(k, _ []byte) error {
		r, err := loadRun(tx, string(k))
		if err != nil {
			return err
		}
		if r == nil {
			return fmt.Errorf("run %s is indexed as active but missing", k)
		}
		l.runs[r.ID] = &liveRun{run: r}
		return nil
	})
	if err != nil {
		return fmt.Errorf("load active runs: %w", err)
	}
	l.loaded = true
	return nil
}

// reset forgets everything; the next ensure reloads from the state file.
func (l *liveRuns) reset() {
	l.loaded = false
	l.runs = nil
	l.ids = nil
}

// get returns the live copy of an active run, or nil.
func (l *liveRuns) get(id string) *dag.Run {
	if lr := l.runs[id]; lr != nil {
		return lr.run
	}
	return nil
}

// update records that r changed: it stays while active and leaves once
// it needs no more work.
func (l *liveRuns) update(r *dag.Run) {
	lr, had := l.runs[r.ID]
	switch {
	case !runActive(r):
		if had {
			delete(l.runs, r.ID)
			l.ids = nil
		}
	case had:
		lr.run, lr.view = r, nil
	default:
		l.runs[r.ID] = &liveRun{run: r}
		l.ids = nil
	}
}

// sortedIDs returns the IDs of the active runs in order.
func (l *liveRuns) sortedIDs() []string {
	if l.ids == nil {
		l.ids = make([]string, 0, len(l.runs))
		for id := range l.runs {
			l.ids = append(l.ids, id)
		}
		sort.Strings(l.ids)
	}
	return l.ids
}

// views returns every active run's view in ID order, building those that
// are out of date.
func (l *liveRuns) views() []*ActiveRun {
	ids := l.sortedIDs()
	out := make([]*ActiveRun, len(ids))
	for i, id := range ids {
		lr := l.runs[id]
		if lr.view == nil {
			lr.view = buildView(lr.run)
		}
		out[i] = lr.view
	}
	return out
}

// publish makes the current views visible to readers.
func (l *liveRuns) publish() {
	v := l.views()
	l.published.Store(&v)
}

// current returns the last published views.
func (l *liveRuns) current() []*ActiveRun {
	if p := l.published.Load(); p != nil {
		return *p
	}
	return nil
}

// buildView summarises a run for the scheduler and the workers.
func buildView(r *dag.Run) *ActiveRun {
	v := &ActiveRun{ID: r.ID, Pipeline: r.Pipeline, Version: r.Version, Params: r.Params, Status: r.Status}
	terminal := r.Status.Terminal()
	// Size both lists once: large runs are rebuilt on every change.
	ready, active := 0, 0
	for i := range r.Tasks {
		switch r.Tasks[i].Status {
		case dag.TaskQueued, dag.TaskRunning:
			active++
		case dag.TaskPending, dag.TaskRetrying:
			ready++
		}
	}
	if active > 0 {
		v.Attempts = make([]LiveAttempt, 0, active)
	}
	if ready > 0 && !terminal {
		v.Ready = make([]ReadyTask, 0, ready)
	}
	for i := range r.Tasks {
		t := &r.Tasks[i]
		switch t.Status {
		case dag.TaskQueued, dag.TaskRunning:
			v.Attempts = append(v.Attempts, LiveAttempt{Task: t.Name, Attempt: t.Attempt, Node: t.Node, Status: t.Status})
		case dag.TaskPending:
			if !terminal {
				if inputs, ok := upstreamOutputs(r, t); ok {
					v.Ready = append(v.Ready, ReadyTask{Name: t.Name, Constraints: t.Constraints, Inputs: inputs})
				}
			}
		case dag.TaskRetrying:
			if !terminal {
				inputs, _ := upstreamOutputs(r, t)
				rt := ReadyTask{Name: t.Name, Constraints: t.Constraints, Inputs: inputs}
				if t.NextAttemptAt != nil {
					rt.NotBefore = *t.NextAttemptAt
				}
				v.Ready = append(v.Ready, rt)
			}
		}
	}
	return v
}

// upstreamOutputs lists the nodes holding t's upstream outputs; ok is
// false while an upstream task has not succeeded.
func upstreamOutputs(r *dag.Run, t *dag.TaskRun) (nodes []string, ok bool) {
	for _, u := range t.Upstream {
		ut := r.Task(u)
		if ut == nil || ut.Status != dag.TaskSucceeded {
			return nil, false
		}
		for _, o := range ut.Outputs {
			nodes = append(nodes, o.Node)
			nodes = append(nodes, o.Replicas...)
		}
	}
	return nodes, true
}
