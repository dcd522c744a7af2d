package consensus

import (
	"time"

	"github.com/forged-dev/forged/dag"
)

// Placement, carried by AssignTasks or ReportTasks, asks every replica to
// assign ready tasks to these nodes once the command's own items are
// applied. The decision is made by Plan from the replicated state and the
// command alone, so it is the same everywhere, and a finished task's
// successor is queued in the same log entry that records the finish.
type Placement struct {
	Nodes []NodeCapacity `json:"nodes"`
}

// NodeCapacity is a node that may take tasks: its slots, counting those
// already busy, and its labels for constraints.
type NodeCapacity struct {
	Name   string            `json:"name"`
	Slots  int               `json:"slots"`
	Labels map[string]string `json:"labels,omitempty"`
}

// maxPlacementNodes bounds the node list of one placement.
const maxPlacementNodes = 4096

// Plan decides where ready tasks go at time at. Each node's free slots are
// its Slots less the attempts queued or running on it. Runs are taken in
// order (oldest first) and each run's tasks in spec order; a task goes to
// the allowed node holding most of its inputs, then the one with most free
// slots, then the first listed. Tasks that fit nowhere now wait. Plan is
// deterministic and does not change its arguments.
func Plan(runs []*ActiveRun, nodes []NodeCapacity, at time.Time) []Assignment {
	free := make(map[string]int, len(nodes))
	for _, n := range nodes {
		if n.Name != "" && n.Slots > 0 {
			if _, dup := free[n.Name]; !dup {
				free[n.Name] = n.Slots
			}
		}
	}
	for _, r := range runs {
		for _, a := range r.Attempts {
			if _, ok := free[a.Node]; ok {
				free[a.Node]--
			}
		}
	}
	total := 0
	for _, f := range free {
		total += max(f, 0)
	}
	var out []Assignment
	for _, r := range runs {
		for _, t := range r.Ready {
			if total <= 0 {
				return out
			}
			if !t.NotBefore.IsZero() && at.Before(t.NotBefore) {
				continue
			}
			node := pickNode(nodes, free, t.Constraints, t.Inputs)
			if node == "" {
				continue
			}
			free[node]--
			total--
			out = append(out, Assignment{Run: r.ID, Task: t.Name, Node: node})
		}
	}
	return out
}

// pickNode chooses among the nodes with a free slot that c allows: most
// inputs held, then most free slots, then list order. Empty when none.
func pickNode(nodes []NodeCapacity, free map[string]int, c dag.Constraints, inputs []string) string {
	best, bestHeld, bestFree := "", -1, 0
	for _, n := range nodes {
		f := free[n.Name]
		if f <= 0 || !c.Allows(n.Name, n.Labels) {
			continue
		}
		held := 0
		for _, in := range inputs {
			if in == n.Name {
				held++
			}
		}
		if held > bestHeld || (held == bestHeld && f > bestFree) {
			best, bestHeld, bestFree = n.Name, held, f
		}
	}
	return best
}
