package node

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/forged-dev/forged/api"
	"github.com/forged-dev/forged/consensus"
)

// slogWriter passes memberlist's log lines to the node's logger at debug.
type slogWriter struct{ log *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	w.log.Debug(string(p), "component", "gossip")
	return len(p), nil
}

// startGossip joins the gossip cluster, retrying in the background until
// one contact answers, and on a new cluster bootstraps the Raft voters
// once BootstrapExpect servers see each other.
func (n *Node) startGossip() error {
	var logOut io.Writer = slogWriter{n.log}
	g, err := startGossip(gossipConfig{
		Name:          n.cfg.Name,
		BindAddr:      n.cfg.GossipAddr,
		AdvertiseAddr: n.gossipAdvertise(),
		Key:           n.cfg.GossipKey,
		Timing:        n.cfg.GossipTiming,
		LogOutput:     logOut,
		Meta: memberMeta{
			HTTP: n.advertisedHTTP(), Raft: n.store.Addr(), Flight: n.advertised(n.flightLn.Addr().String()), Slots: n.cfg.Slots,
			Labels: n.cfg.Labels, Version: n.cfg.Version, Expect: n.cfg.BootstrapExpect, TLS: n.tls != nil,
		},
	})
	if err != nil {
		return err
	}
	n.gossip = g
	if len(n.cfg.Join) > 0 {
		n.bg.Add(1)
		go func() {
			defer n.bg.Done()
			n.joinLoop()
		}()
	}
	if n.cfg.BootstrapExpect > 1 && !n.store.HadState() {
		n.bg.Add(1)
		go func() {
			defer n.bg.Done()
			n.bootstrapLoop()
		}()
	}
	return nil
}

func (n *Node) gossipAdvertise() string {
	if n.cfg.AdvertiseHost == "" {
		return ""
	}
	_, port, err := splitHostPort(n.cfg.GossipAddr)
	if err != nil {
		return ""
	}
	return fmt.Sprintf("%s:%d", n.cfg.AdvertiseHost, port)
}

func (n *Node) joinLoop() {
	for wait := 100 * time.Millisecond; ; wait = min(wait*2, 5*time.Second) {
		err := n.gossip.join(n.cfg.Join)
		if err == nil {
			n.log.Info("joined the cluster", "via", n.cfg.Join)
			return
		}
		n.log.Warn("join the cluster, will retry", "err", err, "in", wait)
		select {
		case <-n.bgCtx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// bootstrapLoop waits until BootstrapExpect servers with the same setting
// are alive, then bootstraps them as the voters. Every one of them does
// the same with the same list, which Raft accepts.
func (n *Node) bootstrapLoop() {
	expect := n.cfg.BootstrapExpect
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		if n.store.HadState() {
			return
		}
		var servers []memberState
		for _, m := range n.gossip.list() {
			if m.Status == statusAlive && m.Meta.Expect == expect && m.Meta.Raft != "" {
				servers = append(servers, m)
			}
		}
		if len(servers) >= expect {
			servers = servers[:expect] // list is sorted by name
			var voters []consensus.Server
			self := false
			for _, m := range servers {
				voters = append(voters, consensus.Server{ID: m.Name, Addr: m.Meta.Raft, Voter: true})
				self = self || m.Name == n.cfg.Name
			}
			if !self {
				n.log.Info("enough servers to bootstrap without this one; waiting to be added")
				return
			}
			if err := n.store.BootstrapCluster(voters); err != nil {
				n.log.Error("bootstrap the cluster", "err", err)
			}
			return
		}
		select {
		case <-n.bgCtx.Done():
			return
		case <-tick.C:
		case <-n.gossip.changed:
		}
	}
}

// leaderLoop makes the Raft configuration follow gossip membership while
// this node leads: it adds new nodes as non-voters, updates the address
// of a node that came back on another one, and removes nodes that left,
// or stayed dead longer than the grace period. It re-checks every member
// when leadership is won.
type leaderLoop struct {
	n      *Node
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func newLeaderLoop(n *Node) *leaderLoop { return &leaderLoop{n: n} }

func (l *leaderLoop) start() {
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		l.loop(ctx)
	}()
}

func (l *leaderLoop) stop() {
	if l.cancel != nil {
		l.cancel()
	}
	l.wg.Wait()
}

func (l *leaderLoop) loop(ctx context.Context) {
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		if l.n.store.IsLeader() {
			if err := l.reconcile(ctx); err != nil && ctx.Err() == nil {
				l.n.log.Warn("reconcile raft membership", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-l.n.gossip.changed:
			// Give the scheduler the same news: dead nodes' tasks move.
			l.n.forgetPlacementNodes()
			l.n.scheduler.poke()
		}
	}
}

func (l *leaderLoop) reconcile(ctx context.Context) error {
	n := l.n
	servers, err := n.store.Configuration()
	if err != nil {
		return err
	}
	inConf := map[string]consensus.Server{}
	for _, s := range servers {
		inConf[s.ID] = s
	}
	for _, m := range n.gossip.list() {
		if m.Name == n.cfg.Name {
			continue
		}
		srv, known := inConf[m.Name]
		switch m.Status {
		case statusAlive, statusSuspect:
			switch {
			case m.Meta.Raft == "":
			case !known:
				n.log.Info("adding a node to raft as a non-voter", "member", m.Name, "addr", m.Meta.Raft)
				err = n.store.AddNonvoter(ctx, m.Name, m.Meta.Raft)
			case srv.Addr != m.Meta.Raft && srv.Voter:
				n.log.Info("a voter came back on a new address", "member", m.Name, "addr", m.Meta.Raft)
				err = n.store.AddVoter(ctx, m.Name, m.Meta.Raft)
			case srv.Addr != m.Meta.Raft:
				err = n.store.AddNonvoter(ctx, m.Name, m.Meta.Raft)
			}
		case statusLeft:
			if known {
				n.log.Info("removing a node that left from raft", "member", m.Name)
				err = n.store.RemoveServer(ctx, m.Name)
			}
		case statusDead:
			if known && time.Since(m.Since) > n.cfg.DeadServerGrace {
				n.log.Warn("removing a node dead for longer than the grace period from raft", "member", m.Name,
					"dead_for", time.Since(m.Since).Round(time.Second))
				err = n.store.RemoveServer(ctx, m.Name)
			}
		}
		if err != nil {
			return fmt.Errorf("member %s: %w", m.Name, err)
		}
	}
	return nil
}

// liveWorkers are the nodes that may be given tasks now: alive in gossip
// and in the Raft configuration (so they replicate the assignments).
func (n *Node) liveWorkers() ([]member, map[string]memberStatus, error) {
	servers, err := n.store.Configuration()
	if err != nil {
		return nil, nil, err
	}
	inConf := map[string]bool{}
	for _, s := range servers {
		inConf[s.ID] = true
	}
	status := map[string]memberStatus{}
	var out []member
	for _, m := range n.gossip.list() {
		status[m.Name] = m.Status
		if m.Status != statusAlive || !inConf[m.Name] {
			continue
		}
		slots := m.Meta.Slots
		if m.Name == n.cfg.Name {
			slots = n.cfg.Slots
		}
		out = append(out, member{Name: m.Name, Slots: slots, Labels: m.Meta.Labels})
	}
	if _, ok := status[n.cfg.Name]; !ok { // gossip has not reported ourselves yet
		status[n.cfg.Name] = statusAlive
		out = append(out, member{Name: n.cfg.Name, Slots: n.cfg.Slots, Labels: n.cfg.Labels})
	}
	return out, status, nil
}

// Cluster reports the members, their Raft roles and load.
func (n *Node) Cluster() api.ClusterInfo {
	st := n.store.Stats()
	info := api.ClusterInfo{
		Leader: st.LeaderID, Term: st.Term, CommitIndex: st.CommitIndex, AppliedIndex: st.AppliedIndex,
	}
	roles := map[string]string{}
	if servers, err := n.store.Configuration(); err == nil {
		for _, s := range servers {
			roles[s.ID] = "nonvoter"
			if s.Voter {
				roles[s.ID] = "voter"
			}
		}
	}
	if st.LeaderID != "" {
		roles[st.LeaderID] = "leader"
	}
	running := map[string]int{}
	for _, r := range n.store.Active() {
		for _, a := range r.Attempts {
			running[a.Node]++
		}
	}
	info.QueueDepth = queueDepth(n)
	for _, m := range n.gossip.list() {
		role := roles[m.Name]
		if role == "" {
			role = "none"
		}
		info.Members = append(info.Members, api.Member{
			Name: m.Name, Address: m.Addr, HTTPAddr: m.Meta.HTTP, URL: m.Meta.url(), RaftAddr: m.Meta.Raft, FlightAddr: m.Meta.Flight,
			Status: string(m.Status), Role: role, Slots: m.Meta.Slots, Running: running[m.Name],
			Labels: m.Meta.Labels, Version: m.Meta.Version,
		})
	}
	sort.Slice(info.Members, func(i, j int) bool { return info.Members[i].Name < info.Members[j].Name })
	for _, e := range n.gossip.recentEvents() {
		info.Events = append(info.Events, api.MemberEvent{At: e.At, Node: e.Node, Change: e.Change})
	}
	return info
}

// GossipAddr is the address other nodes pass to Join.
func (n *Node) GossipAddr() string { return n.gossip.Addr() }
