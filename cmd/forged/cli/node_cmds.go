package cli

import (
	"context"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/forged-dev/forged/auth"
	"github.com/forged-dev/forged/examples"
	"github.com/forged-dev/forged/node"
)

// nodeFlags are the flags of commands that start a node.
type nodeFlags struct {
	name            string
	dataDir         string
	http            string
	bind            string
	advertise       string
	raftPort        int
	gossipPort      int
	flightPort      int
	join            []string
	bootstrapExpect int
	labels          []string
	encrypt         string
	gossipKeyFile   string
	tlsCert, tlsKey string
	slots           int
	dataRoots       []string
	retention       time.Duration
	repairAfter     time.Duration
	tokensFile      string
	enableExec      bool
	batchRows       int
	batchWait       time.Duration
}

func (f *nodeFlags) register(cmd *cobra.Command, httpDefault string, raftPort, gossipPort, flightPort int, execDefault bool) {
	fl := cmd.Flags()
	fl.BoolVar(&f.enableExec, "enable-exec", execDefault, "run exec tasks (commands and scripts), with this process's user rights")
	fl.StringVar(&f.name, "name", "", "node name, unique in the cluster (default: host name)")
	fl.StringVar(&f.dataDir, "data-dir", "", "directory for the node's state, outputs and logs")
	fl.StringVar(&f.http, "http", httpDefault, "address:port the API listens on")
	fl.StringVar(&f.bind, "bind", "127.0.0.1", "address Raft and gossip listen on (0.0.0.0 for all; then set --advertise)")
	fl.StringVar(&f.advertise, "advertise", "", "address other nodes use to reach this one (default: the bind address)")
	fl.IntVar(&f.raftPort, "raft-port", raftPort, "Raft transport port (0: any free port)")
	fl.IntVar(&f.gossipPort, "gossip-port", gossipPort, "gossip (memberlist) port, TCP and UDP (0: any free port)")
	fl.IntVar(&f.flightPort, "flight-port", flightPort, "Arrow Flight port: outputs between nodes and to clients (0: any free port)")
	fl.StringArrayVar(&f.join, "join", nil, "gossip address host:port of a cluster member to join (repeatable)")
	fl.IntVar(&f.bootstrapExpect, "bootstrap-expect", -1, "servers that bootstrap the Raft voters together (default: 1 without --join, else 0: join as a worker)")
	fl.StringArrayVar(&f.labels, "label", nil, "node label key=value for task constraints (repeatable)")
	fl.StringVar(&f.encrypt, "encrypt", os.Getenv("FORGED_GOSSIP_KEY"), "base64 gossip encryption key of 16, 24 or 32 bytes (env FORGED_GOSSIP_KEY)")
	fl.IntVar(&f.slots, "slots", runtime.NumCPU(), "tasks this node runs at once")
	fl.StringArrayVar(&f.dataRoots, "data-root", nil, "directory file ops may read and write under (repeatable; default DATA_DIR/data)")
	fl.DurationVar(&f.retention, "output-retention", 0, "delete a run's output files and logs this long after it ended, such as 168h (0: keep them)")
	fl.DurationVar(&f.repairAfter, "replica-repair-after", 30*time.Second, "make the copies a dead node held (datasets, models, replicated outputs) again on live nodes once it has been dead this long (negative: never)")
	fl.IntVar(&f.batchRows, "predict-batch-rows", 256, "most rows of concurrent predict requests scored together (1: no batching)")
	fl.DurationVar(&f.batchWait, "predict-batch-wait", 0, "how long a predict batch may wait for more requests (0: never; requests that arrive during a scoring form the next batch)")
	f.registerTLS(fl)
	fl.StringVar(&f.tokensFile, "tokens-file", "", "file of API tokens, one \"TOKEN ROLE\" per line (roles read, submit, admin); without it, env "+auth.EnvTokens+" in the same format; with neither, no token is needed")
}

func (f *nodeFlags) config(g *globals) (node.Config, error) {
	cfg := node.DefaultConfig()
	if f.name != "" {
		cfg.Name = f.name
	}
	cfg.DataDir = f.dataDir
	cfg.HTTPAddr = f.http
	cfg.RaftAddr = net.JoinHostPort(f.bind, strconv.Itoa(f.raftPort))
	cfg.GossipAddr = net.JoinHostPort(f.bind, strconv.Itoa(f.gossipPort))
	cfg.FlightAddr = net.JoinHostPort(f.bind, strconv.Itoa(f.flightPort))
	cfg.AdvertiseHost = f.advertise
	cfg.Join = f.join
	cfg.BootstrapExpect = f.bootstrapExpect
	cfg.Slots = f.slots
	cfg.DataRoots = f.dataRoots
	cfg.OutputRetention = f.retention
	cfg.ReplicaRepairAfter = f.repairAfter
	cfg.EnableExec = f.enableExec
	cfg.PredictBatch = node.PredictBatch{MaxRows: f.batchRows, MaxWait: f.batchWait}
	if f.batchRows < 1 || f.batchWait < 0 || f.batchWait > time.Second {
		return cfg, fmt.Errorf("--predict-batch-rows must be at least 1 and --predict-batch-wait between 0 and 1s")
	}
	cfg.Logger = g.logger()
	cfg.Version = Version
	cfg.Ops = g.ops
	if len(f.labels) > 0 {
		cfg.Labels = map[string]string{}
		for _, kv := range f.labels {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || k == "" {
				return cfg, fmt.Errorf("--label %q: want key=value", kv)
			}
			cfg.Labels[k] = v
		}
	}
	if err := f.nodeTLS(g, &cfg); err != nil {
		return cfg, err
	}
	tokens, err := auth.Load(f.tokensFile)
	if err != nil {
		return cfg, err
	}
	cfg.Tokens = tokens
	if cfg.EnableExec && !tokens.Enabled() && f.http != "" && !loopbackAddr(f.http) {
		return cfg, fmt.Errorf("--enable-exec with the API on %s, which other machines can reach, needs --tokens-file: "+
			"anyone who reaches the API could run commands on this machine", f.http)
	}
	if (f.bind == "0.0.0.0" || f.bind == "::") && f.advertise == "" {
		return cfg, fmt.Errorf("--bind %s needs --advertise: the address other nodes reach this one at", f.bind)
	}
	return cfg, nil
}

// loopbackAddr reports whether a listen address (host:port) is reachable
// from this machine only.
func loopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func newDevCmd(g *globals) *cobra.Command {
	var f nodeFlags
	var noExample bool
	var nodes int
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Start a node on 127.0.0.1 with the bundled examples and run one",
		Long: `Start a node for trying forged on one machine (or --nodes N in-process
nodes forming one cluster). It listens on 127.0.0.1 only, keeps its data in
a temporary directory unless --data-dir is given, registers the bundled
example pipelines and starts a run of "etl". Stop it with Ctrl-C.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			cfg, err := f.config(g)
			if err != nil {
				return err
			}
			if nodes > 1 {
				return runDevCluster(ctx, g, cfg, nodes, !noExample)
			}
			if cfg.DataDir == "" {
				dir, err := os.MkdirTemp("", "forged-dev-")
				if err != nil {
					return err
				}
				defer os.RemoveAll(dir)
				cfg.DataDir = dir
			}
			if f.name == "" {
				cfg.Name = "dev"
			}
			exampleDir := filepath.Join(cfg.DataDir, "examples")
			if len(cfg.DataRoots) == 0 {
				cfg.DataRoots = []string{exampleDir}
			}
			if err := writeExamples(exampleDir); err != nil {
				return fmt.Errorf("write bundled examples: %w", err)
			}
			n, err := node.Open(ctx, cfg)
			if err != nil {
				return err
			}
			defer n.Close()
			names, err := registerExamples(ctx, n)
			if err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "forged dev node %q is up\n  web UI:   %s/ui/\n  API:      %s/api/v1\n  Flight:   grpc://%s\n  data dir: %s\n  examples: %s\n",
				n.Name(), n.URL(), n.URL(), n.FlightAddr(), cfg.DataDir, strings.Join(names, ", "))
			if !noExample {
				// etl shows operators; churn trains and registers a model,
				// so that the node ends up serving one.
				for _, name := range []string{"etl", "churn"} {
					id, err := n.SubmitStored(ctx, name, 0, nil)
					if err != nil {
						return fmt.Errorf("start the example run of %s: %w", name, err)
					}
					fmt.Fprintf(g.stdout, "  started run %s of %s: forged status %s --addr %s\n", id, name, id, n.URL())
				}
				fmt.Fprintf(g.stdout, "  once churn is done: forged predict churn --addr %s --json '{\"records\": [{\"tenure_months\": 3, \"monthly_charges\": 95, \"support_calls\": 4, \"month_to_month\": true}]}'\n", n.URL())
			}
			fmt.Fprintln(g.stdout, "Press Ctrl-C to stop.")
			<-ctx.Done()
			fmt.Fprintln(g.stdout, "stopping")
			return nil
		},
	}
	f.register(cmd, "127.0.0.1:8080", 0, 0, 0, true)
	cmd.Flags().BoolVar(&noExample, "no-example", false, "register the examples but start no run")
	cmd.Flags().IntVar(&nodes, "nodes", 1, "in-process nodes forming one cluster (API ports from --http upward; with --data-dir, Raft, gossip and Flight 100, 200 and 300 above them, so that the cluster restarts from it)")
	return cmd
}

// writeExamples copies the bundled examples and their data to dir.
func writeExamples(dir string) error {
	return fs.WalkDir(examples.FS, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		target := filepath.Join(dir, path)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := examples.FS.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
}

// registerExamples stores every bundled pipeline on the node.
func registerExamples(ctx context.Context, n *node.Node) ([]string, error) {
	entries, err := fs.Glob(examples.FS, "*.yaml")
	if err != nil {
		return nil, err
	}
	sort.Strings(entries)
	var names []string
	for _, e := range entries {
		src, err := examples.FS.ReadFile(e)
		if err != nil {
			return nil, err
		}
		p, err := n.Validate(src)
		if err != nil {
			return nil, fmt.Errorf("bundled example %s: %w", e, err)
		}
		if _, err := n.PutPipeline(ctx, p.Name, src); err != nil {
			return nil, fmt.Errorf("register example %s: %w", e, err)
		}
		names = append(names, p.Name)
	}
	return names, nil
}

func newAgentCmd(g *globals) *cobra.Command {
	var f nodeFlags
	var configFile string
	var leaderTimeout time.Duration
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run a forged node until stopped",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if configFile != "" {
				if err := applyConfigFile(cmd, configFile); err != nil {
					return err
				}
			}
			if f.dataDir == "" {
				return fmt.Errorf("--data-dir is required: the node keeps its state there")
			}
			cfg, err := f.config(g)
			if err != nil {
				return err
			}
			cfg.LeaderTimeout = leaderTimeout
			if leaderTimeout == 0 {
				cfg.LeaderTimeout = -1 // wait for the rest of the cluster
			}
			n, err := node.Open(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			defer n.Close()
			fmt.Fprintf(g.stdout, "forged agent %q listening on %s\n", n.Name(), n.URL())
			<-cmd.Context().Done()
			return nil
		},
	}
	f.register(cmd, "127.0.0.1:8080", 7947, 7946, 7948, false)
	cmd.Flags().DurationVar(&leaderTimeout, "leader-timeout", 0, "how long to wait at start for a Raft leader before giving up (0: as long as it takes, saying so every 10s; a node back before most of its cluster waits for the rest)")
	cmd.Flags().StringVar(&configFile, "config", "", "YAML file of settings named like the flags; flags given here win")
	return cmd
}
