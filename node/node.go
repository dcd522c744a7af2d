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
	"github.com/forged-dev/forged/consensus"
	"github.com/forged-dev/forged/dataplane"
)

// Node is one running forged node.
type Node struct {
	cfg   Config
	log   *slog.Logger
	store *consensus.Store
	data  *dataplane.Store
	specs *specCache

	worker    *worker
	scheduler *scheduler

	httpServer *http.Server
	httpAddr   string
	httpDone   chan struct{}

	closeOnce sync.Once
	closeErr  error
}

// Open starts a node: state first, then the data plane, worker, scheduler
// and API. On error everything started so far is stopped again.
func Open(ctx context.Context, cfg Config) (n *Node, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("node config: %w", err)
	}
	for _, dir := range append([]string{cfg.DataDir, filepath.Join(cfg.DataDir, "logs")}, cfg.DataRoots...) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("create %s: %w", dir, err)
		}
	}
	n = &Node{cfg: cfg, log: cfg.Logger.With("node", cfg.Name)}
	defer func() {
		if err != nil {
			n.Close()
		}
	}()

	n.store, err = consensus.Open(consensus.Config{
		NodeID:    cfg.Name,
		Dir:       filepath.Join(cfg.DataDir, "raft"),
		BindAddr:  cfg.RaftAddr,
		Bootstrap: true,
		Logger:    n.log,
	})
	if err != nil {
		return nil, fmt.Errorf("open state: %w", err)
	}
	waitCtx, cancel := context.WithTimeout(ctx, cfg.LeaderTimeout)
	defer cancel()
	if err := n.store.WaitForLeader(waitCtx); err != nil {
		return nil, fmt.Errorf("wait for raft leader: %w", err)
	}
	if err := n.store.Barrier(waitCtx); err != nil {
		return nil, fmt.Errorf("catch up with the raft log: %w", err)
	}
	n.data, err = dataplane.OpenStore(filepath.Join(cfg.DataDir, "outputs"), nil)
	if err != nil {
		return nil, fmt.Errorf("open output store: %w", err)
	}
	n.specs = newSpecCache(n.store, cfg.Ops)

	n.worker = newWorker(n)
	n.worker.start()
	n.scheduler = newScheduler(n)
	n.scheduler.start()

	if cfg.HTTPAddr != "" {
		if err := n.serveHTTP(); err != nil {
			return nil, err
		}
	}
	n.log.Info("node started", "http", n.httpAddr, "raft", n.store.Addr(), "data_dir", cfg.DataDir, "slots", cfg.Slots)
	return n, nil
}

func (n *Node) serveHTTP() error {
	ln, err := net.Listen("tcp", n.cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen for http on %s: %w", n.cfg.HTTPAddr, err)
	}
	n.httpAddr = ln.Addr().String()
	n.httpServer = &http.Server{
		Handler:           api.New(n, api.Config{MaxBodyBytes: n.cfg.MaxBodyBytes, Logger: n.log}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	n.httpDone = make(chan struct{})
	go func() {
		defer close(n.httpDone)
		if err := n.httpServer.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.log.Error("http server stopped", "err", err)
		}
	}()
	return nil
}

// HTTPAddr is the address the API listens on, with the real port when the
// config asked for port 0; empty without an API.
func (n *Node) HTTPAddr() string { return n.httpAddr }

// URL is the API's base URL, such as http://127.0.0.1:8080.
func (n *Node) URL() string {
	if n.httpAddr == "" {
		return ""
	}
	return "http://" + n.httpAddr
}

// Name is the node's name in the cluster.
func (n *Node) Name() string { return n.cfg.Name }

// DataRoots are the directories file ops may use on this node.
func (n *Node) DataRoots() []string { return n.cfg.DataRoots }

// Close stops the node in reverse start order: API, scheduler, worker,
// data plane, state. It is safe to call more than once.
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
		}
		if n.scheduler != nil {
			n.scheduler.stop()
		}
		if n.worker != nil {
			n.worker.stop()
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
