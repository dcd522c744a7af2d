// Package consensus is forged's replicated state: hashicorp/raft with its
// log and stable store in bbolt (raft.db), file snapshots, a TCP transport,
// and an FSM whose state lives in another bbolt file (state.db). Writes are
// Commands applied through the leader; reads are served by every node from
// its local replica.
package consensus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
)

// Files and settings of a store's directory.
const (
	raftDBFile      = "raft.db"
	stateDBFile     = "state.db"
	snapshotsRetain = 2
	// logCacheSize keeps recent entries in memory for replication.
	logCacheSize = 512
	// transportPool and transportTimeout size the TCP transport.
	transportPool    = 3
	transportTimeout = 10 * time.Second
)

// Store is one node's raft member and local replica of the state.
type Store struct {
	// hadState records whether raft state existed when the store opened.
	hadState bool
	cfg      Config
	log      *slog.Logger
	raft     *raft.Raft
	trans    *raft.NetworkTransport
	bolt     *raftboltdb.BoltStore
	logs     raft.LogStore
	snaps    *raft.FileSnapshotStore
	fsm      *fsm

	// mu guards closed; in-flight waits on raft futures are counted in
	// waits so that Close returns only after they have ended.
	mu     sync.RWMutex
	closed bool
	waits  sync.WaitGroup

	closeOnce sync.Once
	closeErr  error
}

// Open opens (or creates) the store in cfg.Dir and starts raft. With
// existing state it recovers everything on disk; with none and
// cfg.Bootstrap it bootstraps a single-voter cluster. It does not wait for
// a leader: see WaitForLeader.
func Open(cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", cfg.Dir, err)
	}
	s := &Store{cfg: cfg, log: cfg.Logger}
	if err := s.start(); err != nil {
		if cerr := s.closeParts(); cerr != nil {
			s.log.Warn("clean up after a failed open", "err", cerr)
		}
		return nil, err
	}
	return s, nil
}

// start opens the files, the transport and raft, in that order.
func (s *Store) start() (err error) {
	cfg := s.cfg

	if s.fsm, err = openFSM(statePath(cfg.Dir), s.log); err != nil {
		return fmt.Errorf("open state: %w", err)
	}
	s.bolt, err = raftboltdb.New(raftboltdb.Options{
		Path:        filepath.Join(cfg.Dir, raftDBFile),
		BoltOptions: logBoltOptions(),
	})
	if err != nil {
		return fmt.Errorf("open raft log: %w", err)
	}
	if s.logs, err = raft.NewLogCache(logCacheSize, s.bolt); err != nil {
		return fmt.Errorf("open raft log cache: %w", err)
	}
	rc := cfg.raftConfig()
	if s.snaps, err = raft.NewFileSnapshotStoreWithLogger(cfg.Dir, snapshotsRetain, rc.Logger); err != nil {
		return fmt.Errorf("open snapshots: %w", err)
	}
	if s.trans, err = newTransport(cfg, rc); err != nil {
		return err
	}

	hasState, err := raft.HasExistingState(s.logs, s.bolt, s.snaps)
	if err != nil {
		return fmt.Errorf("read raft state: %w", err)
	}
	s.hadState = hasState
	if hasState {
		if err := s.prepareRestart(rc); err != nil {
			return err
		}
	}
	if s.raft, err = raft.NewRaft(rc, s.fsm, s.logs, s.bolt, s.snaps, s.trans); err != nil {
		return fmt.Errorf("start raft: %w", err)
	}
	if !hasState && cfg.Bootstrap {
		boot := raft.Configuration{Servers: []raft.Server{{
			Suffrage: raft.Voter, ID: rc.LocalID, Address: s.trans.LocalAddr(),
		}}}
		if err := s.raft.BootstrapCluster(boot).Error(); err != nil {
			return fmt.Errorf("bootstrap raft cluster: %w", err)
		}
		s.log.Info("bootstrapped a single-voter raft cluster", "id", cfg.NodeID, "addr", s.trans.LocalAddr())
	}
	return nil
}

func newTransport(cfg Config, rc *raft.Config) (*raft.NetworkTransport, error) {
	var advertise net.Addr
	if cfg.AdvertiseAddr != "" {
		a, err := net.ResolveTCPAddr("tcp", cfg.AdvertiseAddr)
		if err != nil {
			return nil, fmt.Errorf("resolve raft advertise address %s: %w", cfg.AdvertiseAddr, err)
		}
		advertise = a
	}
	if cfg.TLS != nil {
		return newTLSTransport(cfg, advertise, rc)
	}
	t, err := raft.NewTCPTransportWithLogger(cfg.BindAddr, advertise, transportPool, transportTimeout, rc.Logger)
	if err != nil {
		return nil, fmt.Errorf("start raft transport on %s: %w", cfg.BindAddr, err)
	}
	return t, nil
}

// prepareRestart readies existing state for NewRaft. If this node is the
// only voter and its address changed (a restart with port 0 picks a new
// one), the stored configuration is rewritten with the new address so the
// node can lead again and peers added later reach it. And when the state
// file has already passed the latest snapshot, raft is told not to restore
// it at start.
func (s *Store) prepareRestart(rc *raft.Config) error {
	snaps, err := s.snaps.List()
	if err != nil {
		return fmt.Errorf("list snapshots: %w", err)
	}
	if len(snaps) > 0 && snaps[0].Index <= s.fsm.applied.Load() {
		rc.NoSnapshotRestoreOnStart = true
	}
	conf, err := storedConfiguration(s.logs, snaps)
	if err != nil {
		return err
	}
	var voters []raft.Server
	for _, srv := range conf.Servers {
		if srv.Suffrage == raft.Voter {
			voters = append(voters, srv)
		}
	}
	addr := s.trans.LocalAddr()
	if len(voters) != 1 || voters[0].ID != rc.LocalID || voters[0].Address == addr {
		return nil
	}
	s.log.Warn("raft address changed and this node is the only voter; recovering the configuration with the new address",
		"id", rc.LocalID, "old_addr", voters[0].Address, "new_addr", addr)
	next := raft.Configuration{}
	for _, srv := range conf.Servers {
		if srv.ID == rc.LocalID {
			srv.Address = addr
		}
		next.Servers = append(next.Servers, srv)
	}
	if err := raft.RecoverCluster(rc, recoveryFSM{s.fsm}, s.logs, s.bolt, s.snaps, s.trans, next); err != nil {
		return fmt.Errorf("recover raft configuration: %w", err)
	}
	// RecoverCluster snapshotted the state it replayed, which the state
	// file holds too.
	rc.NoSnapshotRestoreOnStart = true
	return nil
}

// recoveryFSM is the FSM as RecoverCluster sees it. RecoverCluster
// persists the snapshot it takes but never releases it, which would leave
// a read transaction open on the state file for good.
type recoveryFSM struct{ *fsm }

func (f recoveryFSM) Snapshot() (raft.FSMSnapshot, error) {
	snap, err := f.fsm.Snapshot()
	if err != nil {
		return nil, err
	}
	return releasingSnapshot{snap}, nil
}

// releasingSnapshot releases itself once persisted.
type releasingSnapshot struct{ raft.FSMSnapshot }

func (s releasingSnapshot) Persist(sink raft.SnapshotSink) error {
	defer s.FSMSnapshot.Release()
	return s.FSMSnapshot.Persist(sink)
}

// storedConfiguration reads the latest configuration: the newest
// snapshot's, replaced by any configuration entry in the log after it.
func storedConfiguration(logs raft.LogStore, snaps []*raft.SnapshotMeta) (raft.Configuration, error) {
	var conf raft.Configuration
	var from uint64
	if len(snaps) > 0 {
		conf, from = snaps[0].Configuration, snaps[0].Index+1
	}
	first, err := logs.FirstIndex()
	if err != nil {
		return conf, fmt.Errorf("read raft log: %w", err)
	}
	last, err := logs.LastIndex()
	if err != nil {
		return conf, fmt.Errorf("read raft log: %w", err)
	}
	for i := max(first, from, 1); i <= last; i++ {
		var l raft.Log
		if err := logs.GetLog(i, &l); err != nil {
			return conf, fmt.Errorf("read raft log entry %d: %w", i, err)
		}
		if l.Type == raft.LogConfiguration {
			conf = raft.DecodeConfiguration(l.Data)
		}
	}
	return conf, nil
}

// Close shuts raft down, then the transport, then the bolt files. It is
// safe to call more than once; every call returns the first one's result.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		s.closeErr = s.closeParts()
	})
	return s.closeErr
}

// closeParts stops whatever Open started, in reverse order.
func (s *Store) closeParts() error {
	var errs []error
	if s.raft != nil {
		if err := s.raft.Shutdown().Error(); err != nil {
			errs = append(errs, fmt.Errorf("shut down raft: %w", err))
		}
	}
	s.waitForWaits()
	if s.trans != nil {
		if err := s.trans.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close raft transport: %w", err))
		}
	}
	if s.bolt != nil {
		if err := s.bolt.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close raft log: %w", err))
		}
	}
	if s.fsm != nil {
		if err := s.fsm.close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// closeWaitLimit bounds how long Close waits for in-flight raft futures.
const closeWaitLimit = 5 * time.Second

// waitForWaits lets the goroutines waiting on raft futures end. Shutdown
// answers the futures raft holds; one already handed to raft's FSM queue
// when it stopped is never answered, so the wait is bounded and such a
// goroutine is left behind with a warning rather than hanging Close.
func (s *Store) waitForWaits() {
	done := make(chan struct{})
	go func() {
		s.waits.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(closeWaitLimit):
		s.log.Warn("raft left operations unanswered at shutdown; not waiting for them")
	}
}

// Addr is the raft transport's address, the one peers use.
func (s *Store) Addr() string { return string(s.trans.LocalAddr()) }

// IsLeader reports whether this node is the raft leader now.
func (s *Store) IsLeader() bool { return s.raft.State() == raft.Leader }

// Leader returns the current leader's ID and address, empty when none is
// known.
func (s *Store) Leader() (id, addr string) {
	a, i := s.raft.LeaderWithID()
	return string(i), string(a)
}

// WaitForLeader waits until a leader is known, which may be another node.
func (s *Store) WaitForLeader(ctx context.Context) error {
	return s.poll(ctx, "wait for leader", func() bool {
		id, _ := s.Leader()
		return id != ""
	})
}

// poll checks cond every few milliseconds until it holds, ctx ends or the
// store closes.
func (s *Store) poll(ctx context.Context, op string, cond func() bool) error {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		if s.isClosed() || s.raft.State() == raft.Shutdown {
			return fmt.Errorf("%s: %w", op, ErrClosed)
		}
		if cond() {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w", op, ctxErr(ctx))
		case <-tick.C:
		}
	}
}

func (s *Store) isClosed() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.closed
}

// ctxErr maps a context's end to ErrTimeout when a deadline passed, and
// keeps the context's own error either way.
func ctxErr(ctx context.Context) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("%w: %w", ErrTimeout, ctx.Err())
	}
	return ctx.Err()
}

// Subscribe returns a channel that receives after every applied batch and
// restored snapshot. It has a buffer of one: bursts coalesce into one
// wake-up, and a slow reader never holds up the FSM. The func
// unsubscribes.
func (s *Store) Subscribe() (<-chan struct{}, func()) { return s.fsm.subs.subscribe() }

// Stats is a point-in-time view of the node's raft state.
type Stats struct {
	// State is leader, follower, candidate or shutdown.
	State        string `json:"state"`
	Term         uint64 `json:"term"`
	LastLogIndex uint64 `json:"last_log_index"`
	CommitIndex  uint64 `json:"commit_index"`
	AppliedIndex uint64 `json:"applied_index"`
	LeaderID     string `json:"leader_id"`
	LeaderAddr   string `json:"leader_addr"`
}

// Stats reads the node's raft state.
func (s *Store) Stats() Stats {
	id, addr := s.Leader()
	return Stats{
		State:        strings.ToLower(s.raft.State().String()),
		Term:         s.raft.CurrentTerm(),
		LastLogIndex: s.raft.LastIndex(),
		CommitIndex:  s.raft.CommitIndex(),
		AppliedIndex: s.raft.AppliedIndex(),
		LeaderID:     id,
		LeaderAddr:   addr,
	}
}

// Snapshot makes raft take a snapshot now and compact its log, rather
// than when its thresholds say so.
func (s *Store) Snapshot() error {
	if s.isClosed() {
		return fmt.Errorf("snapshot: %w", ErrClosed)
	}
	if err := s.raft.Snapshot().Error(); err != nil {
		return raftErr("snapshot", err)
	}
	return nil
}
