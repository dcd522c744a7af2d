package node

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/forged-dev/forged/consensus"
	"github.com/forged-dev/forged/dataplane"
)

// reportBatch bounds how many task reports go into one log entry.
const reportBatch = 256

// syncEachMax is the most outputs a report batch syncs file by file; more
// are synced with one sync of the whole filesystem.
const syncEachMax = 8

// startLinger is how long the reporter holds a batch of nothing but start
// reports: a task that ends sooner is reported once, its finish carrying
// the start, and the start never takes a commit of its own ahead of the
// finish.
const startLinger = 5 * time.Millisecond

// reporter commits the worker's task reports in batches, in order, and
// keeps a report until it is committed: a finished attempt is never
// forgotten because the leader was briefly unreachable.
type reporter struct {
	n       *Node
	mu      sync.Mutex
	pending []consensus.TaskReport
	// inFlight is how many reports at the head of pending are being sent.
	inFlight int
	wake     chan struct{}
	cancel   context.CancelFunc
	done     chan struct{}
}

func newReporter(n *Node) *reporter {
	return &reporter{n: n, wake: make(chan struct{}, 1)}
}

func (r *reporter) start() {
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	r.done = make(chan struct{})
	go func() {
		defer close(r.done)
		r.loop(ctx)
	}()
}

// stop gives pending reports a moment to commit, then stops.
func (r *reporter) stop() {
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		r.mu.Lock()
		n := len(r.pending)
		r.mu.Unlock()
		if n == 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	r.cancel()
	<-r.done
}

// add queues a report. A finished report replaces the same attempt's
// started report when that has not been sent yet: the finish carries the
// start time, and the task makes one transition instead of two.
func (r *reporter) add(rep consensus.TaskReport) {
	r.mu.Lock()
	if rep.Kind == consensus.ReportFinished {
		// Only reports after the batch in flight may be dropped.
		for i := r.inFlight; i < len(r.pending); i++ {
			p := &r.pending[i]
			if p.Kind == consensus.ReportStarted && p.Run == rep.Run && p.Task == rep.Task && p.Attempt == rep.Attempt {
				r.pending = append(r.pending[:i], r.pending[i+1:]...)
				break
			}
		}
	}
	r.pending = append(r.pending, rep)
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func (r *reporter) loop(ctx context.Context) {
	backoff := 50 * time.Millisecond
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.wake:
		}
		for {
			for linger := time.Now().Add(startLinger); r.onlyStarts() && time.Now().Before(linger); {
				select {
				case <-ctx.Done():
					return
				case <-r.wake:
				case <-time.After(time.Until(linger)):
				}
			}
			r.mu.Lock()
			batch := r.pending[:min(len(r.pending), reportBatch)]
			batch = append([]consensus.TaskReport(nil), batch...)
			r.inFlight = len(batch)
			r.mu.Unlock()
			if len(batch) == 0 {
				break
			}
			r.makeDurable(batch)
			res, err := r.n.report(ctx, &consensus.ReportTasks{At: now(), Reports: batch})
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				r.n.log.Warn("report task states, will retry", "reports", len(batch), "err", err)
				r.mu.Lock()
				r.inFlight = 0
				r.mu.Unlock()
				select {
				case <-ctx.Done():
					return
				case <-time.After(backoff):
				}
				backoff = min(backoff*2, 2*time.Second)
				continue
			}
			backoff = 50 * time.Millisecond
			for i, item := range res.Items {
				if item.Error != nil {
					r.n.log.Debug("task report refused", "run", batch[i].Run, "task", batch[i].Task,
						"kind", batch[i].Kind, "reason", item.Error.Message)
				}
			}
			r.mu.Lock()
			r.pending = r.pending[len(batch):]
			r.inFlight = 0
			r.mu.Unlock()
		}
	}
}

// onlyStarts reports whether every pending report is a start.
func (r *reporter) onlyStarts() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range r.pending {
		if p.Kind != consensus.ReportStarted {
			return false
		}
	}
	return len(r.pending) > 0
}

// makeDurable syncs the outputs of the attempts batch reports as
// succeeded, together, before anyone is told they exist. (Task logs are
// not synced: a crash of the machine may cut their end.) When that fails, their successes become failures: an output that
// may not survive a crash must not be built upon.
func (r *reporter) makeDurable(batch []consensus.TaskReport) {
	var refs []dataplane.OutputRef
	for i := range batch {
		if res := batch[i].Result; batch[i].Kind == consensus.ReportFinished && res != nil && res.Error == "" {
			for _, o := range res.Outputs {
				if len(o.Inline) == 0 { // inline ones are durable with the report
					refs = append(refs, dataplane.OutputRef{Run: batch[i].Run, Task: batch[i].Task, Output: o.Name})
				}
			}
		}
	}
	// A few outputs are cheapest to sync one by one; many at once, with
	// one sync of the filesystem.
	var err error
	if len(refs) <= syncEachMax {
		err = r.n.data.SyncOutputs(refs)
	} else {
		err = r.n.data.Sync()
	}
	if err == nil {
		return
	}
	r.n.log.Error("sync task outputs", "err", err)
	for i := range batch {
		if res := batch[i].Result; batch[i].Kind == consensus.ReportFinished && res != nil && res.Error == "" {
			failed := *res
			failed.Error = fmt.Sprintf("outputs could not be made durable: %v", err)
			failed.Outputs = nil
			batch[i].Result = &failed
		}
	}
}
