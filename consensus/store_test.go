package consensus_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/forged-dev/forged/consensus"
	"github.com/forged-dev/forged/consensus/consensustest"
	"github.com/forged-dev/forged/dag"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

var chain = &dag.Pipeline{Name: "chain", Tasks: []dag.Task{
	{Name: "a", Op: "noop", Outputs: []string{"out"}},
	{Name: "b", Op: "noop", Outputs: []string{"out"}, Needs: []dag.Need{{Task: "a", Output: "out"}}},
}}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func mustApply(t *testing.T, s *consensus.Store, cmd consensus.Command) *consensus.Result {
	t.Helper()
	res, err := s.Apply(ctx(t), cmd)
	if err != nil {
		t.Fatalf("apply %s: %v", cmd.Type(), err)
	}
	if res.Error != nil {
		t.Fatalf("apply %s rejected: %v", cmd.Type(), res.Error)
	}
	return res
}

func submit(t *testing.T, s *consensus.Store, id string) {
	t.Helper()
	mustApply(t, s, &consensus.SubmitRun{
		Run:      dag.NewRun(id, chain, 0, nil, t0),
		Pipeline: &consensus.PutPipeline{Name: "chain", Format: "yaml", Source: "name: chain", At: t0},
	})
}

func wantRuns(t *testing.T, s *consensus.Store, want int) {
	t.Helper()
	runs, _, err := s.Runs(consensus.RunQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != want {
		t.Fatalf("%d runs, want %d", len(runs), want)
	}
}

func TestStoreApplyAndRead(t *testing.T) {
	s := consensustest.OpenStore(t)
	if !s.IsLeader() {
		t.Fatal("not leader")
	}
	if id, addr := s.Leader(); id != "node1" || addr != s.Addr() {
		t.Fatalf("leader = %s at %s, store at %s", id, addr, s.Addr())
	}
	changes, unsubscribe := s.Subscribe()
	defer unsubscribe()

	submit(t, s, "r1")
	select {
	case <-changes:
	case <-time.After(5 * time.Second):
		t.Fatal("no notification after apply")
	}
	res := mustApply(t, s, &consensus.AssignTasks{At: t0, Assignments: []consensus.Assignment{
		{Run: "r1", Task: "a", Node: "node1"}, {Run: "r1", Task: "b", Node: "node1"},
	}})
	if res.Items[0].Attempt != 1 || res.Items[1].Error == nil || res.Items[1].Error.Code != consensus.CodeConflict {
		t.Fatalf("assign items = %+v", res.Items)
	}
	// A business rejection is a result, not an error.
	res, err := s.Apply(ctx(t), &consensus.CancelRun{RunID: "nope", At: t0})
	if err != nil || res.Error == nil || res.Error.Code != consensus.CodeNotFound {
		t.Fatalf("cancel unknown run: %+v, %v", res, err)
	}

	run, err := s.Run("r1")
	if err != nil || run.Task("a").Status != dag.TaskQueued {
		t.Fatalf("run = %+v, %v", run, err)
	}
	if _, err := s.Run("nope"); !errors.Is(err, consensus.ErrNotFound) {
		t.Fatalf("missing run: %v", err)
	}
	if active := s.Active(); len(active) != 1 {
		t.Fatalf("active = %v", active)
	}
	pv, err := s.Pipeline("chain", 0)
	if err != nil || pv.Version != 1 || pv.Source != "name: chain" {
		t.Fatalf("pipeline = %+v, %v", pv, err)
	}
	if _, err := s.Pipeline("nope", 0); !errors.Is(err, consensus.ErrNotFound) {
		t.Fatalf("missing pipeline: %v", err)
	}
	sums, err := s.Pipelines()
	if err != nil || len(sums) != 1 || sums[0].Runs != 1 {
		t.Fatalf("pipelines = %+v, %v", sums, err)
	}
	versions, err := s.PipelineVersions("chain")
	if err != nil || len(versions) != 1 {
		t.Fatalf("versions = %+v, %v", versions, err)
	}
	st := s.Stats()
	if st.State != "leader" || st.LeaderID != "node1" || st.AppliedIndex < 3 || st.CommitIndex < st.AppliedIndex-1 ||
		st.Term == 0 || st.LastLogIndex < st.AppliedIndex {
		t.Fatalf("stats = %+v", st)
	}
	servers, err := s.Configuration()
	if err != nil || len(servers) != 1 || !servers[0].Voter || servers[0].Addr != s.Addr() {
		t.Fatalf("configuration = %+v, %v", servers, err)
	}
}

func TestStoreConcurrentApplies(t *testing.T) {
	s := consensustest.OpenStore(t)
	mustApply(t, s, &consensus.PutPipeline{Name: "chain", Source: "x", At: t0})
	const n = 40
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := string(rune('a'+i/26)) + string(rune('a'+i%26))
			res, err := s.Apply(context.Background(), &consensus.SubmitRun{Run: dag.NewRun(id, chain, 1, nil, t0)})
			if err == nil && res.Error != nil {
				err = res.Error
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	wantRuns(t, s, n)
	commits, commands := consensus.FSMCounters(s)
	t.Logf("%d commands in %d transactions", commands, commits)
}

func TestStoreReopen(t *testing.T) {
	dir := t.TempDir()
	s := consensustest.Reopen(t, dir)
	oldAddr := s.Addr()
	submit(t, s, "r1")
	submit(t, s, "r2")
	applied := consensus.FSMApplied(s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Port 0 again: a new address, which the single-voter configuration
	// is recovered with.
	s = consensustest.Reopen(t, dir)
	if s.Addr() == oldAddr {
		t.Logf("the new store got the old address %s again", oldAddr)
	}
	servers, err := s.Configuration()
	if err != nil || len(servers) != 1 || servers[0].Addr != s.Addr() || !servers[0].Voter {
		t.Fatalf("configuration after restart = %+v, %v (store at %s)", servers, err, s.Addr())
	}
	wantRuns(t, s, 2)
	if _, commands := consensus.FSMCounters(s); commands != 0 {
		t.Fatalf("%d commands applied again on restart", commands)
	}
	if got := consensus.FSMApplied(s); got < applied {
		t.Fatalf("applied index went back from %d to %d", applied, got)
	}
	submit(t, s, "r3")
	wantRuns(t, s, 3)
	if _, commands := consensus.FSMCounters(s); commands != 1 {
		t.Fatalf("%d commands applied after restart, want 1", commands)
	}
	if s.Stats().AppliedIndex <= applied {
		t.Fatalf("applied index %d did not move past %d", s.Stats().AppliedIndex, applied)
	}
}

func TestStoreReopenFromSnapshot(t *testing.T) {
	dir := t.TempDir()
	s := consensustest.Reopen(t, dir)
	submit(t, s, "r1")
	if err := s.Snapshot(); err != nil {
		t.Fatal(err)
	}
	submit(t, s, "r2")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// State file ahead of the snapshot: kept, log replay skipped.
	s = consensustest.Reopen(t, dir)
	wantRuns(t, s, 2)
	if _, commands := consensus.FSMCounters(s); commands != 0 {
		t.Fatalf("%d commands applied again on restart", commands)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// State file lost: rebuilt from the snapshot and the log after it.
	if err := os.Remove(filepath.Join(dir, "state.db")); err != nil {
		t.Fatal(err)
	}
	s = consensustest.Reopen(t, dir)
	wantRuns(t, s, 2)
	submit(t, s, "r3")
	wantRuns(t, s, 3)
}

// TestSnapshotInstallOnFollower sends the leader's snapshot to a new
// member whose log cannot be caught up entry by entry.
func TestSnapshotInstallOnFollower(t *testing.T) {
	cfg1 := consensustest.Config(t, t.TempDir())
	cfg1.Timing.TrailingLogs = 1
	leader := consensustest.OpenConfig(t, cfg1)
	for _, id := range []string{"r1", "r2", "r3"} {
		submit(t, leader, id)
	}
	if err := leader.Snapshot(); err != nil {
		t.Fatal(err)
	}

	cfg2 := consensustest.Config(t, t.TempDir())
	cfg2.NodeID, cfg2.Bootstrap = "node2", false
	follower := consensustest.OpenConfig(t, cfg2)
	if err := leader.AddVoter(ctx(t), "node2", follower.Addr()); err != nil {
		t.Fatal(err)
	}
	if err := follower.WaitForLeader(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if err := follower.Barrier(ctx(t)); err != nil {
		t.Fatal(err)
	}
	// The snapshot brings the first three runs.
	waitFor(t, follower, func() bool {
		_, err := follower.Run("r3")
		return err == nil
	})
	wantRuns(t, follower, 3)
	// A follower learns of a commit with the next append or heartbeat.
	submit(t, leader, "r4")
	waitFor(t, follower, func() bool {
		_, err := follower.Run("r4")
		return err == nil
	})
	if id, _ := follower.Leader(); id != "node1" {
		t.Fatalf("follower sees leader %q", id)
	}
	servers, err := follower.Configuration()
	if err != nil || len(servers) != 2 {
		t.Fatalf("configuration = %+v, %v", servers, err)
	}
	if _, err := follower.Apply(ctx(t), &consensus.CancelRun{RunID: "r1"}); !errors.Is(err, consensus.ErrNotLeader) {
		t.Fatalf("apply on follower: %v", err)
	}
	if err := leader.RemoveServer(ctx(t), "node2"); err != nil {
		t.Fatal(err)
	}
}

// waitFor waits for cond, checking after every change s applies.
func waitFor(t *testing.T, s *consensus.Store, cond func() bool) {
	t.Helper()
	changes, unsubscribe := s.Subscribe()
	defer unsubscribe()
	deadline := time.After(10 * time.Second)
	for !cond() {
		select {
		case <-changes:
		case <-deadline:
			t.Fatal("condition not met in time")
		}
	}
}

func TestStoreCloseTwice(t *testing.T) {
	s := consensustest.OpenStore(t)
	submit(t, s, "r1")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	if _, err := s.Apply(ctx(t), &consensus.CancelRun{RunID: "r1"}); !errors.Is(err, consensus.ErrClosed) {
		t.Fatalf("apply after close: %v", err)
	}
	if _, err := s.Run("r1"); !errors.Is(err, consensus.ErrClosed) {
		t.Fatalf("read after close: %v", err)
	}
	if err := s.Barrier(ctx(t)); !errors.Is(err, consensus.ErrClosed) {
		t.Fatalf("barrier after close: %v", err)
	}
	if err := s.WaitForLeader(ctx(t)); !errors.Is(err, consensus.ErrClosed) {
		t.Fatalf("wait for leader after close: %v", err)
	}
	if st := s.Stats(); st.State != "shutdown" {
		t.Fatalf("state after close = %s", st.State)
	}
}

func TestApplyHonoursContext(t *testing.T) {
	s := consensustest.OpenStore(t)
	c, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Apply(c, &consensus.PutPipeline{Name: "x", Source: "x"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("apply with a cancelled context: %v", err)
	}
	c, cancel = context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	if _, err := s.Apply(c, &consensus.PutPipeline{Name: "x", Source: "x"}); !errors.Is(err, consensus.ErrTimeout) {
		t.Fatalf("apply past the deadline: %v", err)
	}
}

func TestOpenErrors(t *testing.T) {
	good := consensustest.Config(t, t.TempDir())
	for name, mod := range map[string]func(*consensus.Config){
		"no id":            func(c *consensus.Config) { c.NodeID = "" },
		"no dir":           func(c *consensus.Config) { c.Dir = "" },
		"bad bind":         func(c *consensus.Config) { c.BindAddr = "nope" },
		"bad advertise":    func(c *consensus.Config) { c.AdvertiseAddr = "0.0.0.0:7000" },
		"advertise port 0": func(c *consensus.Config) { c.AdvertiseAddr = "127.0.0.1:0" },
		"negative timeout": func(c *consensus.Config) { c.ApplyTimeout = -1 },
	} {
		cfg := good
		mod(&cfg)
		if err := cfg.Validate(); err == nil {
			t.Errorf("%s: valid", name)
		}
		if _, err := consensus.Open(cfg); err == nil {
			t.Errorf("%s: opened", name)
		}
	}
	// A second store on the same directory is refused, not hung.
	s := consensustest.Reopen(t, good.Dir)
	if _, err := consensus.Open(good); err == nil {
		t.Fatal("opened a directory in use")
	}
	// The failed open left the first store working.
	submit(t, s, "r1")
}
