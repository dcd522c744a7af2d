package consensus

import "errors"

// Errors returned by the store. Business rejections are not among them:
// those come back in Result.Error and Result.Items.
var (
	// ErrNotFound means the run or pipeline is not in the local replica. A
	// follower may not have applied a fresh write yet; Barrier waits for it.
	ErrNotFound = errors.New("not found")
	// ErrNotLeader means this node cannot commit writes now: it is not the
	// leader, or lost leadership while the write was in flight (the write
	// may still be committed by the next leader; commands are safe to send
	// again). Leader() tells where to send it.
	ErrNotLeader = errors.New("not the raft leader")
	// ErrTimeout means raft did not answer within the apply timeout or the
	// caller's deadline; the write may still be committed later.
	ErrTimeout = errors.New("timed out waiting for raft")
	// ErrClosed means the store is shut down or shutting down.
	ErrClosed = errors.New("state store is closed")
	// ErrUnknownCommand means a log entry's type byte names no command this
	// node knows. The FSM skips such an entry only when its type carries
	// IgnoreUnknownTypeFlag and panics otherwise.
	ErrUnknownCommand = errors.New("unknown command type")
)
