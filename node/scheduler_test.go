package node

import (
	"strings"
	"testing"

	"github.com/forged-dev/forged/consensus"
)

func TestCapacitiesPutTheLeaderFirst(t *testing.T) {
	members := []member{{Name: "c", Slots: 2}, {Name: "a", Slots: 2}, {Name: "leader", Slots: 2}, {Name: "b", Slots: 2}}
	got := capacities(members, "leader")
	var names []string
	for _, c := range got {
		names = append(names, c.Name)
	}
	if want := "leader a b c"; strings.Join(names, " ") != want {
		t.Fatalf("order = %v, want %s", names, want)
	}
	// With equal room, a task with no inputs goes to the leader.
	runs := []*consensus.ActiveRun{{ID: "r", Ready: []consensus.ReadyTask{{Name: "t"}}}}
	if a := consensus.Plan(runs, got, now()); len(a) != 1 || a[0].Node != "leader" {
		t.Fatalf("placed %+v, want the leader", a)
	}
}
