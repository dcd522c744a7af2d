package node

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/forged-dev/forged/consensus"
	"github.com/forged-dev/forged/dag"
)

// schedulerIdle is how often the scheduler looks again with nothing to
// wake it, as a safety net.
const schedulerIdle = 2 * time.Second

// member is a node that can run tasks, as the scheduler sees it.
type member struct {
	Name   string
	Slots  int
	Labels map[string]string
}

// scheduler is the leader loop: it finds ready tasks and commits their
// assignment to nodes with free slots, in batches.
type scheduler struct {
	n      *Node
	cancel context.CancelFunc
	wg     sync.WaitGroup
	wake   chan struct{}
}

func newScheduler(n *Node) *scheduler { return &scheduler{n: n, wake: make(chan struct{}, 1)} }

// poke makes the scheduler look again now (membership changed).
func (s *scheduler) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *scheduler) start() {
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.loop(ctx)
	}()
}

func (s *scheduler) stop() {
	if s.cancel != nil {
		s.cancel()
	}
	s.wg.Wait()
}

func (s *scheduler) loop(ctx context.Context) {
	changes, unsubscribe := s.n.store.Subscribe()
	defer unsubscribe()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-changes:
		case <-s.wake:
		case <-timer.C:
		}
		wait := schedulerIdle
		if s.n.store.IsLeader() {
			next, err := s.schedule(ctx)
			if err != nil && ctx.Err() == nil {
				s.n.log.Warn("schedule tasks", "err", err)
				wait = 200 * time.Millisecond
			} else if !next.IsZero() {
				wait = min(wait, max(time.Until(next), time.Millisecond))
			}
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(wait)
	}
}

// schedule commits one batch of assignments and returns when a retrying
// task becomes ready next (zero when none waits). Attempts on nodes that
// gossip declares dead or gone are first returned to the queue.
func (s *scheduler) schedule(ctx context.Context) (time.Time, error) {
	runs, err := s.n.store.ActiveRuns()
	if err != nil {
		return time.Time{}, err
	}
	members, status, err := s.n.liveWorkers()
	if err != nil {
		return time.Time{}, err
	}
	if lost := lostAttempts(runs, status); len(lost) > 0 {
		if _, err := s.n.propose(ctx, &consensus.ReportTasks{At: now(), Reports: lost}); err != nil {
			return time.Time{}, err
		}
		if runs, err = s.n.store.ActiveRuns(); err != nil {
			return time.Time{}, err
		}
	}
	sort.Slice(runs, func(i, j int) bool { return runs[i].ID < runs[j].ID })
	free := map[string]int{}
	for _, m := range members {
		free[m.Name] = m.Slots
	}
	for _, r := range runs {
		for _, t := range r.Tasks {
			if t.Status == dag.TaskQueued || t.Status == dag.TaskRunning {
				free[t.Node]--
			}
		}
	}
	var batch []consensus.Assignment
	var next time.Time
	at := now()
	for _, r := range runs {
		if wake, ok := r.NextWake(); ok && (next.IsZero() || wake.Before(next)) {
			next = wake
		}
		for _, name := range r.Ready(at) {
			t := r.Task(name)
			node := pickNode(members, free, t.Constraints, inputHolders(r, t))
			if node == "" {
				continue // no allowed node has a free slot; try the next task
			}
			free[node]--
			batch = append(batch, consensus.Assignment{Run: r.ID, Task: name, Node: node})
		}
	}
	return next, s.commit(ctx, batch)
}

// lostAttempts lists the queued or running attempts held by nodes that
// gossip reports dead or departed.
func lostAttempts(runs []*dag.Run, status map[string]memberStatus) []consensus.TaskReport {
	var lost []consensus.TaskReport
	for _, r := range runs {
		for _, t := range r.Tasks {
			if t.Status != dag.TaskQueued && t.Status != dag.TaskRunning {
				continue
			}
			if st := status[t.Node]; st == statusDead || st == statusLeft {
				lost = append(lost, consensus.TaskReport{
					Run: r.ID, Task: t.Name, Attempt: t.Attempt, Node: t.Node, Kind: consensus.ReportLost,
					Reason: fmt.Sprintf("node %s is %s", t.Node, st),
				})
			}
		}
	}
	return lost
}

// inputHolders counts, per node, the upstream outputs of t it holds.
func inputHolders(r *dag.Run, t *dag.TaskRun) map[string]int {
	held := map[string]int{}
	for _, u := range t.Upstream {
		if ut := r.Task(u); ut != nil {
			for _, o := range ut.Outputs {
				held[o.Node]++
			}
		}
	}
	return held
}

// pickNode chooses a node for a task: among the nodes its constraints
// allow that have a free slot, the one holding most of its inputs, then
// the one with most free slots. Empty when none fits now.
func pickNode(members []member, free map[string]int, c dag.Constraints, held map[string]int) string {
	best, bestHeld, bestFree := "", -1, 0
	for _, m := range members {
		if free[m.Name] <= 0 || !c.Allows(m.Name, m.Labels) {
			continue
		}
		h := held[m.Name]
		if h > bestHeld || (h == bestHeld && free[m.Name] > bestFree) {
			best, bestHeld, bestFree = m.Name, h, free[m.Name]
		}
	}
	return best
}

func (s *scheduler) commit(ctx context.Context, batch []consensus.Assignment) error {
	if len(batch) == 0 {
		return nil
	}
	start := time.Now()
	res, err := s.n.propose(ctx, &consensus.AssignTasks{At: now(), Assignments: batch})
	if err != nil {
		return err
	}
	s.n.metrics.assignLatency.Observe(time.Since(start).Seconds())
	s.n.metrics.assignments.Add(float64(len(batch)))
	for i, item := range res.Items {
		if item.Error != nil {
			s.n.log.Debug("assignment refused", "run", batch[i].Run, "task", batch[i].Task, "reason", item.Error.Message)
		}
	}
	return nil
}
