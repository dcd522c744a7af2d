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
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/forged-dev/forged/auth"
	"github.com/forged-dev/forged/consensus"
	"github.com/forged-dev/forged/dag"
	"github.com/forged-dev/forged/ops"
)

// DefaultRaftTiming is tuned for machines on one LAN: a dead leader is
// replaced in well under a second.
func DefaultRaftTiming() consensus.Timing {
	return consensus.Timing{
		HeartbeatTimeout:   300 * time.Millisecond,
		ElectionTimeout:    300 * time.Millisecond,
		LeaderLeaseTimeout: 150 * time.Millisecond,
		CommitTimeout:      5 * time.Millisecond,
	}
}

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
	// GossipAddr is where memberlist listens (UDP and TCP), such as
	// "127.0.0.1:7946".
	GossipAddr string
	// Mem allocates the Arrow memory of task inputs and outputs and of
	// transfers between nodes; nil is Go's default allocator. Tests pass
	// a checked allocator to prove nothing leaks.
	Mem memory.Allocator
	// FlightAddr is where the Arrow Flight server listens, such as
	// "127.0.0.1:7948": other nodes pull task outputs from it, clients
	// read them.
	FlightAddr string
	// AdvertiseHost is the address other nodes use to reach this one; it
	// is needed when the bind addresses are 0.0.0.0. Empty: the bound host.
	AdvertiseHost string
	// Join lists gossip addresses of nodes already in the cluster.
	Join []string
	// BootstrapExpect is how many servers form the first Raft voters: once
	// that many nodes with the same setting see each other they bootstrap
	// the cluster together. 1 (the default without Join) makes a
	// one-node cluster; 0 (the default with Join) joins an existing
	// cluster as a non-voting worker.
	BootstrapExpect int
	// Labels describe the node for task constraints ("zone=a").
	Labels map[string]string
	// GossipKey, when set, encrypts and authenticates gossip (16, 24 or
	// 32 bytes, AES-GCM): nodes without it cannot join or read it.
	GossipKey []byte
	// TLSCertFile and TLSKeyFile are the node's PEM certificate and
	// private key, and TLSCAFile the PEM CA that signed the cluster's
	// node certificates. Set all three or none. With them the API is
	// served over HTTPS, Flight and Raft over TLS; nodes present their
	// certificates to one another and check the other's against the CA:
	// Raft, the internal routes and Flight DoPut accept only nodes, while
	// the API's and Flight's other calls accept clients without a
	// certificate (tokens authenticate them). The certificate must name
	// the node's advertised host (an IP or DNS SAN) and allow both
	// serverAuth and clientAuth.
	TLSCertFile, TLSKeyFile, TLSCAFile string
	// GossipTiming tunes failure detection.
	GossipTiming GossipTiming
	// RaftTiming tunes Raft's timeouts; zero fields take LAN defaults.
	RaftTiming consensus.Timing
	// OutputRetention, when positive, deletes a run's output files and
	// logs from every node once the run has been finished this long; zero
	// keeps them.
	OutputRetention time.Duration
	// DeadServerGrace is how long a dead node stays in the Raft
	// configuration before the leader removes it.
	DeadServerGrace time.Duration
	// ReplicaRepairAfter is how long a node holding a copy of a file
	// (a task output with replicas, a dataset, a model) must have been
	// dead or gone before the copy is made again on a live node; 0 is
	// 30 s, a negative value turns the repair off.
	ReplicaRepairAfter time.Duration
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
	// LeaderTimeout bounds the wait for a Raft leader at start; 0 is 30
	// s, and a negative value waits for as long as it takes (a node that
	// comes back before most of its cluster waits for the others).
	LeaderTimeout time.Duration
	// MaxBodyBytes bounds API request bodies.
	MaxBodyBytes int64
	// Version is reported by the health endpoint.
	Version string
	// Tokens, when enabled, are required by the API (but health), the
	// metrics, the Flight server and the nodes' internal routes; nodes
	// call one another with its internal token, so every node of a
	// cluster needs the same tokens. Nil: no tokens, anyone may do
	// anything (keep the node on 127.0.0.1 or a private network).
	Tokens *auth.Tokens
	// EnableExec lets the node run exec tasks (commands and scripts),
	// with the rights of the user it runs as. Off, exec tasks are never
	// placed on it. The node then carries the label forged.exec=true.
	EnableExec bool
	// PredictBatch tunes the batching of predict requests.
	PredictBatch PredictBatch
}

// DefaultConfig returns a config for a single node on loopback.
func DefaultConfig() Config {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "node1"
	}
	return Config{
		Name:            host,
		HTTPAddr:        "127.0.0.1:8080",
		RaftAddr:        "127.0.0.1:0",
		GossipAddr:      "127.0.0.1:0",
		FlightAddr:      "127.0.0.1:0",
		GossipTiming:    DefaultGossipTiming(),
		RaftTiming:      DefaultRaftTiming(),
		BootstrapExpect: -1,
		DeadServerGrace: 30 * time.Second,
		Slots:           runtime.NumCPU(),
		LeaderTimeout:   30 * time.Second,
		MaxBodyBytes:    4 << 20,
		Version:         "dev",
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
	if c.GossipAddr == "" {
		c.GossipAddr = "127.0.0.1:0"
	}
	if c.FlightAddr == "" {
		c.FlightAddr = "127.0.0.1:0"
	}
	if c.BootstrapExpect < 0 {
		c.BootstrapExpect = 1
		if len(c.Join) > 0 {
			c.BootstrapExpect = 0
		}
	}
	if c.DeadServerGrace <= 0 {
		c.DeadServerGrace = 30 * time.Second
	}
	if c.ReplicaRepairAfter == 0 {
		c.ReplicaRepairAfter = 30 * time.Second
	}
	labels := make(map[string]string, len(c.Labels)+1)
	for k, v := range c.Labels {
		if strings.HasPrefix(k, "forged.") {
			errs = append(errs, fmt.Errorf("label %q: labels starting with forged. are set by forged itself", k))
		}
		labels[k] = v
	}
	if c.EnableExec {
		labels[dag.ExecLabel] = "true"
	}
	c.Labels = labels
	if n := len(c.GossipKey); n != 0 && n != 16 && n != 24 && n != 32 {
		errs = append(errs, fmt.Errorf("gossip key is %d bytes; want 16, 24 or 32", n))
	}
	if c.Slots <= 0 {
		c.Slots = runtime.NumCPU()
	}
	if c.LeaderTimeout == 0 {
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
