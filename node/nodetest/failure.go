package nodetest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/forged-dev/forged/node"
)

// portRaceAttempts bounds how often OpenAll starts over after losing the
// first node's gossip port.
const portRaceAttempts = 3

// OpenCluster starts n nodes like MakeCluster, after tweak (if not nil)
// adjusts each config.
func OpenCluster(t testing.TB, n int, tweak func(*node.Config)) []*node.Node {
	t.Helper()
	cfgs := ClusterConfigs(t, n)
	if tweak != nil {
		for i := range cfgs {
			tweak(&cfgs[i])
		}
	}
	return OpenAll(t, cfgs)
}

// openEach opens every config concurrently. The first failure stops the
// other opens (which would wait for a cluster that cannot form); then it
// closes the nodes that did open and returns the first error. A node
// whose gossip join is in flight takes up to memberlist's TCP timeout
// (10s) to stop, so a start-over costs that much.
func openEach(cfgs []node.Config) ([]*node.Node, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	nodes := make([]*node.Node, len(cfgs))
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	for i, cfg := range cfgs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			if nodes[i], err = node.Open(ctx, cfg); err != nil {
				once.Do(func() {
					first = fmt.Errorf("open %s: %w", cfg.Name, err)
					cancel()
				})
			}
		}()
	}
	wg.Wait()
	err := first
	if err != nil {
		for _, nd := range nodes {
			if nd != nil {
				nd.Close()
			}
		}
		return nil, err
	}
	return nodes, nil
}

// isPortTaken tells whether err comes from binding a port another socket
// holds. The gossip library flattens the error to text, so the text is
// what is checked.
func isPortTaken(err error) bool {
	return strings.Contains(err.Error(), "address already in use")
}
