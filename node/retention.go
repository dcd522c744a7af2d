package node

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/forged-dev/forged/consensus"
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
	n.every(min(keep/4, retentionSweepMax), func() {
		if removed, err := n.sweepOutputs(time.Now().Add(-keep)); err != nil {
			n.log.Warn("delete expired outputs", "err", err)
		} else if removed > 0 {
			n.log.Info("deleted the outputs of old runs", "runs", removed, "retention", keep)
		}
	})
}

// every runs fn in the background every interval until the node closes.
func (n *Node) every(interval time.Duration, fn func()) {
	n.bg.Add(1)
	go func() {
		defer n.bg.Done()
		for {
			select {
			case <-n.bgCtx.Done():
				return
			case <-time.After(interval):
			}
			fn()
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
		if err := n.removeRunFiles(run.ID); err != nil {
			errs = append(errs, err)
			continue
		}
		removed++
	}
	return removed, errors.Join(errs...)
}

// removeRunFiles deletes what this node holds of a run: its output files,
// logs and artifacts.
func (n *Node) removeRunFiles(id string) error {
	errs := []error{n.data.RemoveRun(id)}
	for _, dir := range []string{"logs", artifactsDir, "work"} {
		if err := os.RemoveAll(filepath.Join(n.cfg.DataDir, dir, id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// deletedSweepEvery is how often a node looks for files of deleted runs.
const deletedSweepEvery = 30 * time.Second

// startDeletedSweep deletes, every deletedSweepEvery, the files this node
// holds of runs the state no longer has (deleted with DELETE /runs/{id}).
// A node only holds files of a run it has in its state (it ran, or was
// given a copy of, one of its tasks), so a run missing from the state was
// deleted.
func (n *Node) startDeletedSweep() {
	n.every(deletedSweepEvery, func() {
		if removed, err := n.sweepDeleted(); err != nil {
			n.log.Warn("delete the files of deleted runs", "err", err)
		} else if removed > 0 {
			n.log.Info("deleted the files of deleted runs", "runs", removed)
		}
	})
}

// sweepDeleted removes the files of runs missing from the state.
func (n *Node) sweepDeleted() (int, error) {
	seen := map[string]bool{}
	for _, root := range []string{n.data.Dir(), filepath.Join(n.cfg.DataDir, "logs"), filepath.Join(n.cfg.DataDir, artifactsDir)} {
		entries, err := os.ReadDir(root)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return 0, err
		}
		for _, e := range entries {
			if e.IsDir() && e.Name() != datasetsRun && e.Name() != modelsRun {
				seen[e.Name()] = true
			}
		}
	}
	removed := 0
	var errs []error
	for id := range seen {
		if _, err := n.store.RunHeader(id); !errors.Is(err, consensus.ErrNotFound) {
			continue
		}
		if err := n.removeRunFiles(id); err != nil {
			errs = append(errs, err)
			continue
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
