package dag

import (
	"slices"
	"testing"
	"time"
)

func TestTakeChangedListsEveryTouchedTask(t *testing.T) {
	p := &Pipeline{Name: "p", Tasks: []Task{
		{Name: "a"}, {Name: "b", Needs: []Need{{Task: "a"}}}, {Name: "c", Needs: []Need{{Task: "b"}}}, {Name: "d"},
	}}
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	r := NewRun("r", p, 1, nil, at)
	if got := r.TakeChanged(); len(got) != 0 {
		t.Fatalf("a new run reports changes %v", got)
	}
	if _, err := r.Assign("a", "n1", at); err != nil {
		t.Fatal(err)
	}
	if err := r.Start("a", 1, at); err != nil {
		t.Fatal(err)
	}
	if got := r.TakeChanged(); !slices.Equal(got, []int{0}) {
		t.Fatalf("changed after assign and start = %v, want [0]", got)
	}
	// A failure skips b and c downstream: all three changed.
	if err := r.Finish("a", 1, TaskResult{Error: "boom"}, at); err != nil {
		t.Fatal(err)
	}
	if got := r.TakeChanged(); !slices.Equal(got, []int{0, 1, 2}) {
		t.Fatalf("changed after a failure = %v, want [0 1 2]", got)
	}
	// A rejected transition changes nothing.
	if _, err := r.Assign("b", "n1", at); err == nil {
		t.Fatal("assigned a skipped task")
	}
	if got := r.TakeChanged(); len(got) != 0 {
		t.Fatalf("a rejected transition reports %v", got)
	}
	r.Fail("stop", at)
	if got := r.TakeChanged(); !slices.Equal(got, []int{3}) {
		t.Fatalf("changed by Fail = %v, want [3]", got)
	}
}

func TestFinishTakesTheReportedStartTime(t *testing.T) {
	p := &Pipeline{Name: "p", Tasks: []Task{{Name: "a"}, {Name: "b"}}}
	at := time.Date(2025, 1, 1, 0, 0, 10, 0, time.UTC)
	r := NewRun("r", p, 1, nil, at)
	for _, name := range []string{"a", "b"} {
		if _, err := r.Assign(name, "n1", at); err != nil {
			t.Fatal(err)
		}
	}
	began := at.Add(-time.Second)
	if err := r.Finish("a", 1, TaskResult{StartedAt: &began}, at); err != nil {
		t.Fatal(err)
	}
	if got := r.Task("a").StartedAt; got == nil || !got.Equal(began) {
		t.Fatalf("a started at %v, want the reported %v", got, began)
	}
	// A start time after the finish (a skewed clock) is not believed.
	future := at.Add(time.Hour)
	if err := r.Finish("b", 1, TaskResult{StartedAt: &future}, at); err != nil {
		t.Fatal(err)
	}
	if got := r.Task("b").StartedAt; got == nil || !got.Equal(at) {
		t.Fatalf("b started at %v, want the finish time %v", got, at)
	}
}
