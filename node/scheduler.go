package node

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/forged-dev/forged/consensus"
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

// schedule returns attempts on nodes that gossip declares dead or gone to
// the queue, then, when some ready task fits a live node, asks the FSM to
// place ready tasks (one log entry for the whole batch). It returns when a
// retrying task becomes ready next (zero when none waits).
func (s *scheduler) schedule(ctx context.Context) (time.Time, error) {
	members, status, err := s.n.liveWorkers()
	if err != nil {
		return time.Time{}, err
	}
	runs := s.n.store.Active()
	if lost := lostAttempts(runs, status); len(lost) > 0 {
		if _, err := s.n.propose(ctx, &consensus.ReportTasks{At: now(), Reports: lost}); err != nil {
			return time.Time{}, err
		}
		runs = s.n.store.Active()
	}
	at := now()
	var next time.Time
	for _, r := range runs {
		for _, t := range r.Ready {
			if t.NotBefore.After(at) && (next.IsZero() || t.NotBefore.Before(next)) {
				next = t.NotBefore
			}
		}
	}
	nodes := capacities(members, s.n.cfg.Name)
	if len(consensus.Plan(runs, nodes, at)) == 0 {
		return next, nil
	}
	return next, s.commit(ctx, &consensus.AssignTasks{At: at, Place: &consensus.Placement{Nodes: nodes}})
}

// capacities lists members for a Placement: this node (the leader) first,
// then the others by name. Plan breaks ties by list order, so a task that
// could go anywhere goes to the leader, whose reports need no network hop,
// and a chain that starts there stays there.
func capacities(members []member, self string) []consensus.NodeCapacity {
	out := make([]consensus.NodeCapacity, len(members))
	for i, m := range members {
		out[i] = consensus.NodeCapacity{Name: m.Name, Slots: m.Slots, Labels: m.Labels}
	}
	sort.Slice(out, func(i, j int) bool {
		if (out[i].Name == self) != (out[j].Name == self) {
			return out[i].Name == self
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// lostAttempts lists the queued or running attempts held by nodes that
// gossip reports dead or departed.
func lostAttempts(runs []*consensus.ActiveRun, status map[string]memberStatus) []consensus.TaskReport {
	var lost []consensus.TaskReport
	for _, r := range runs {
		for _, a := range r.Attempts {
			if st := status[a.Node]; st == statusDead || st == statusLeft {
				lost = append(lost, consensus.TaskReport{
					Run: r.ID, Task: a.Task, Attempt: a.Attempt, Node: a.Node, Kind: consensus.ReportLost,
					Reason: fmt.Sprintf("node %s is %s", a.Node, st),
				})
			}
		}
	}
	return lost
}

func (s *scheduler) commit(ctx context.Context, cmd *consensus.AssignTasks) error {
	start := time.Now()
	// The leader that applies the command counts its assignments.
	if _, err := s.n.propose(ctx, cmd); err != nil {
		return err
	}
	s.n.metrics.assignLatency.Observe(time.Since(start).Seconds())
	return nil
}
