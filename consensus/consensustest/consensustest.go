// Package consensustest opens real consensus stores for other packages'
// tests: real raft over TCP on 127.0.0.1 with port 0, real bbolt files in
// t.TempDir(), short raft timeouts, logs routed to t.Log, and Close
// registered with t.Cleanup. Production code never imports it.
package consensustest

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/forged-dev/forged/consensus"
)

// LeaderTimeout bounds how long the helpers wait for an election; it is
// generous because the race detector on a busy machine slows raft down.
const LeaderTimeout = 10 * time.Second

// Config returns a store config for tests: node "node1" in dir on
// 127.0.0.1:0, bootstrapping, with timeouts short enough to elect in a few
// hundred milliseconds and a logger that writes to t.Log.
func Config(t testing.TB, dir string) consensus.Config {
	cfg := consensus.DefaultConfig()
	cfg.NodeID = "node1"
	cfg.Dir = dir
	cfg.BindAddr = "127.0.0.1:0"
	cfg.Bootstrap = true
	cfg.Logger = Logger(t)
	cfg.ApplyTimeout = 5 * time.Second
	cfg.Timing = consensus.Timing{
		HeartbeatTimeout:   100 * time.Millisecond,
		ElectionTimeout:    100 * time.Millisecond,
		LeaderLeaseTimeout: 50 * time.Millisecond,
		CommitTimeout:      5 * time.Millisecond,
	}
	return cfg
}

// OpenStore opens a single-voter store in a fresh t.TempDir() and waits
// until it leads.
func OpenStore(t testing.TB) *consensus.Store {
	t.Helper()
	return Reopen(t, t.TempDir())
}

// Reopen opens a single-voter store in dir, which may hold the state of an
// earlier store (closed first), and waits until it leads. The store is
// closed when the test ends.
func Reopen(t testing.TB, dir string) *consensus.Store {
	t.Helper()
	return OpenConfig(t, Config(t, dir))
}

// OpenConfig opens a store with cfg and registers its Close. When cfg
// bootstraps it waits for the store to lead; otherwise the store is
// returned at once, as a member for a leader to add.
func OpenConfig(t testing.TB, cfg consensus.Config) *consensus.Store {
	t.Helper()
	s, err := consensus.Open(cfg)
	if err != nil {
		t.Fatalf("open store in %s: %v", cfg.Dir, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	if cfg.Bootstrap {
		WaitForLeadership(t, s)
	}
	return s
}

// WaitForLeadership fails the test unless s becomes the leader in time
// and has applied everything committed before.
func WaitForLeadership(t testing.TB, s *consensus.Store) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), LeaderTimeout)
	defer cancel()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !s.IsLeader() {
		select {
		case <-ctx.Done():
			t.Fatalf("store did not become leader: %+v", s.Stats())
		case <-tick.C:
		}
	}
	if err := s.Barrier(ctx); err != nil {
		t.Fatalf("barrier after election: %v", err)
	}
}

// Logger returns a slog.Logger that writes to t.Log until the test ends
// and is silent after, when raft's goroutines may still be stopping.
func Logger(t testing.TB) *slog.Logger {
	w := &testWriter{t: t}
	t.Cleanup(w.stop)
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct {
	mu   sync.Mutex
	t    testing.TB
	done bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Helper()
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

func (w *testWriter) stop() {
	w.mu.Lock()
	w.done = true
	w.mu.Unlock()
}
