package node

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/forged-dev/forged/consensus"
	"github.com/forged-dev/forged/dag"
)

// workerIdle is how often the worker re-reads its assignments with nothing
// to wake it.
const workerIdle = time.Second

// Causes of a running attempt being stopped by the worker.
var (
	errRunCancelled = errors.New("the run was cancelled")
	errShutdown     = errors.New("the node is shutting down")
	errSuperseded   = errors.New("a newer attempt replaced this one")
)

// attemptKey names one attempt of one task.
type attemptKey struct {
	Run     string
	Task    string
	Attempt int
}

// worker runs the tasks assigned to this node, up to its slots, and
// reports their start and end through the reporter.
type worker struct {
	n        *Node
	reporter *reporter

	mu      sync.Mutex
	running map[attemptKey]context.CancelCauseFunc
	// stopping is set by stop; no attempt starts after it.
	stopping bool
	// seen holds attempts this process started; an attempt assigned here
	// and marked running that is not in seen was lost by a previous life
	// of the node.
	seen map[attemptKey]bool

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	tasks  sync.WaitGroup
}

func newWorker(n *Node) *worker {
	return &worker{
		n:        n,
		reporter: newReporter(n),
		running:  map[attemptKey]context.CancelCauseFunc{},
		seen:     map[attemptKey]bool{},
	}
}

func (w *worker) start() {
	w.ctx, w.cancel = context.WithCancel(context.Background())
	w.reporter.start()
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		w.loop()
	}()
}

// stop interrupts running attempts without reporting them: after a
// restart they are found lost and queued again.
func (w *worker) stop() {
	if w.cancel == nil {
		return
	}
	w.mu.Lock()
	w.stopping = true
	for _, cancel := range w.running {
		cancel(errShutdown)
	}
	w.mu.Unlock()
	w.cancel()
	w.wg.Wait()
	w.tasks.Wait()
	w.reporter.stop()
}

func (w *worker) runningCount() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.running)
}

func (w *worker) loop() {
	changes, unsubscribe := w.n.store.Subscribe()
	defer unsubscribe()
	tick := time.NewTicker(workerIdle)
	defer tick.Stop()
	for {
		if err := w.reconcile(); err != nil && w.ctx.Err() == nil {
			w.n.log.Warn("read assignments", "err", err)
		}
		select {
		case <-w.ctx.Done():
			return
		case <-changes:
		case <-tick.C:
		}
	}
}

// reconcile compares the replicated assignments to this node with what it
// runs: it starts queued attempts, reports lost ones and stops attempts of
// cancelled runs.
func (w *worker) reconcile() error {
	runs := w.n.store.Active()
	me := w.n.cfg.Name
	current := map[attemptKey]bool{}
	var lost []consensus.TaskReport
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopping {
		return nil
	}
	for _, r := range runs {
		for _, t := range r.Attempts {
			if t.Node != me {
				continue
			}
			key := attemptKey{Run: r.ID, Task: t.Task, Attempt: t.Attempt}
			current[key] = true
			if cancel, ok := w.running[key]; ok {
				if r.Status == dag.RunCancelled {
					cancel(errRunCancelled)
				}
				continue
			}
			if w.seen[key] {
				continue // finished here; its report is on its way
			}
			switch {
			case t.Status == dag.TaskRunning:
				lost = append(lost, consensus.TaskReport{
					Run: r.ID, Task: t.Task, Attempt: t.Attempt, Node: me, Kind: consensus.ReportLost,
					Reason: "node " + me + " restarted while the attempt ran",
				})
				w.seen[key] = true
			case r.Status == dag.RunCancelled:
				w.seen[key] = true
				w.reporter.add(consensus.TaskReport{
					Run: r.ID, Task: t.Task, Attempt: t.Attempt, Node: me, Kind: consensus.ReportFinished,
					Result: &dag.TaskResult{Error: errRunCancelled.Error(), Cancelled: true},
				})
			case len(w.running) < w.n.cfg.Slots:
				w.startLocked(key, r)
			}
		}
	}
	// Attempts that are no longer this node's current ones stop.
	for key, cancel := range w.running {
		if !current[key] {
			cancel(errSuperseded)
		}
	}
	for key := range w.seen {
		if !current[key] {
			delete(w.seen, key)
		}
	}
	for _, rep := range lost {
		w.reporter.add(rep)
	}
	return nil
}

func (w *worker) startLocked(key attemptKey, run *consensus.ActiveRun) {
	ctx, cancel := context.WithCancelCause(w.ctx)
	w.running[key] = cancel
	w.seen[key] = true
	w.reporter.add(consensus.TaskReport{
		Run: key.Run, Task: key.Task, Attempt: key.Attempt, Node: w.n.cfg.Name, Kind: consensus.ReportStarted,
	})
	w.tasks.Add(1)
	go func() {
		defer w.tasks.Done()
		started := now()
		res := w.n.execute(ctx, run, key)
		res.StartedAt = &started
		cause := context.Cause(ctx)
		w.mu.Lock()
		delete(w.running, key)
		w.mu.Unlock()
		cancel(nil)
		switch {
		case errors.Is(cause, errShutdown), errors.Is(cause, errSuperseded):
			return // not this attempt's to report
		case errors.Is(cause, errRunCancelled) && res.Error != "":
			res.Cancelled = true
			res.Error = errRunCancelled.Error()
		}
		w.reporter.add(consensus.TaskReport{
			Run: key.Run, Task: key.Task, Attempt: key.Attempt, Node: w.n.cfg.Name,
			Kind: consensus.ReportFinished, Result: &res,
		})
	}()
}
