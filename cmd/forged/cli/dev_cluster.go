package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/forged-dev/forged/node"
)

// runDevCluster starts n in-process nodes on 127.0.0.1 that form one
// cluster, with their APIs on consecutive ports from base's.
func runDevCluster(ctx context.Context, g *globals, base node.Config, n int, runExample bool) error {
	host, portText, err := net.SplitHostPort(base.HTTPAddr)
	if err != nil {
		return fmt.Errorf("--http %q: %w", base.HTTPAddr, err)
	}
	port, _ := strconv.Atoi(portText)
	root := base.DataDir
	if root == "" {
		if root, err = os.MkdirTemp("", "forged-dev-"); err != nil {
			return err
		}
		defer os.RemoveAll(root)
	}
	// With a kept data dir and a fixed API port, the nodes get fixed
	// Raft, gossip and Flight ports too (100, 200 and 300 above their API
	// ports): the Raft configuration in the data dir names those
	// addresses, so a restart must find the nodes where they were.
	fixed := base.DataDir != "" && port != 0
	at := func(offset, i int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port+offset+i)) }
	firstGossip := ""
	if fixed {
		firstGossip = at(200, 0)
	} else if firstGossip, err = node.FreeLoopbackAddr(); err != nil {
		return err
	}
	cfgs := make([]node.Config, n)
	for i := range cfgs {
		cfg := base
		cfg.Name = fmt.Sprintf("dev%d", i+1)
		cfg.DataDir = filepath.Join(root, cfg.Name)
		cfg.Logger = base.Logger.With("node", cfg.Name)
		cfg.BootstrapExpect = n
		cfg.RaftAddr = "127.0.0.1:0"
		cfg.GossipAddr = "127.0.0.1:0"
		cfg.FlightAddr = "127.0.0.1:0"
		if fixed {
			cfg.RaftAddr, cfg.GossipAddr, cfg.FlightAddr = at(100, i), at(200, i), at(300, i)
		}
		if port != 0 {
			cfg.HTTPAddr = net.JoinHostPort(host, strconv.Itoa(port+i))
		}
		if i == 0 {
			cfg.GossipAddr = firstGossip
		} else {
			cfg.Join = []string{firstGossip}
		}
		exampleDir := filepath.Join(cfg.DataDir, "examples")
		if len(base.DataRoots) == 0 {
			cfg.DataRoots = []string{exampleDir}
		}
		if err := writeExamples(exampleDir); err != nil {
			return fmt.Errorf("write bundled examples: %w", err)
		}
		cfgs[i] = cfg
	}
	nodes := make([]*node.Node, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range cfgs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nodes[i], errs[i] = node.Open(ctx, cfgs[i])
		}()
	}
	wg.Wait()
	defer func() {
		for i := len(nodes) - 1; i >= 0; i-- {
			if nodes[i] != nil {
				nodes[i].Close()
			}
		}
	}()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	first := nodes[0]
	names, err := registerExamples(ctx, first)
	if err != nil {
		return err
	}
	fmt.Fprintf(g.stdout, "forged dev cluster of %d nodes is up (data in %s); examples: %v\n", n, root, names)
	for _, nd := range nodes {
		fmt.Fprintf(g.stdout, "  %s  API %s  gossip %s  flight %s\n", nd.Name(), nd.URL(), nd.GossipAddr(), nd.FlightAddr())
	}
	if runExample {
		id, err := first.SubmitStored(ctx, "etl", 0, nil)
		if err != nil {
			return fmt.Errorf("start the example run: %w", err)
		}
		fmt.Fprintf(g.stdout, "  started run %s of etl: forged status %s --addr %s\n", id, id, first.URL())
	}
	fmt.Fprintf(g.stdout, "  web UI: %s/ui/ (every node serves it)\n", first.URL())
	fmt.Fprintln(g.stdout, "Press Ctrl-C to stop.")
	<-ctx.Done()
	fmt.Fprintln(g.stdout, "stopping")
	return nil
}
