package node

import (
	"context"
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
	Name  string
	Slots int
}

// scheduler is the leader loop: it finds ready tasks and commits their
// assignment to nodes with free slots, in batches.
type scheduler struct {
	n      *Node
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func newScheduler(n *Node) *scheduler { return &scheduler{n: n} }

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

// members lists the nodes that take tasks. One node for now; the cluster
// adds the live members from gossip.
func (s *scheduler) members() []member {
	return []member{{Name: s.n.cfg.Name, Slots: s.n.cfg.Slots}}
}

// schedule commits one batch of assignments and returns when a retrying
// task becomes ready next (zero when none waits).
func (s *scheduler) schedule(ctx context.Context) (time.Time, error) {
	runs, err := s.n.store.ActiveRuns()
	if err != nil {
		return time.Time{}, err
	}
	sort.Slice(runs, func(i, j int) bool { return runs[i].ID < runs[j].ID })
	free := map[string]int{}
	members := s.members()
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
		if at, ok := r.NextWake(); ok && (next.IsZero() || at.Before(next)) {
			next = at
		}
		for _, task := range r.Ready(at) {
			node := pickNode(members, free)
			if node == "" {
				return next, s.commit(ctx, batch)
			}
			free[node]--
			batch = append(batch, consensus.Assignment{Run: r.ID, Task: task, Node: node})
		}
	}
	return next, s.commit(ctx, batch)
}

// pickNode chooses the member with the most free slots.
func pickNode(members []member, free map[string]int) string {
	best, most := "", 0
	for _, m := range members {
		if free[m.Name] > most {
			best, most = m.Name, free[m.Name]
		}
	}
	return best
}

func (s *scheduler) commit(ctx context.Context, batch []consensus.Assignment) error {
	if len(batch) == 0 {
		return nil
	}
	res, err := s.n.store.Apply(ctx, &consensus.AssignTasks{At: now(), Assignments: batch})
	if err != nil {
		return err
	}
	for i, item := range res.Items {
		if item.Error != nil {
			s.n.log.Debug("assignment refused", "run", batch[i].Run, "task", batch[i].Task, "reason", item.Error.Message)
		}
	}
	return nil
}
