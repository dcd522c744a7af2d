package consensus_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/forged-dev/forged/consensus"
	"github.com/forged-dev/forged/consensus/consensustest"
)

// A state file left open by an earlier boot (the marker holds another boot
// ID) is set aside and rebuilt from the raft log; one left by a process
// that died in this boot is kept.
func TestStateRebuiltAfterTheMachineWentDown(t *testing.T) {
	dir := t.TempDir()
	s := consensustest.Reopen(t, dir)
	submit(t, s, "r1")
	submit(t, s, "r2")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	state := consensus.StatePath(dir)
	if _, err := os.Stat(state + ".open"); !os.IsNotExist(err) {
		t.Fatalf("a clean close left the marker: %v", err)
	}

	// Simulate a machine that lost power with the state open.
	if err := os.WriteFile(state+".open", []byte("another-boot"), 0o600); err != nil {
		t.Fatal(err)
	}
	s = consensustest.Reopen(t, dir)
	aside, _ := filepath.Glob(state + ".unclean-*")
	if len(aside) != 1 {
		t.Fatalf("state files set aside: %v, want one", aside)
	}
	wantRuns(t, s, 2) // rebuilt by replaying the raft log
	if _, commands := consensus.FSMCounters(s); commands == 0 {
		t.Fatal("nothing was replayed into the rebuilt state")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// A process crash in this boot: the marker names this boot; the file
	// is kept and nothing is replayed.
	boot, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		t.Skip("no boot ID on this system; the keep path needs one")
	}
	if err := os.WriteFile(state+".open", boot, 0o600); err != nil {
		t.Fatal(err)
	}
	s = consensustest.Reopen(t, dir)
	wantRuns(t, s, 2)
	if _, commands := consensus.FSMCounters(s); commands != 0 {
		t.Fatalf("%d commands replayed into a whole state file", commands)
	}
	if aside, _ := filepath.Glob(state + ".unclean-*"); len(aside) != 1 {
		t.Fatalf("a whole state file was set aside: %v", aside)
	}
}

// WaitForApplied returns for an index raft keeps from the FSM, such as a
// barrier, once everything before it is applied.
func TestWaitForAppliedBarrierIndex(t *testing.T) {
	s := consensustest.OpenStore(t)
	submit(t, s, "r1")
	if err := s.Barrier(ctx(t)); err != nil {
		t.Fatal(err)
	}
	idx := s.Stats().LastLogIndex // the barrier entry
	if idx <= consensus.FSMApplied(s) {
		t.Fatalf("the barrier at %d is not past the FSM's index %d; the test proves nothing", idx, consensus.FSMApplied(s))
	}
	c, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := s.WaitForApplied(c, idx); err != nil {
		t.Fatalf("wait for the barrier's index: %v", err)
	}
}
