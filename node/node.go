package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/forged-dev/forged/api"
	"github.com/forged-dev/forged/auth"
	"github.com/forged-dev/forged/consensus"
	"github.com/forged-dev/forged/dataplane"
)

// Node is one running forged node.
type Node struct {
	cfg    Config
	log    *slog.Logger
	store  *consensus.Store
	data   *dataplane.Store
	specs  *specCache
	gossip *gossip

	worker    *worker
	scheduler *scheduler
	leader    *leaderLoop

	httpLn     net.Listener
	flightLn   net.Listener
	flight     *dataplane.FlightServer
	httpServer *http.Server
	httpAddr   string
	httpDone   chan struct{}
	httpClient *http.Client
	metrics    *metrics
	// tls is the node's TLS setup; nil without TLS.
	tls *nodeTLS

	// fetches makes concurrent readers of one remote output copy it once.
	fetches keyLocks
	// modelCache holds the model versions this node has loaded to serve.
	modelCache modelCache

	// placeNodes caches the live workers the leader adds to task reports
	// (see withPlacement).
	placeMu    sync.Mutex
	placeNodes []consensus.NodeCapacity
	placeAt    time.Time

	// bg owns the node's background goroutines that are not loops of
	// their own (join retries, bootstrap).
	bgCtx    context.Context
	bgCancel context.CancelFunc
	bg       sync.WaitGroup

	closeOnce sync.Once
	closeErr  error
	// crashed makes Close skip leaving the gossip cluster, so that the
	// others find this node dead as after a crash (tests use it).
	crashed bool
}

// Open starts a node: state first, then gossip, then (once there is a
// leader) the data plane, worker, scheduler, leader loop and API. On error
// everything started so far is stopped again.
func Open(ctx context.Context, cfg Config) (n *Node, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("node config: %w", err)
	}
	for _, dir := range append([]string{cfg.DataDir, filepath.Join(cfg.DataDir, "logs")}, cfg.DataRoots...) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("create %s: %w", dir, err)
		}
	}
	tlsSetup, err := loadTLS(&cfg)
	if err != nil {
		return nil, fmt.Errorf("node config: %w", err)
	}
	n = &Node{cfg: cfg, log: cfg.Logger.With("node", cfg.Name), tls: tlsSetup, httpClient: newPeerHTTPClient(tlsSetup)}
	n.bgCtx, n.bgCancel = context.WithCancel(context.Background())
	started := n // the error returns below set n to nil
	defer func() {
		if err != nil {
			started.Close()
		}
	}()

	if cfg.HTTPAddr != "" {
		if n.httpLn, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
			return nil, fmt.Errorf("listen for http on %s: %w", cfg.HTTPAddr, err)
		}
		n.httpAddr = n.httpLn.Addr().String()
	}
	if n.flightLn, err = net.Listen("tcp", cfg.FlightAddr); err != nil {
		return nil, fmt.Errorf("listen for flight on %s: %w", cfg.FlightAddr, err)
	}
	raftAdvertise := ""
	if cfg.AdvertiseHost != "" {
		_, port, _ := net.SplitHostPort(cfg.RaftAddr)
		raftAdvertise = net.JoinHostPort(cfg.AdvertiseHost, port)
	}
	n.store, err = consensus.Open(consensus.Config{
		NodeID:        cfg.Name,
		Dir:           filepath.Join(cfg.DataDir, "raft"),
		BindAddr:      cfg.RaftAddr,
		AdvertiseAddr: raftAdvertise,
		Bootstrap:     cfg.BootstrapExpect == 1,
		Logger:        n.log,
		Timing:        cfg.RaftTiming,
		TLS:           n.tls.raft(),
	})
	if err != nil {
		return nil, fmt.Errorf("open state: %w", err)
	}
	if err := n.startGossip(); err != nil {
		return nil, err
	}

	waitCtx, cancel := context.WithCancel(ctx)
	if cfg.LeaderTimeout > 0 {
		waitCtx, cancel = context.WithTimeout(ctx, cfg.LeaderTimeout)
	}
	defer cancel()
	stopNagging := n.nagUntilLeader(waitCtx)
	err = n.store.WaitForLeader(waitCtx)
	stopNagging()
	if err != nil {
		return nil, fmt.Errorf("wait for raft leader (bootstrap-expect %d, join %v): %w", cfg.BootstrapExpect, cfg.Join, err)
	}
	if err := n.store.Barrier(waitCtx); err != nil {
		return nil, fmt.Errorf("catch up with the raft log: %w", err)
	}
	// Outputs are made durable in groups (the reporter syncs before it
	// reports a batch of ends); small ones travel inline in the state.
	n.data, err = dataplane.OpenStoreWith(filepath.Join(cfg.DataDir, "outputs"), dataplane.StoreOptions{
		Mem: cfg.Mem, DeferSync: true, InlineMax: dataplane.DefaultInlineMax, FlightToken: cfg.Tokens.Internal(),
		FlightTLS: n.tls.clientConfig(),
	})
	if err != nil {
		return nil, fmt.Errorf("open output store: %w", err)
	}
	n.flight = dataplane.NewFlightServer(flightSource{n}, n.flightLn, dataplane.FlightServerOptions{Mem: cfg.Mem, Tokens: cfg.Tokens,
		TLS: n.tls.serverConfig(), PeerTLS: n.tls.clientConfig()})
	n.specs = newSpecCache(n.store, cfg.Ops)
	n.metrics = newMetrics(n)

	n.worker = newWorker(n)
	n.worker.start()
	n.scheduler = newScheduler(n)
	n.scheduler.start()
	n.leader = newLeaderLoop(n)
	n.leader.start()
	n.startRetention()
	n.startDeletedSweep()
	n.startRepair()

	if n.httpLn != nil {
		n.serveHTTP()
	}
	n.warnPartialSecurity()
	n.log.Info("node started", "http", n.httpAddr, "raft", n.store.Addr(), "gossip", n.gossip.Addr(), "flight", n.FlightAddr(),
		"data_dir", cfg.DataDir, "slots", cfg.Slots, "tls", n.tls.logValue(), "gossip_encryption", len(cfg.GossipKey) > 0)
	return n, nil
}

// leaderNagEvery is how often a node waiting for a Raft leader at start
// says so.
const leaderNagEvery = 10 * time.Second

// nagUntilLeader logs, every leaderNagEvery until the returned func is
// called or ctx ends, that the node still waits for a leader and which
// members gossip sees, so that an operator knows what it waits for.
func (n *Node) nagUntilLeader(ctx context.Context) (stop func()) {
	done := make(chan struct{})
	go func() {
		tick := time.NewTicker(leaderNagEvery)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-tick.C:
				var seen []string
				if n.gossip != nil {
					for _, m := range n.gossip.list() {
						seen = append(seen, m.Name+"="+string(m.Status))
					}
				}
				n.log.Warn("still waiting for a Raft leader: most voters must be up and reachable",
					"bootstrap_expect", n.cfg.BootstrapExpect, "join", n.cfg.Join, "members", seen)
			}
		}
	}()
	return func() { close(done) }
}

func (n *Node) serveHTTP() {
	mux := http.NewServeMux()
	tokens := n.cfg.Tokens
	for _, r := range n.internalRoutes() {
		h := tokens.Require(r.Role, r.Handler)
		if n.tls != nil && r.Role == auth.RoleAdmin {
			h = requirePeerCert(h)
		}
		mux.Handle(r.Method+" "+r.Path, h)
	}
	mux.Handle("/", api.New(n, api.Config{MaxBodyBytes: n.cfg.MaxBodyBytes, Logger: n.log, Tokens: tokens}))
	// The server's own complaints (a TLS handshake a plain-HTTP client
	// broke off, say) go to the node's log, not to stderr.
	n.httpServer = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, TLSConfig: n.tls.serverConfig(),
		ErrorLog: slog.NewLogLogger(n.log.With("component", "http").Handler(), slog.LevelWarn)}
	n.httpDone = make(chan struct{})
	ln := n.httpLn
	go func() {
		defer close(n.httpDone)
		serve := n.httpServer.Serve
		if n.tls != nil {
			serve = func(ln net.Listener) error { return n.httpServer.ServeTLS(ln, "", "") }
		}
		if err := serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.log.Error("http server stopped", "err", err)
		}
	}()
}

// nodeRoute is an HTTP route a node serves beside the API, with the role
// it needs when tokens are configured.
type nodeRoute struct {
	Method, Path string
	Role         auth.Role
	Handler      http.Handler
}

// internalRoutes are the routes beside the API: the nodes' own calls to
// one another (admin: only nodes hold the internal token) and metrics.
func (n *Node) internalRoutes() []nodeRoute {
	return []nodeRoute{
		{"POST", forwardPath, auth.RoleAdmin, http.HandlerFunc(n.handleForwardedApply)},
		{"GET", readIndexPath, auth.RoleAdmin, http.HandlerFunc(n.handleReadIndex)},
		{"GET", "/metrics", auth.RoleRead, n.metrics.handler()},
	}
}

// advertisedHTTP is the API address other nodes use for this one.
func (n *Node) advertisedHTTP() string {
	if n.httpAddr == "" {
		return ""
	}
	return n.advertised(n.httpAddr)
}

// advertised is a bound address as other nodes should dial it.
func (n *Node) advertised(bound string) string {
	host, port, _ := net.SplitHostPort(bound)
	if n.cfg.AdvertiseHost != "" {
		host = n.cfg.AdvertiseHost
	}
	return net.JoinHostPort(host, port)
}

// FlightAddr is the address the Arrow Flight server listens on.
func (n *Node) FlightAddr() string {
	if n.flightLn == nil {
		return ""
	}
	return n.flightLn.Addr().String()
}

// HTTPAddr is the address the API listens on, with the real port when the
// config asked for port 0; empty without an API.
func (n *Node) HTTPAddr() string { return n.httpAddr }

// URL is the API's base URL, such as http://127.0.0.1:8080 (https with
// TLS).
func (n *Node) URL() string {
	if n.httpAddr == "" {
		return ""
	}
	return n.scheme() + "://" + n.httpAddr
}

// Name is the node's name in the cluster.
func (n *Node) Name() string { return n.cfg.Name }

// DataRoots are the directories file ops may use on this node.
func (n *Node) DataRoots() []string { return n.cfg.DataRoots }

// Close stops the node in reverse start order: API, leader loop,
// scheduler, worker, gossip (leaving the cluster), state. It is safe to
// call more than once.
func (n *Node) Close() error {
	n.closeOnce.Do(func() {
		var errs []error
		if n.httpServer != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if err := n.httpServer.Shutdown(ctx); err != nil {
				n.httpServer.Close()
			}
			cancel()
			<-n.httpDone
		} else if n.httpLn != nil {
			n.httpLn.Close()
		}
		switch {
		case n.flight != nil:
			n.flight.Close()
		case n.flightLn != nil:
			n.flightLn.Close()
		}
		n.bgCancel()
		n.bg.Wait()
		if n.leader != nil {
			n.leader.stop()
		}
		if n.scheduler != nil {
			n.scheduler.stop()
		}
		if n.worker != nil {
			n.worker.stop()
		}
		switch {
		case n.gossip == nil:
		case n.crashed:
			n.gossip.ml.Shutdown()
		default:
			if err := n.gossip.leave(2 * time.Second); err != nil {
				n.log.Warn("leave the cluster", "err", err)
			}
		}
		if n.store != nil {
			if err := n.store.Close(); err != nil {
				errs = append(errs, fmt.Errorf("close state: %w", err))
			}
		}
		n.closeErr = errors.Join(errs...)
		n.log.Info("node stopped")
	})
	return n.closeErr
}
