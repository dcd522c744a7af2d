package node_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/forged-dev/forged/node/nodetest"
)

func TestZZWideTiming(t *testing.T) {
	cfgs := nodetest.ClusterConfigs(t, 3)
	for i := range cfgs {
		cfgs[i].Slots = 128
	}
	nodes := nodetest.OpenAll(t, cfgs)
	leader := nodetest.WaitForLeader(t, nodes)
	spec := chainSpec(2000, 1)
	for iter := 0; iter < 4; iter++ {
		start := time.Now()
		id, err := leader.SubmitSpec(context.Background(), []byte(spec), nil)
		if err != nil {
			t.Fatal(err)
		}
		r := waitLocal(t, leader, id)
		var firstFinish, lastQueued time.Time
		perNode := map[string]int{}
		for _, tk := range r.Tasks {
			perNode[tk.Node]++
			if firstFinish.IsZero() || tk.FinishedAt.Before(firstFinish) {
				firstFinish = *tk.FinishedAt
			}
			if tk.QueuedAt.After(lastQueued) {
				lastQueued = *tk.QueuedAt
			}
		}
		fmt.Printf("iter %d total %v firstFinish +%v lastQueued +%v end +%v nodes %v leader %s\n", iter, time.Since(start).Round(time.Millisecond),
			firstFinish.Sub(r.SubmittedAt).Round(time.Millisecond), lastQueued.Sub(r.SubmittedAt).Round(time.Millisecond), r.FinishedAt.Sub(r.SubmittedAt).Round(time.Millisecond), perNode, leader.Name())
	}
}
