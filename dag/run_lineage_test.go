package dag

import (
	"testing"
	"time"
)

func TestLostInputsRunTheProducerAgain(t *testing.T) {
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	p := &Pipeline{Name: "p", Tasks: []Task{
		{Name: "make"}, {Name: "use", Needs: []Need{{Task: "make"}}}, {Name: "also", Needs: []Need{{Task: "make"}}},
	}}
	r := NewRun("r", p, 1, nil, at)
	mustAssign := func(task, node string) int {
		t.Helper()
		n, err := r.Assign(task, node, at)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	mustAssign("make", "n2")
	if err := r.Finish("make", 1, TaskResult{Outputs: []OutputMeta{{Name: "out", Node: "n2"}}}, at); err != nil {
		t.Fatal(err)
	}
	mustAssign("use", "n1")
	mustAssign("also", "n3")

	// n2 died with make's output: use finds it lost.
	if err := r.Finish("use", 1, TaskResult{Error: "input make.out lost", LostInputs: []string{"make"}}, at); err != nil {
		t.Fatal(err)
	}
	mk, use := r.Task("make"), r.Task("use")
	if mk.Status != TaskRetrying || len(mk.Outputs) != 0 || mk.MaxAttempts != 2 || use.Status != TaskPending || use.MaxAttempts != 2 {
		t.Fatalf("after the loss: make %s (outputs %d, max %d), use %s (max %d)", mk.Status, len(mk.Outputs), mk.MaxAttempts, use.Status, use.MaxAttempts)
	}
	if got := r.Ready(at); len(got) != 1 || got[0] != "make" {
		t.Fatalf("ready = %v, want make only", got)
	}
	// A second consumer that finds it lost too just waits for the rerun.
	if err := r.Finish("also", 1, TaskResult{Error: "lost", LostInputs: []string{"make"}}, at); err != nil {
		t.Fatal(err)
	}
	if a := r.Task("also"); a.Status != TaskPending || r.Task("make").MaxAttempts != 2 {
		t.Fatalf("second consumer: also %s, make max %d", a.Status, r.Task("make").MaxAttempts)
	}
	mustAssign("make", "n1")
	if err := r.Finish("make", 2, TaskResult{Outputs: []OutputMeta{{Name: "out", Node: "n1"}}}, at); err != nil {
		t.Fatal(err)
	}
	if n := mustAssign("use", "n1"); n != 2 {
		t.Fatalf("use's attempt = %d, want 2", n)
	}
	if err := r.Finish("use", 2, TaskResult{}, at); err != nil {
		t.Fatal(err)
	}
	mustAssign("also", "n3")
	if err := r.Finish("also", 2, TaskResult{}, at); err != nil {
		t.Fatal(err)
	}
	if r.Status != RunSucceeded {
		t.Fatalf("run %s", r.Status)
	}

	// A lost input that is not an upstream task is an ordinary failure.
	r2 := NewRun("r2", p, 1, nil, at)
	mustAssign2 := func(task string) {
		if _, err := r2.Assign(task, "n1", at); err != nil {
			t.Fatal(err)
		}
	}
	mustAssign2("make")
	if err := r2.Finish("make", 1, TaskResult{Error: "x", LostInputs: []string{"use"}}, at); err != nil {
		t.Fatal(err)
	}
	if r2.Task("make").Status != TaskFailed {
		t.Fatalf("a bogus lost input gave %s, want failed", r2.Task("make").Status)
	}
}

func TestReplicasAreParsedAndBounded(t *testing.T) {
	p, err := Parse([]byte("name: p\ntasks:\n  - {name: a, op: noop, replicas: 3}\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if p.Tasks[0].Replicas != 3 {
		t.Fatalf("replicas = %d", p.Tasks[0].Replicas)
	}
	for _, bad := range []string{"0", "8", "two"} {
		if _, err := Parse([]byte("name: p\ntasks:\n  - {name: a, op: noop, replicas: "+bad+"}\n"), nil); err == nil {
			t.Fatalf("replicas: %s was accepted", bad)
		}
	}
}
