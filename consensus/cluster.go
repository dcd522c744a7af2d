package consensus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"
)

// HadState reports whether the data dir held raft state when the store
// opened: such a node never bootstraps again.
func (s *Store) HadState() bool { return s.hadState }

// BootstrapCluster makes servers the voters of a new cluster. Every server
// of a new cluster may call it with the same list; once any raft state
// exists it does nothing and returns nil.
func (s *Store) BootstrapCluster(servers []Server) error {
	if len(servers) == 0 {
		return errors.New("bootstrap: no servers")
	}
	conf := raft.Configuration{}
	for _, srv := range servers {
		suffrage := raft.Voter
		if !srv.Voter {
			suffrage = raft.Nonvoter
		}
		conf.Servers = append(conf.Servers, raft.Server{
			Suffrage: suffrage, ID: raft.ServerID(srv.ID), Address: raft.ServerAddress(srv.Addr),
		})
	}
	err := s.raft.BootstrapCluster(conf).Error()
	if errors.Is(err, raft.ErrCantBootstrap) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("bootstrap raft cluster: %w", err)
	}
	s.hadState = true
	s.log.Info("bootstrapped the raft cluster", "voters", len(servers))
	return nil
}

// WaitForApplied waits until this replica has applied the log up to
// index, so that a read here sees a write committed there.
func (s *Store) WaitForApplied(ctx context.Context, index uint64) error {
	changes, unsubscribe := s.Subscribe()
	defer unsubscribe()
	// The index may be a barrier or no-op entry, which raft keeps from the
	// FSM: then the FSM is done once raft applied past it and the FSM holds
	// the last entry at or below it that it does see.
	var tick <-chan time.Time
	need, known := uint64(0), false
	for s.fsm.applied.Load() < index {
		if s.isClosed() {
			return fmt.Errorf("wait for index %d: %w", index, ErrClosed)
		}
		if s.raft.AppliedIndex() >= index {
			if !known {
				n, err := s.lastFSMEntry(index)
				if err != nil {
					return fmt.Errorf("wait for index %d: %w", index, err)
				}
				need, known = n, true
			}
			if s.fsm.applied.Load() >= need {
				return nil
			}
		}
		if tick == nil {
			t := time.NewTicker(2 * time.Millisecond)
			defer t.Stop()
			tick = t.C
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for index %d: %w", index, ctxErr(ctx))
		case <-changes:
		case <-tick:
		}
	}
	return nil
}
