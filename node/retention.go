package node

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// retentionSweepMax bounds the time between two sweeps for old outputs.
const retentionSweepMax = 10 * time.Minute

// startRetention deletes, on this node, the output files and logs of runs
// that ended more than Config.OutputRetention ago, every quarter of that
// period (at most every ten minutes). A run that is not finished, or still
// has an attempt under way, keeps everything. Each node sweeps what it
// holds; the replicated state, inline outputs included, is kept.
func (n *Node) startRetention() {
	keep := n.cfg.OutputRetention
	if keep <= 0 {
		return
	}
	every := min(keep/4, retentionSweepMax)
	n.bg.Add(1)
	go func() {
		defer n.bg.Done()
		for {
			select {
			case <-n.bgCtx.Done():
				return
			case <-time.After(every):
			}
			if removed, err := n.sweepOutputs(time.Now().Add(-keep)); err != nil {
				n.log.Warn("delete expired outputs", "err", err)
			} else if removed > 0 {
				n.log.Info("deleted the outputs of old runs", "runs", removed, "retention", keep)
			}
		}
	}()
}

// sweepOutputs deletes the outputs and logs of every run held here that
// finished before cutoff and needs no more work, and returns how many
// runs it cleared.
func (n *Node) sweepOutputs(cutoff time.Time) (int, error) {
	active := map[string]bool{}
	for _, r := range n.store.Active() {
		active[r.ID] = true
	}
	entries, err := os.ReadDir(n.data.Dir())
	if err != nil {
		return 0, err
	}
	removed := 0
	var errs []error
	for _, e := range entries {
		if !e.IsDir() || active[e.Name()] {
			continue
		}
		run, err := n.store.RunHeader(e.Name())
		if err != nil || !run.Status.Terminal() || run.FinishedAt == nil || !run.FinishedAt.Before(cutoff) {
			continue // unknown here, running, or recent
		}
		if err := n.data.RemoveRun(run.ID); err != nil {
			errs = append(errs, err)
			continue
		}
		for _, dir := range []string{"logs", artifactsDir} {
			if err := os.RemoveAll(filepath.Join(n.cfg.DataDir, dir, run.ID)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
		}
		removed++
	}
	return removed, errors.Join(errs...)
}

// expired reports whether a run's outputs are past the retention period.
func (n *Node) expired(runID string) bool {
	if n.cfg.OutputRetention <= 0 {
		return false
	}
	run, err := n.store.RunHeader(runID)
	return err == nil && run.Status.Terminal() && run.FinishedAt != nil &&
		run.FinishedAt.Before(time.Now().Add(-n.cfg.OutputRetention))
}
