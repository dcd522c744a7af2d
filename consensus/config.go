package consensus

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/hashicorp/raft"
)

// Config is what Open needs: who this node is, where its files live and
// where raft listens. Zero optional fields take their defaults.
type Config struct {
	// NodeID is the raft server ID: the node's name, stable across
	// restarts.
	NodeID string
	// Dir holds raft.db (log and stable store), snapshots/ and state.db
	// (the FSM's state).
	Dir string
	// BindAddr is where the raft TCP transport listens, such as
	// "127.0.0.1:0" (port 0 picks a free port).
	BindAddr string
	// AdvertiseAddr is the address peers use to reach this node; empty
	// means the bound address, which must then be a specific IP.
	AdvertiseAddr string
	// Bootstrap makes this node the single voter of a new cluster when Dir
	// holds no raft state yet. Existing state is never bootstrapped again.
	Bootstrap bool
	// Logger receives the store's own messages and raft's warnings and
	// errors; nil discards them.
	Logger *slog.Logger
	// ApplyTimeout bounds how long Apply, Barrier and membership changes
	// wait for raft when the context has no sooner deadline; 0 means 10s.
	ApplyTimeout time.Duration
	// Timing tunes raft's timeouts and snapshot cadence; zero fields keep
	// raft's defaults. Tests shorten the timeouts to elect in milliseconds.
	Timing Timing
	// TLS, when set, makes the Raft transport speak TLS (see
	// TransportTLS); nil is plain TCP.
	TLS *TransportTLS
}

// Timing holds the raft settings worth tuning per deployment or test. A
// zero field keeps the hashicorp/raft default.
type Timing struct {
	HeartbeatTimeout   time.Duration
	ElectionTimeout    time.Duration
	LeaderLeaseTimeout time.Duration
	CommitTimeout      time.Duration
	// SnapshotInterval is how often raft checks whether to snapshot, and
	// SnapshotThreshold how many new log entries make it do so.
	SnapshotInterval  time.Duration
	SnapshotThreshold uint64
	// TrailingLogs is how many entries stay in the log after a snapshot,
	// so a briefly absent follower catches up without a snapshot.
	TrailingLogs uint64
}

// defaultApplyTimeout is the ApplyTimeout of a zero Config.
const defaultApplyTimeout = 10 * time.Second

// DefaultConfig returns a Config with every optional field at its default;
// the caller fills in NodeID and Dir.
func DefaultConfig() Config {
	return Config{
		BindAddr:     "127.0.0.1:0",
		Bootstrap:    true,
		ApplyTimeout: defaultApplyTimeout,
	}
}

// Validate reports the first problem that would stop Open, before any file
// is touched.
func (c Config) Validate() error {
	if c.NodeID == "" {
		return errors.New("consensus config: node id is required")
	}
	if c.Dir == "" {
		return errors.New("consensus config: data directory is required")
	}
	if c.BindAddr == "" {
		return errors.New("consensus config: raft bind address is required")
	}
	if _, _, err := net.SplitHostPort(c.BindAddr); err != nil {
		return fmt.Errorf("consensus config: raft bind address %q: %w", c.BindAddr, err)
	}
	if c.AdvertiseAddr != "" {
		if err := checkAdvertise(c.AdvertiseAddr); err != nil {
			return fmt.Errorf("consensus config: raft advertise address %q: %w", c.AdvertiseAddr, err)
		}
	}
	if c.ApplyTimeout < 0 {
		return errors.New("consensus config: apply timeout must not be negative")
	}
	return nil
}

func checkAdvertise(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if p, err := strconv.Atoi(port); err != nil || p <= 0 || p > 65535 {
		return errors.New("needs a port between 1 and 65535")
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		return errors.New("needs an address peers can reach, not " + host)
	}
	return nil
}

// withDefaults fills the optional fields.
func (c Config) withDefaults() Config {
	if c.ApplyTimeout == 0 {
		c.ApplyTimeout = defaultApplyTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// raftConfig builds raft's configuration from ours.
func (c Config) raftConfig() *raft.Config {
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(c.NodeID)
	rc.Logger = newHCLogger(c.Logger)
	// BatchApplyCh stays off: raft already gathers every Apply waiting on
	// its channel into one append (group commit), and a buffered channel
	// can strand futures at shutdown that nobody ever answers.
	t := c.Timing
	setDur(&rc.HeartbeatTimeout, t.HeartbeatTimeout)
	setDur(&rc.ElectionTimeout, t.ElectionTimeout)
	setDur(&rc.LeaderLeaseTimeout, t.LeaderLeaseTimeout)
	setDur(&rc.CommitTimeout, t.CommitTimeout)
	setDur(&rc.SnapshotInterval, t.SnapshotInterval)
	if t.SnapshotThreshold > 0 {
		rc.SnapshotThreshold = t.SnapshotThreshold
	}
	if t.TrailingLogs > 0 {
		rc.TrailingLogs = t.TrailingLogs
	}
	return rc
}

func setDur(dst *time.Duration, v time.Duration) {
	if v > 0 {
		*dst = v
	}
}
