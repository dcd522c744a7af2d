package consensus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"
)

// Apply commits cmd through raft and returns what the FSM made of it. A
// business rejection comes back in Result.Error or Result.Items; the error
// is for transport-level failures only: ErrNotLeader, ErrTimeout (the
// command may still commit), ErrClosed, or the context's own error.
func (s *Store) Apply(ctx context.Context, cmd Command) (*Result, error) {
	b, err := Encode(cmd)
	if err != nil {
		return nil, err
	}
	op := "apply " + cmd.Type().String()
	var resp any
	var index uint64
	err = s.wait(ctx, op, func(timeout time.Duration) raft.Future {
		f := s.raft.Apply(b, timeout)
		return responseFuture{f, &resp, &index}
	})
	if err != nil {
		return nil, err
	}
	res, ok := resp.(*Result)
	if !ok || res == nil {
		return nil, fmt.Errorf("%s: the state machine returned %T", op, resp)
	}
	res.Index = index
	return res, nil
}

// responseFuture copies an ApplyFuture's response out once it is done, so
// the caller reads it without touching the future concurrently.
type responseFuture struct {
	raft.ApplyFuture
	resp  *any
	index *uint64
}

func (f responseFuture) Error() error {
	err := f.ApplyFuture.Error()
	if err == nil {
		*f.resp = f.ApplyFuture.Response()
		*f.index = f.ApplyFuture.Index()
	}
	return err
}

// wait starts a raft operation and waits for its future, at most the
// apply timeout or until ctx ends. raft futures cannot be abandoned, so
// the wait runs in a goroutine that raft always ends: by answering, or at
// Shutdown, which Close waits for.
func (s *Store) wait(ctx context.Context, op string, start func(timeout time.Duration) raft.Future) error {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return fmt.Errorf("%s: %w", op, ErrClosed)
	}
	s.waits.Add(1)
	s.mu.RUnlock()

	timeout := s.cfg.ApplyTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(dl))
	}
	if timeout <= 0 {
		s.waits.Done()
		return fmt.Errorf("%s: %w", op, ctxErr(ctx))
	}
	done := make(chan error, 1)
	go func() {
		defer s.waits.Done()
		done <- start(timeout).Error()
	}()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case err := <-done:
		if err != nil {
			return raftErr(op, err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%s: %w", op, ctxErr(ctx))
	case <-timer.C:
		return fmt.Errorf("%s: %w after %s", op, ErrTimeout, timeout)
	}
}

// raftErr maps raft's errors to the package's, keeping raft's message.
func raftErr(op string, err error) error {
	switch {
	case errors.Is(err, raft.ErrNotLeader):
		return fmt.Errorf("%s: %w", op, ErrNotLeader)
	case errors.Is(err, raft.ErrLeadershipLost), errors.Is(err, raft.ErrLeadershipTransferInProgress),
		errors.Is(err, raft.ErrAbortedByRestore):
		return fmt.Errorf("%s: %w: %w", op, ErrNotLeader, err)
	case errors.Is(err, raft.ErrRaftShutdown):
		return fmt.Errorf("%s: %w", op, ErrClosed)
	case errors.Is(err, raft.ErrEnqueueTimeout):
		return fmt.Errorf("%s: %w: %w", op, ErrTimeout, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// Nudge makes the leader tell its followers the commit index now, rather
// than with its next entry or at the commit timeout, by appending a
// barrier entry without waiting for it. Call it after a commit that a
// follower is waiting to apply (work placed on it, a write it forwarded).
// On a follower it does nothing.
func (s *Store) Nudge() {
	if s.IsLeader() {
		s.raft.Barrier(0)
	}
}

// Barrier waits until every entry committed when it is called has been
// applied to the local state, so that reads that follow see it. On the
// leader it commits a barrier entry; a follower waits for its FSM to
// reach the commit index it knows of.
func (s *Store) Barrier(ctx context.Context) error {
	if s.IsLeader() {
		err := s.wait(ctx, "barrier", func(timeout time.Duration) raft.Future {
			return s.raft.Barrier(timeout)
		})
		if !errors.Is(err, ErrNotLeader) {
			return err
		}
	}
	target := s.raft.CommitIndex()
	need, err := s.lastFSMEntry(target)
	if err != nil {
		return fmt.Errorf("barrier: %w", err)
	}
	return s.poll(ctx, "barrier", func() bool {
		return s.raft.AppliedIndex() >= target && s.fsm.applied.Load() >= need
	})
}

// lastFSMEntry finds the last entry at or below idx that the FSM sees
// (raft keeps no-op and barrier entries to itself). Entries already
// compacted away were in a snapshot, which was applied before.
func (s *Store) lastFSMEntry(idx uint64) (uint64, error) {
	for ; idx > 0; idx-- {
		var l raft.Log
		if err := s.logs.GetLog(idx, &l); err != nil {
			if errors.Is(err, raft.ErrLogNotFound) {
				return 0, nil
			}
			return 0, fmt.Errorf("read raft log entry %d: %w", idx, err)
		}
		if l.Type == raft.LogCommand || l.Type == raft.LogConfiguration {
			return idx, nil
		}
	}
	return 0, nil
}

// Server is one member of the raft configuration.
type Server struct {
	ID   string `json:"id"`
	Addr string `json:"addr"`
	// Voter is false for non-voters, which replicate but do not vote.
	Voter bool `json:"voter"`
}

// Configuration returns the latest raft configuration: who votes and who
// only replicates.
func (s *Store) Configuration() ([]Server, error) {
	f := s.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, raftErr("read raft configuration", err)
	}
	var out []Server
	for _, srv := range f.Configuration().Servers {
		out = append(out, Server{ID: string(srv.ID), Addr: string(srv.Address), Voter: srv.Suffrage == raft.Voter})
	}
	return out, nil
}

// AddVoter adds a voting member, or updates the address of an existing
// one. Only the leader can change the configuration.
func (s *Store) AddVoter(ctx context.Context, id, addr string) error {
	return s.wait(ctx, "add voter "+id, func(timeout time.Duration) raft.Future {
		return s.raft.AddVoter(raft.ServerID(id), raft.ServerAddress(addr), 0, timeout)
	})
}

// AddNonvoter adds a member that replicates the state and serves reads but
// does not vote.
func (s *Store) AddNonvoter(ctx context.Context, id, addr string) error {
	return s.wait(ctx, "add non-voter "+id, func(timeout time.Duration) raft.Future {
		return s.raft.AddNonvoter(raft.ServerID(id), raft.ServerAddress(addr), 0, timeout)
	})
}

// RemoveServer removes a member from the configuration.
func (s *Store) RemoveServer(ctx context.Context, id string) error {
	return s.wait(ctx, "remove server "+id, func(timeout time.Duration) raft.Future {
		return s.raft.RemoveServer(raft.ServerID(id), 0, timeout)
	})
}
