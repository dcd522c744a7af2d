// Package node wires a forged node together and runs its lifecycle: the
// replicated state (consensus), the data plane, the scheduler loop that
// runs on the leader, the worker that executes assigned tasks, and the
// HTTP API.
package node

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/forged-dev/forged/ops"
)

// Config is what a node needs to start. Build it from DefaultConfig and
// set what differs.
type Config struct {
	// Name identifies the node in the cluster; default: the host name.
	Name string
	// DataDir holds the node's state: raft log, replicated state, task
	// outputs and logs.
	DataDir string
	// HTTPAddr is where the API listens ("127.0.0.1:8080"); empty runs
	// the node without an API (as `forged run` does).
	HTTPAddr string
	// RaftAddr is the Raft transport's bind address.
	RaftAddr string
	// Slots is how many tasks the worker runs at once; default CPU count.
	Slots int
	// DataRoots are the directories file ops may read and write under;
	// relative paths in specs resolve against the first. Default:
	// DataDir/data.
	DataRoots []string
	// Ops is the operator library; default ops.Builtin().
	Ops *ops.Registry
	// Logger receives the node's logs; nil discards them.
	Logger *slog.Logger
	// LeaderTimeout bounds the wait for a Raft leader at start.
	LeaderTimeout time.Duration
	// MaxBodyBytes bounds API request bodies.
	MaxBodyBytes int64
	// Version is reported by the health endpoint.
	Version string
}

// DefaultConfig returns a config for a single node on loopback.
func DefaultConfig() Config {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "node1"
	}
	return Config{
		Name:          host,
		HTTPAddr:      "127.0.0.1:8080",
		RaftAddr:      "127.0.0.1:0",
		Slots:         runtime.NumCPU(),
		LeaderTimeout: 30 * time.Second,
		MaxBodyBytes:  4 << 20,
		Version:       "dev",
	}
}

// Validate fills derived defaults and reports what is missing.
func (c *Config) Validate() error {
	var errs []error
	if c.Name == "" {
		errs = append(errs, errors.New("node name is empty"))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("data dir is empty"))
	}
	if c.RaftAddr == "" {
		c.RaftAddr = "127.0.0.1:0"
	}
	if c.Slots <= 0 {
		c.Slots = runtime.NumCPU()
	}
	if c.LeaderTimeout <= 0 {
		c.LeaderTimeout = 30 * time.Second
	}
	if c.Ops == nil {
		c.Ops = ops.Builtin()
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.DataDir != "" {
		abs, err := filepath.Abs(c.DataDir)
		if err != nil {
			errs = append(errs, fmt.Errorf("data dir: %w", err))
		}
		c.DataDir = abs
		if len(c.DataRoots) == 0 {
			c.DataRoots = []string{filepath.Join(abs, "data")}
		}
	}
	c.DataRoots = append([]string(nil), c.DataRoots...)
	for i, r := range c.DataRoots {
		abs, err := filepath.Abs(r)
		if err != nil {
			errs = append(errs, fmt.Errorf("data root %q: %w", r, err))
			continue
		}
		c.DataRoots[i] = abs
	}
	return errors.Join(errs...)
}
