package node

import (
	"context"

	"github.com/forged-dev/forged/consensus"
)

// RetryRun runs a failed or cancelled run again from where it failed:
// the tasks that did not succeed and everything downstream of them, each
// with the attempts its spec allows; succeeded tasks keep their outputs.
func (n *Node) RetryRun(ctx context.Context, id string) error {
	run, err := n.store.RunHeader(id)
	if err != nil {
		return err
	}
	p, _, err := n.PipelineGraph(run.Pipeline, run.Version)
	if err != nil {
		return err
	}
	budget := make(map[string]int, len(p.Tasks))
	for _, t := range p.Tasks {
		budget[t.Name] = t.Retries + 1
	}
	_, err = n.apply(ctx, &consensus.RetryRun{RunID: id, Budget: budget})
	return err
}
