package node

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/forged-dev/forged/consensus"
)

// forwardPath is the internal route a follower uses to hand a write to the
// leader. It carries an encoded command and answers with its Result.
const forwardPath = "/internal/v1/apply"

// readIndexPath is the internal route a follower asks the leader's
// committed index on, for a consistent read.
const readIndexPath = "/internal/v1/read-index"

// forwardTimeout bounds a write, including waits for a new leader.
const forwardTimeout = 15 * time.Second

// errNoLeader means no leader was known, or reachable, within the time a
// write may wait.
var errNoLeader = fmt.Errorf("no raft leader reachable: %w", consensus.ErrNotLeader)

// propose commits cmd through the leader, wherever it is: directly when
// this node leads, else forwarded over HTTP. A forwarded write returns only
// once this node's replica has applied it, so the caller reads its own
// write. Business rejections are in the result, not the error.
func (n *Node) propose(ctx context.Context, cmd consensus.Command) (*consensus.Result, error) {
	return n.commit(ctx, cmd, true)
}

// report commits cmd like propose but does not wait for this replica to
// apply it: the worker's own reports need no read-your-writes.
func (n *Node) report(ctx context.Context, cmd consensus.Command) (*consensus.Result, error) {
	return n.commit(ctx, cmd, false)
}

func (n *Node) commit(ctx context.Context, cmd consensus.Command, waitApplied bool) (*consensus.Result, error) {
	ctx, cancel := context.WithTimeout(ctx, forwardTimeout)
	defer cancel()
	body, err := consensus.Encode(cmd)
	if err != nil {
		return nil, err
	}
	var lastErr error = errNoLeader
	start := time.Now()
	// Retries are quick and capped low: an election takes well under a
	// second, and a write should go through as soon as it ends.
	for wait := 20 * time.Millisecond; ; wait = min(wait*2, 100*time.Millisecond) {
		var res *consensus.Result
		if n.store.IsLeader() {
			res, err = n.applyAsLeader(ctx, cmd)
		} else {
			n.metrics.forwardedWrites.Inc()
			res, err = n.forward(ctx, body)
			if err == nil && waitApplied && res.Index > 0 {
				err = n.store.WaitForApplied(ctx, res.Index)
			}
		}
		if err == nil {
			return res, nil
		}
		if !errors.Is(err, consensus.ErrNotLeader) {
			return nil, err
		}
		lastErr = err
		// When gossip finds most voters gone, no election can succeed
		// until they return: say so now rather than at the timeout. The
		// grace lets an election that is under way finish first.
		if time.Since(start) > quorumGrace && n.quorumLost() {
			return nil, n.noLeaderError(cmd, lastErr)
		}
		select {
		case <-ctx.Done():
			return nil, n.noLeaderError(cmd, lastErr)
		case <-time.After(wait):
		}
	}
}

// noLeaderError explains a write that found no leader in time, in words
// a user can act on: when gossip sees fewer than a majority of the voters
// alive, it says the cluster lost its quorum and how many voters must
// come back. The error still wraps consensus.ErrNotLeader (a 503).
func (n *Node) noLeaderError(cmd consensus.Command, err error) error {
	alive, voters := n.aliveVoters()
	if need := voters/2 + 1; n.quorumLost() {
		return fmt.Errorf("no leader: the cluster has lost its quorum (%d of %d voters alive, %d needed), "+
			"so it refuses writes until enough voters are back; reads are still served (commit %s: %w)",
			alive, voters, need, cmd.Type(), err)
	}
	return fmt.Errorf("no leader: none was elected or reachable in time, so writes are refused "+
		"until there is one; reads are still served (commit %s: %w)", cmd.Type(), err)
}

// quorumGrace is how long a write waits for a leader before it gives up
// on a cluster whose quorum gossip finds lost.
const quorumGrace = 2 * time.Second

// quorumLost says whether gossip finds fewer than a majority of the Raft
// voters alive.
func (n *Node) quorumLost() bool {
	alive, voters := n.aliveVoters()
	return voters > 0 && alive < voters/2+1
}

// aliveVoters counts the voters of the Raft configuration that this node
// is (when it votes) or that gossip does not find dead or gone.
func (n *Node) aliveVoters() (alive, voters int) {
	servers, err := n.store.Configuration()
	if err != nil {
		return 0, 0
	}
	status := map[string]memberStatus{}
	if n.gossip != nil {
		for _, m := range n.gossip.list() {
			status[m.Name] = m.Status
		}
	}
	for _, s := range servers {
		if !s.Voter {
			continue
		}
		voters++
		if st := status[s.ID]; s.ID == n.cfg.Name || st == statusAlive || st == statusSuspect {
			alive++
		}
	}
	return alive, voters
}

// forward sends an encoded command to the leader's API.
func (n *Node) forward(ctx context.Context, body []byte) (*consensus.Result, error) {
	id, _ := n.store.Leader()
	if id == "" {
		return nil, errNoLeader
	}
	m, ok := n.gossip.member(id)
	if !ok || m.Meta.HTTP == "" {
		return nil, fmt.Errorf("leader %s has no API address known to gossip: %w", id, consensus.ErrNotLeader)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.scheme()+"://"+m.Meta.HTTP+forwardPath, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	n.authorizeInternal(req)
	resp, err := n.httpClient.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, err
		}
		// The leader may have just died: look for the next one.
		return nil, fmt.Errorf("forward to leader %s: %v: %w", id, err, consensus.ErrNotLeader)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("forward to leader %s: %w", id, err)
	}
	switch resp.StatusCode {
	case http.StatusOK:
		var res consensus.Result
		if err := json.Unmarshal(b, &res); err != nil {
			return nil, fmt.Errorf("forward to leader %s: decode result: %w", id, err)
		}
		return &res, nil
	case http.StatusServiceUnavailable:
		return nil, fmt.Errorf("leader %s: %s: %w", id, bytes.TrimSpace(b), consensus.ErrNotLeader)
	default:
		return nil, fmt.Errorf("forward to leader %s: HTTP %d: %s", id, resp.StatusCode, bytes.TrimSpace(b))
	}
}

// handleForwardedApply commits a command forwarded by a follower.
func (n *Node) handleForwardedApply(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusRequestEntityTooLarge)
		return
	}
	cmd, err := consensus.Decode(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if !n.store.IsLeader() {
		http.Error(w, "not the leader", http.StatusServiceUnavailable)
		return
	}
	res, err := n.applyAsLeader(r.Context(), cmd)
	if err == nil && len(res.Placed) == 0 {
		n.store.Nudge() // the follower waits to apply its own write
	}
	if errors.Is(err, consensus.ErrNotLeader) || errors.Is(err, consensus.ErrClosed) {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(res)
}

// ReadBarrier waits until this replica has applied everything the leader
// had committed: on the leader a Raft barrier, on a follower the leader's
// applied index, then a wait for it here.
func (n *Node) ReadBarrier(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, forwardTimeout)
	defer cancel()
	if n.store.IsLeader() {
		return n.store.Barrier(ctx)
	}
	id, _ := n.store.Leader()
	m, ok := n.gossip.member(id)
	if id == "" || !ok || m.Meta.HTTP == "" {
		return errNoLeader
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, n.scheme()+"://"+m.Meta.HTTP+readIndexPath, nil)
	if err != nil {
		return err
	}
	n.authorizeInternal(req)
	resp, err := n.httpClient.Do(req)
	if err != nil {
		return fmt.Errorf("ask leader %s for its index: %v: %w", id, err, consensus.ErrNotLeader)
	}
	defer resp.Body.Close()
	var out struct {
		Index uint64 `json:"index"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&out) != nil {
		return fmt.Errorf("ask leader %s for its index: HTTP %s: %w", id, resp.Status, consensus.ErrNotLeader)
	}
	return n.store.WaitForApplied(ctx, out.Index)
}

// handleReadIndex answers a follower's consistent read: after a barrier,
// everything committed is applied here; the applied index says how far.
func (n *Node) handleReadIndex(w http.ResponseWriter, r *http.Request) {
	if !n.store.IsLeader() {
		http.Error(w, "not the leader", http.StatusServiceUnavailable)
		return
	}
	if err := n.store.Barrier(r.Context()); err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]uint64{"index": n.store.Stats().AppliedIndex})
}

// placementTTL is how long the leader reuses its list of live workers for
// the placements it adds to task reports.
const placementTTL = 100 * time.Millisecond

// applyAsLeader commits cmd on this node, the leader, with a placement
// added to task reports, and counts the assignments it made.
func (n *Node) applyAsLeader(ctx context.Context, cmd consensus.Command) (*consensus.Result, error) {
	res, err := n.store.Apply(ctx, n.withPlacement(cmd))
	if err != nil {
		return res, err
	}
	if len(res.Placed) > 0 {
		n.metrics.assignments.Add(float64(len(res.Placed)))
	}
	for _, a := range res.Placed {
		if a.Node != n.cfg.Name {
			// A follower has new work: let it learn of the commit now.
			n.store.Nudge()
			break
		}
	}
	return res, nil
}

// withPlacement adds the live workers to a task report the leader is about
// to commit, so that the tasks the report makes ready are placed in the
// same log entry. Other commands pass through.
func (n *Node) withPlacement(cmd consensus.Command) consensus.Command {
	rep, ok := cmd.(*consensus.ReportTasks)
	if !ok || rep.Place != nil {
		return cmd
	}
	nodes := n.placementNodes()
	if len(nodes) == 0 {
		return cmd
	}
	cp := *rep
	cp.Place = &consensus.Placement{Nodes: nodes}
	return &cp
}

// placementNodes returns the live workers, cached for placementTTL.
func (n *Node) placementNodes() []consensus.NodeCapacity {
	n.placeMu.Lock()
	defer n.placeMu.Unlock()
	if time.Since(n.placeAt) < placementTTL && n.placeNodes != nil {
		return n.placeNodes
	}
	members, _, err := n.liveWorkers()
	if err != nil {
		return nil
	}
	n.placeNodes, n.placeAt = capacities(members, n.cfg.Name), time.Now()
	return n.placeNodes
}

// forgetPlacementNodes drops the cached worker list after a membership
// change.
func (n *Node) forgetPlacementNodes() {
	n.placeMu.Lock()
	n.placeNodes = nil
	n.placeMu.Unlock()
}

// authorizeInternal adds the cluster's internal token to a call to
// another node, when tokens are configured.
func (n *Node) authorizeInternal(req *http.Request) {
	if t := n.cfg.Tokens.Internal(); t != "" {
		req.Header.Set("Authorization", "Bearer "+t)
	}
}
