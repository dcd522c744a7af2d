package node

import (
	"slices"
	"testing"
	"time"

	"github.com/forged-dev/forged/dag"
)

// The repair plan: only the live holder with the lowest name acts; a
// holder dead or gone for less than the grace neither counts nor is
// replaced yet; one dead or gone for longer is replaced; inline data and
// files this node does not hold are left alone.
func TestRepairPlan(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	const grace = 30 * time.Second
	members := map[string]memberState{
		"n1":   {Name: "n1", Status: statusAlive},
		"n2":   {Name: "n2", Status: statusAlive},
		"n3":   {Name: "n3", Status: statusSuspect},
		"old":  {Name: "old", Status: statusDead, Since: now.Add(-time.Minute)},
		"new":  {Name: "new", Status: statusDead, Since: now.Add(-time.Second)},
		"gone": {Name: "gone", Status: statusLeft, Since: now.Add(-time.Hour)},
	}
	plan := func(self string, started time.Time, want int, node string, replicas ...string) (int, []string) {
		r := &repairer{n: &Node{cfg: Config{Name: self}}, grace: grace, started: started}
		it := &repairItem{meta: dag.OutputMeta{Name: "out", Node: node, Replicas: replicas}, want: want}
		need, _, lost := r.plan(it, members, now)
		return need, lost
	}
	long := now.Add(-time.Hour)
	for _, c := range []struct {
		name     string
		self     string
		started  time.Time
		want     int
		node     string
		replicas []string
		need     int
		lost     []string
	}{
		{"all live", "n1", long, 2, "n1", []string{"n2"}, 0, nil},
		{"dead past the grace, lowest live acts", "n2", long, 2, "old", []string{"n2"}, 1, []string{"old"}},
		{"dead within the grace", "n2", long, 2, "new", []string{"n2"}, 0, nil},
		{"left long ago", "n1", long, 2, "gone", []string{"n1"}, 1, []string{"gone"}},
		{"not the lowest live holder", "n2", long, 3, "n1", []string{"n2", "old"}, 0, []string{"old"}},
		{"the lowest live holder", "n1", long, 3, "n2", []string{"old", "n1"}, 1, []string{"old"}},
		{"a suspect still counts", "n1", long, 3, "n1", []string{"n3", "old"}, 1, []string{"old"}},
		{"two lost", "n2", long, 3, "old", []string{"gone", "n2"}, 2, []string{"old", "gone"}},
		{"one lost, one pending", "n2", long, 3, "old", []string{"new", "n2"}, 1, []string{"old"}},
		{"unknown, gossip just started", "n1", now.Add(-time.Second), 2, "n1", []string{"stranger"}, 0, nil},
		{"unknown for longer than the grace", "n1", long, 2, "n1", []string{"stranger"}, 1, []string{"stranger"}},
		{"not a holder", "n1", long, 2, "old", []string{"n2"}, 0, nil},
		{"fewer than wanted from the start", "n1", long, 2, "n1", nil, 1, nil},
	} {
		need, lost := plan(c.self, c.started, c.want, c.node, c.replicas...)
		if need != c.need || !slices.Equal(lost, c.lost) {
			t.Errorf("%s: need %d, lost %v; want %d, %v", c.name, need, lost, c.need, c.lost)
		}
	}
	// Inline data lives in the state: nothing to copy.
	r := &repairer{n: &Node{cfg: Config{Name: "n1"}}, grace: grace, started: long}
	it := &repairItem{meta: dag.OutputMeta{Name: "out", Node: "old", Replicas: []string{"n1"}, Inline: []byte("x")}, want: 2}
	if need, _, _ := r.plan(it, members, now); need != 0 {
		t.Errorf("inline: need %d", need)
	}
}
