package consensus

// FSMCounters exposes how many write transactions and commands the FSM
// has applied since the store opened, for the external tests.
func FSMCounters(s *Store) (commits, commands uint64) {
	return s.fsm.commits.Load(), s.fsm.commands.Load()
}

// FSMApplied is the applied index stored with the state.
func FSMApplied(s *Store) uint64 { return s.fsm.applied.Load() }

// StatePath is where a store in dir keeps its state file.
func StatePath(dir string) string { return statePath(dir) }
