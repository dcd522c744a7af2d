package node

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/forged-dev/forged/dag"
	"github.com/forged-dev/forged/dataplane"
)

// errInputLost marks an output that no live node holds any more: its
// holder is dead, gone, or no longer has it. The producer must run again.
var errInputLost = errors.New("no live node holds it any more")

// openOutput opens an output wherever it is: kept inline in the state,
// held here, or else pulled first from the node that holds it with Arrow
// Flight DoGet. The copy streams batch by batch into the local store, so
// later readers here find it.
func (n *Node) openOutput(ctx context.Context, ref dataplane.OutputRef) (*dataplane.OutputFile, error) {
	meta, ok := n.outputMeta(ref)
	if !ok || (meta.Node == "" && len(meta.Inline) == 0) {
		// Not a finished task's output in the state (a dataset copy, say):
		// only this node's store can have it.
		f, err := n.data.Open(ref)
		if errors.Is(err, dataplane.ErrOutputNotFound) {
			err = fmt.Errorf("output %s is not on this node and no other node holds it: %w", ref, err)
		}
		return f, err
	}
	return n.openFromHolders(ctx, ref, meta)
}

// openFromHolders opens ref from the state (inline) or this node's store,
// else copies it first from meta's node or one of its replicas; the error
// wraps errInputLost when none of them has it any more.
func (n *Node) openFromHolders(ctx context.Context, ref dataplane.OutputRef, meta dag.OutputMeta) (*dataplane.OutputFile, error) {
	if len(meta.Inline) > 0 {
		return n.data.OpenInline(ref, meta)
	}
	if f, err := n.data.Open(ref); !errors.Is(err, dataplane.ErrOutputNotFound) {
		return f, err
	}
	if n.expired(ref.Run) {
		return nil, fmt.Errorf("output %s was deleted: its run ended more than %s ago (output retention): %w",
			ref, n.cfg.OutputRetention, dataplane.ErrOutputNotFound)
	}
	unlock := n.fetches.lock(ref.String())
	defer unlock()
	if f, err := n.data.Open(ref); err == nil {
		return f, nil // another caller fetched it meanwhile
	}
	// The producer's node first, then the copies; the output is lost
	// only when every one of them is.
	var errs []error
	for _, holder := range append([]string{meta.Node}, meta.Replicas...) {
		var err error
		if holder == n.cfg.Name {
			err = fmt.Errorf("output %s: this node held it and no longer has it: %w", ref, errInputLost)
		} else {
			err = n.fetchOutput(ctx, holder, ref)
		}
		if err == nil {
			return n.data.Open(ref)
		}
		if !errors.Is(err, errInputLost) {
			return nil, err
		}
		errs = append(errs, err)
	}
	return nil, errors.Join(errs...)
}

// fetchOutput copies an output from holder's Flight server.
func (n *Node) fetchOutput(ctx context.Context, holder string, ref dataplane.OutputRef) error {
	m, ok := n.gossip.member(holder)
	switch {
	case !ok:
		return fmt.Errorf("fetch %s: its holder %s is not a member any more: %w", ref, holder, errInputLost)
	case m.Status == statusDead || m.Status == statusLeft:
		return fmt.Errorf("fetch %s: its holder %s is %s: %w", ref, holder, m.Status, errInputLost)
	case m.Meta.Flight == "":
		return fmt.Errorf("fetch %s: node %s holds it but its Flight address is unknown", ref, holder)
	}
	_, err := n.data.FetchFlight(ctx, m.Meta.Flight, ref)
	// The holder does not answer: wait for gossip to call it dead (the
	// output is lost) or alive, and try again, for as long as verdictWait
	// allows. A holder killed and restarted at once never looks dead to
	// gossip, yet refuses connections until it is back. One that stays
	// unreachable counts as lost: its output is computed again.
	for deadline := time.Now().Add(verdictWait); status.Code(err) == codes.Unavailable; {
		if st := n.waitForVerdict(ctx, holder); st == statusDead || st == statusLeft {
			return fmt.Errorf("fetch %s: its holder %s is %s: %w", ref, holder, st, errInputLost)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("fetch %s: its holder %s has not answered for %s (%v): %w", ref, holder, verdictWait, err, errInputLost)
		}
		if m, ok = n.gossip.member(holder); !ok || m.Meta.Flight == "" {
			return fmt.Errorf("fetch %s: its holder %s left: %w", ref, holder, errInputLost)
		}
		_, err = n.data.FetchFlight(ctx, m.Meta.Flight, ref)
	}
	if err != nil {
		if errors.Is(err, dataplane.ErrOutputNotFound) {
			return fmt.Errorf("fetch %s: %w: %w", ref, errInputLost, err)
		}
		return err
	}
	n.log.Debug("fetched an output from its holder", "output", ref.String(), "holder", holder)
	return nil
}

// verdictWait bounds how long a fetch waits for gossip to decide about a
// holder that does not answer.
const verdictWait = 15 * time.Second

// waitForVerdict waits until gossip calls the member dead or gone, or
// still alive after a second (so gossip had time to notice a crash), and
// returns that status; at most verdictWait.
func (n *Node) waitForVerdict(ctx context.Context, name string) memberStatus {
	start := time.Now()
	for {
		m, ok := n.gossip.member(name)
		switch {
		case !ok:
			return statusLeft
		case m.Status == statusDead || m.Status == statusLeft:
			return m.Status
		case m.Status == statusAlive && time.Since(start) > time.Second:
			return statusAlive
		case time.Since(start) > verdictWait:
			return m.Status
		}
		select {
		case <-ctx.Done():
			return m.Status
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// outputMeta returns an output's metadata from the local replica.
func (n *Node) outputMeta(ref dataplane.OutputRef) (dag.OutputMeta, bool) {
	t, err := n.store.Task(ref.Run, ref.Task)
	if err != nil || t.Status != dag.TaskSucceeded {
		return dag.OutputMeta{}, false
	}
	for _, o := range t.Outputs {
		if o.Name == ref.Output {
			return o, true
		}
	}
	return dag.OutputMeta{}, false
}

// inlineOutput returns the metadata of an output kept inline in the local
// replica's state.
func (n *Node) inlineOutput(ref dataplane.OutputRef) (dag.OutputMeta, bool) {
	meta, ok := n.outputMeta(ref)
	return meta, ok && len(meta.Inline) > 0
}

// keyLocks hands out one lock per key, and forgets a key once nobody
// holds or waits for it, so that concurrent fetches of one output make
// one copy.
type keyLocks struct {
	mu sync.Mutex
	m  map[string]*keyLock
}

type keyLock struct {
	mu    sync.Mutex
	users int
}

// lock takes the key's lock and returns its release.
func (k *keyLocks) lock(key string) func() {
	k.mu.Lock()
	if k.m == nil {
		k.m = map[string]*keyLock{}
	}
	l := k.m[key]
	if l == nil {
		l = &keyLock{}
		k.m[key] = l
	}
	l.users++
	k.mu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		k.mu.Lock()
		if l.users--; l.users == 0 {
			delete(k.m, key)
		}
		k.mu.Unlock()
	}
}

// flightSource is what this node's Flight server serves: any output, as
// the API does (a client may DoGet from any node), copied first from its
// holder when this node has none. A node only ever fetches from the node
// the state names as holder, and serves itself as holder only from what it
// has, so requests cannot loop.
type flightSource struct{ n *Node }

func (s flightSource) OpenOutput(ctx context.Context, ref dataplane.OutputRef) (*dataplane.OutputFile, error) {
	return s.n.openOutput(ctx, ref)
}

func (s flightSource) OpenLocal(ref dataplane.OutputRef) (*dataplane.OutputFile, error) {
	if meta, ok := s.n.inlineOutput(ref); ok {
		return s.n.data.OpenInline(ref, meta)
	}
	return s.n.data.Open(ref)
}

func (s flightSource) Locate(ref dataplane.OutputRef) (dag.OutputMeta, []string, error) {
	if err := ref.Validate(); err != nil {
		return dag.OutputMeta{}, nil, err
	}
	meta, ok := s.n.outputMeta(ref)
	if !ok {
		return dag.OutputMeta{}, nil, fmt.Errorf("%w: %s", dataplane.ErrOutputNotFound, ref)
	}
	var holders []string
	if len(meta.Inline) > 0 {
		// In the state: every live node serves it; this one first.
		holders = append(holders, s.n.advertised(s.n.FlightAddr()))
		for _, m := range s.n.gossip.list() {
			if m.Name != s.n.cfg.Name && m.Status == statusAlive && m.Meta.Flight != "" {
				holders = append(holders, m.Meta.Flight)
			}
		}
	} else {
		for _, name := range append([]string{meta.Node}, meta.Replicas...) {
			if m, ok := s.n.gossip.member(name); ok && m.Meta.Flight != "" && m.Status == statusAlive {
				holders = append(holders, m.Meta.Flight)
			}
		}
	}
	return meta, holders, nil
}

// AcceptPut takes copies of an output while its producer's attempt is
// under way (the producer copies before it reports), after catching up
// with the leader when the local replica does not show the attempt yet;
// copies of a succeeded task's file output (a holder replacing copies
// lost with dead nodes, see repair.go); and copies of datasets being
// uploaded and of model files being registered, or repaired.
func (s flightSource) AcceptPut(ref dataplane.OutputRef) error {
	if err := ref.Validate(); err != nil {
		return err
	}
	if ref.Run == datasetsRun || ref.Run == modelsRun {
		return nil // a copy of a dataset or model file
	}
	underway := func() bool {
		t, err := s.n.store.Task(ref.Run, ref.Task)
		return err == nil && (t.Status == dag.TaskQueued || t.Status == dag.TaskRunning ||
			t.Status == dag.TaskSucceeded && hasFileOutput(t, ref.Output))
	}
	if underway() {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.n.ReadBarrier(ctx); err == nil && underway() {
		return nil
	}
	return fmt.Errorf("task %s/%s is not running: only its producer may send copies", ref.Run, ref.Task)
}

// Store is the node's output store.
func (s flightSource) Store() *dataplane.Store { return s.n.data }

func (s flightSource) RunOutputs(run string) ([]dataplane.OutputRef, error) {
	r, err := s.n.store.Run(run)
	if err != nil {
		return nil, err
	}
	var refs []dataplane.OutputRef
	for _, t := range r.Tasks {
		if t.Status != dag.TaskSucceeded {
			continue
		}
		for _, o := range t.Outputs {
			refs = append(refs, dataplane.OutputRef{Run: run, Task: t.Name, Output: o.Name})
		}
	}
	return refs, nil
}
