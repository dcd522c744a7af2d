package node

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/forged-dev/forged/consensus"
	"github.com/forged-dev/forged/dag"
	"github.com/forged-dev/forged/dataplane"
)

// repairEvery bounds the time between two scans for files with too few
// live copies.
const repairEvery = 10 * time.Second

// startRepair brings the copies of stored files back to the number
// wanted once holders have died. Every half of Config.ReplicaRepairAfter
// (at most repairEvery) the node scans the files it holds that the state
// lists with holders: outputs of tasks with replicas (of runs neither
// expired nor deleted), dataset versions and model versions; inline ones
// live in the state and need none. A holder that gossip has found dead, or gone, for longer than
// ReplicaRepairAfter no longer counts; when the live holders are fewer
// than wanted, the live holder with the lowest name (so one node acts
// for each file) copies it to other live nodes that are not holders,
// dead or alive, and records them in the state (consensus.AddReplicas).
func (n *Node) startRepair() {
	grace := n.cfg.ReplicaRepairAfter
	if grace < 0 {
		return
	}
	every := min(repairEvery, max(grace/2, 50*time.Millisecond))
	r := &repairer{n: n, grace: grace, started: time.Now()}
	n.every(every, func() {
		if err := r.scan(n.bgCtx); err != nil && n.bgCtx.Err() == nil {
			n.log.Warn("restore lost copies of files", "err", err)
		}
	})
}

// repairer is the state of a node's repair loop.
type repairer struct {
	n     *Node
	grace time.Duration
	// started is when the loop began: a holder this node's gossip has
	// never seen counts as gone once the loop has run for the grace.
	started time.Time
	// settled is the membership (names, all alive) of the last scan that
	// found nothing left to do: while it stays the same, no copy can have
	// been lost, and the scan, which reads every file's holders, is
	// skipped.
	settled string
}

// repairItem is one stored file with holders in the state.
type repairItem struct {
	ref  dataplane.OutputRef
	meta dag.OutputMeta
	want int
	// cmd names the file in the state; Nodes is filled in when copies
	// were made.
	cmd consensus.AddReplicas
}

// scan looks at every file this node holds with holders in the state and
// repairs those with too few live copies.
func (r *repairer) scan(ctx context.Context) error {
	members := map[string]memberState{}
	var names []string
	allAlive := true
	for _, m := range r.n.gossip.list() {
		members[m.Name] = m
		names = append(names, m.Name)
		allAlive = allAlive && m.Status == statusAlive
	}
	slices.Sort(names)
	membership := strings.Join(names, ",")
	now := time.Now()
	pastGrace := now.Sub(r.started) > r.grace
	if allAlive && pastGrace && membership == r.settled {
		return nil
	}
	items, err := r.items()
	var errs []error
	if err != nil {
		errs = append(errs, err)
	}
	for i := range items {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err := r.repair(ctx, &items[i], members, now); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 && allAlive && pastGrace {
		r.settled = membership
	}
	return errors.Join(errs...)
}

// items lists the files with holders that this node may hold: dataset
// and model versions, and the replicated outputs of the runs it has
// files of.
func (r *repairer) items() ([]repairItem, error) {
	n := r.n
	var items []repairItem
	var errs []error
	datasets, err := n.store.Datasets()
	if err != nil {
		errs = append(errs, err)
	}
	for _, v := range datasets {
		items = append(items, repairItem{
			ref: dataplane.OutputRef{Run: datasetsRun, Task: v.Name, Output: v.Output.Name}, meta: v.Output, want: datasetReplicas,
			cmd: consensus.AddReplicas{Kind: consensus.ReplicaDataset, Dataset: v.Name, Version: v.Version, Output: v.Output.Name},
		})
	}
	models, err := n.store.Models()
	if err != nil {
		errs = append(errs, err)
	}
	for _, m := range models {
		versions, _, err := n.store.ModelVersions(m.Name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, v := range versions {
			items = append(items, repairItem{
				ref: dataplane.OutputRef{Run: modelsRun, Task: v.Model, Output: v.Output.Name}, meta: v.Output, want: modelReplicas,
				cmd: consensus.AddReplicas{Kind: consensus.ReplicaModel, Model: v.Model, Version: v.Version, Output: v.Output.Name},
			})
		}
	}
	outs, err := r.outputItems()
	if err != nil {
		errs = append(errs, err)
	}
	return append(items, outs...), errors.Join(errs...)
}

// outputItems lists the file outputs of succeeded tasks with replicas in
// the runs this node has files of, but for expired and deleted runs.
func (r *repairer) outputItems() ([]repairItem, error) {
	n := r.n
	entries, err := os.ReadDir(n.data.Dir())
	if err != nil {
		return nil, err
	}
	var items []repairItem
	for _, e := range entries {
		id := e.Name()
		if !e.IsDir() || id == datasetsRun || id == modelsRun {
			continue
		}
		hdr, err := n.store.RunHeader(id)
		if err != nil || n.expired(id) {
			continue // deleted (its files go with the next sweep), or expired
		}
		p, err := n.specs.get(hdr.Pipeline, hdr.Version)
		if err != nil {
			continue
		}
		want := map[string]int{}
		for _, t := range p.Tasks {
			if t.Replicas > 1 {
				want[t.Name] = t.Replicas
			}
		}
		if len(want) == 0 {
			continue
		}
		run, err := n.store.Run(id)
		if err != nil {
			continue
		}
		for _, t := range run.Tasks {
			if t.Status != dag.TaskSucceeded || want[t.Name] == 0 {
				continue
			}
			for _, o := range t.Outputs {
				items = append(items, repairItem{
					ref: dataplane.OutputRef{Run: id, Task: t.Name, Output: o.Name}, meta: o, want: want[t.Name],
					cmd: consensus.AddReplicas{Kind: consensus.ReplicaOutput, Run: id, Task: t.Name, Output: o.Name},
				})
			}
		}
	}
	return items, nil
}

// holderState is what the repair makes of one holder.
type holderState int

const (
	// holderLive counts as a copy.
	holderLive holderState = iota
	// holderPending is dead or gone for less than the grace: it neither
	// counts nor is replaced yet.
	holderPending
	// holderLost has been dead or gone for longer than the grace.
	holderLost
)

// holder judges one holder from gossip's members.
func (r *repairer) holder(name string, members map[string]memberState, now time.Time) holderState {
	if name == r.n.cfg.Name {
		return holderLive
	}
	m, ok := members[name]
	switch {
	case !ok:
		if now.Sub(r.started) > r.grace {
			return holderLost
		}
		return holderPending
	case m.Status == statusDead || m.Status == statusLeft:
		if now.Sub(m.Since) > r.grace {
			return holderLost
		}
		return holderPending
	}
	return holderLive // alive, or suspect: not dead yet
}

// plan says how many copies of a file this node should make: none
// unless the file has holders, this node is the live holder with the
// lowest name, and the live and pending holders are fewer than wanted.
// It also returns the file's holders and those lost for good.
func (r *repairer) plan(it *repairItem, members map[string]memberState, now time.Time) (need int, holders, lost []string) {
	self := r.n.cfg.Name
	if len(it.meta.Inline) > 0 || it.meta.Node == "" {
		return 0, nil, nil
	}
	holders = append([]string{it.meta.Node}, it.meta.Replicas...)
	if !slices.Contains(holders, self) {
		return 0, holders, nil
	}
	var live []string
	pending := 0
	for _, h := range holders {
		switch r.holder(h, members, now) {
		case holderLive:
			if !slices.Contains(live, h) {
				live = append(live, h)
			}
		case holderPending:
			pending++
		case holderLost:
			lost = append(lost, h)
		}
	}
	if slices.Min(live) != self {
		return 0, holders, lost
	}
	return max(it.want-len(live)-pending, 0), holders, lost
}

// repair copies one file to new holders when plan says this node
// should, and records them in the state.
func (r *repairer) repair(ctx context.Context, it *repairItem, members map[string]memberState, now time.Time) error {
	n := r.n
	need, holders, lost := r.plan(it, members, now)
	if need == 0 {
		return nil
	}
	if _, err := n.data.Meta(it.ref); err != nil {
		// Listed here but not held (lost with a wiped disk, say): there
		// is nothing to copy from, and the holders after this one wait.
		return nil
	}
	key := it.ref.String()
	var got []string
	for _, t := range n.replicaTargets(key, need+len(holders)) {
		if len(got) == need {
			break
		}
		if slices.Contains(holders, t.name) {
			continue
		}
		if err := n.data.PutFlight(ctx, t.flight, it.ref); err != nil {
			n.log.Warn("copy a file to replace lost copies", "file", key, "to", t.name, "err", err)
			continue
		}
		got = append(got, t.name)
		n.metrics.replicaRepairs.Inc()
	}
	if len(got) == 0 {
		return nil // no live node to copy to (or every copy failed): next scan
	}
	cmd := it.cmd
	cmd.Nodes = got
	if _, err := n.apply(ctx, &cmd); err != nil {
		return err
	}
	n.log.Info("restored copies of a file lost with dead nodes", "kind", string(it.cmd.Kind), "file", key,
		"to", got, "holders", holders, "lost", lost, "wanted", it.want)
	return nil
}

// hasFileOutput says whether a task has the named output as a file (not
// inline in the state).
func hasFileOutput(t *dag.TaskRun, output string) bool {
	for _, o := range t.Outputs {
		if o.Name == output {
			return len(o.Inline) == 0
		}
	}
	return false
}
