package consensus

import (
	"context"
	"errors"
	"fmt"

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
	for s.fsm.applied.Load() < index {
		if s.isClosed() {
			return fmt.Errorf("wait for index %d: %w", index, ErrClosed)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for index %d: %w", index, ctxErr(ctx))
		case <-changes:
		}
	}
	return nil
}
