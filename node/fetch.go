package node

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/forged-dev/forged/dataplane"
)

// fetchLocks makes concurrent attempts that need the same remote output
// fetch it once.
var fetchLocks sync.Map // output ref string -> *sync.Mutex

// openInput opens an upstream output, pulling it first from the node that
// holds it when this node does not. The copy streams batch by batch into
// the local store, so later readers here find it.
func (n *Node) openInput(ctx context.Context, ref dataplane.OutputRef) (*dataplane.OutputFile, error) {
	if meta, ok := n.inlineOutput(ref); ok {
		return n.data.OpenInline(ref, meta)
	}
	f, err := n.data.Open(ref)
	if !errors.Is(err, dataplane.ErrOutputNotFound) {
		return f, err
	}
	holder := ""
	if t, err := n.store.Task(ref.Run, ref.Task); err == nil {
		for _, o := range t.Outputs {
			if o.Name == ref.Output {
				holder = o.Node
			}
		}
	}
	if holder == "" || holder == n.cfg.Name {
		return nil, fmt.Errorf("output %s is not on this node and no other node holds it: %w", ref, dataplane.ErrOutputNotFound)
	}
	mu, _ := fetchLocks.LoadOrStore(ref.String(), &sync.Mutex{})
	mu.(*sync.Mutex).Lock()
	defer mu.(*sync.Mutex).Unlock()
	if f, err := n.data.Open(ref); err == nil {
		return f, nil
	}
	if err := n.fetchOutput(ctx, holder, ref); err != nil {
		return nil, err
	}
	return n.data.Open(ref)
}

// fetchOutput copies an output from holder's API as an Arrow IPC stream.
func (n *Node) fetchOutput(ctx context.Context, holder string, ref dataplane.OutputRef) error {
	m, ok := n.gossip.member(holder)
	if !ok || m.Meta.HTTP == "" {
		return fmt.Errorf("fetch %s: node %s holds it but its API address is unknown", ref, holder)
	}
	if m.Status == statusDead || m.Status == statusLeft {
		return fmt.Errorf("fetch %s: node %s that holds it is %s", ref, holder, m.Status)
	}
	// consistent=true: the holder may not yet have applied the entry that
	// finished the producer (the consumer was placed in that same entry).
	u := fmt.Sprintf("http://%s/api/v1/runs/%s/tasks/%s/outputs/%s?format=arrow&consistent=true", m.Meta.HTTP,
		url.PathEscape(ref.Run), url.PathEscape(ref.Task), url.PathEscape(ref.Output))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := n.httpClient.Do(req)
	if err != nil {
		return fmt.Errorf("fetch %s from %s: %w", ref, holder, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("fetch %s from %s: HTTP %s", ref, holder, resp.Status)
	}
	rr, err := dataplane.Decode(resp.Body, memory.DefaultAllocator)
	if err != nil {
		return fmt.Errorf("fetch %s from %s: %w", ref, holder, err)
	}
	defer rr.Release()
	w, err := n.data.Create(ref, rr.Schema())
	if err != nil {
		return err
	}
	defer w.Abort()
	for rr.Next() {
		if err := w.Write(rr.RecordBatch()); err != nil {
			return fmt.Errorf("fetch %s: store: %w", ref, err)
		}
	}
	if err := rr.Err(); err != nil {
		return fmt.Errorf("fetch %s from %s: %w", ref, holder, err)
	}
	if _, err := w.Commit(); err != nil {
		return fmt.Errorf("fetch %s: commit: %w", ref, err)
	}
	n.log.Debug("fetched an input from its holder", "output", ref.String(), "holder", holder)
	return nil
}
