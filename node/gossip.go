package node

import (
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// memberMeta is what a node tells the others about itself through gossip.
// Its JSON must fit memberlist's 512-byte metadata limit.
type memberMeta struct {
	HTTP    string            `json:"h"`
	Raft    string            `json:"r"`
	Flight  string            `json:"f,omitempty"`
	Slots   int               `json:"s"`
	Labels  map[string]string `json:"l,omitempty"`
	Version string            `json:"v"`
	// Expect is the node's --bootstrap-expect: non-zero marks a server
	// that may bootstrap the Raft voters.
	Expect int `json:"e,omitempty"`
	// Leaving is set just before a graceful leave, so that the others
	// record the departure as a leave, not a failure (memberlist reports
	// both alike).
	Leaving bool `json:"lv,omitempty"`
	// TLS marks a node that serves its API over HTTPS and Flight and
	// Raft over TLS.
	TLS bool `json:"t,omitempty"`
}

// memberStatus is a member's gossip state.
type memberStatus string

// Member states, as the API shows them.
const (
	statusAlive   memberStatus = "alive"
	statusSuspect memberStatus = "suspect"
	statusDead    memberStatus = "dead"
	statusLeft    memberStatus = "left"
)

// memberState is one member as this node's gossip sees it.
type memberState struct {
	Name   string
	Addr   string // gossip host:port
	Meta   memberMeta
	Status memberStatus
	// Since is when the member entered its status.
	Since time.Time
}

// memberEvent is one membership change, kept for the cluster page.
type memberEvent struct {
	At     time.Time
	Node   string
	Change string
}

// maxMemberEvents bounds the kept history of membership changes.
const maxMemberEvents = 100

// gossipTCPTimeout bounds memberlist's TCP exchanges (joins, push-pull).
const gossipTCPTimeout = 3 * time.Second

// gossip is the node's memberlist membership. It keeps every member it
// has seen, including dead and departed ones, so the leader can tell a
// dead server from one it never knew.
type gossip struct {
	ml *memberlist.Memberlist

	mu sync.Mutex
	// meta is this node's encoded metadata.
	meta    []byte
	members map[string]*memberState
	events  []memberEvent
	// changed is signalled (coalescing) on every membership change.
	changed chan struct{}
}

// gossipConfig is what the gossip layer needs from the node config.
type gossipConfig struct {
	Name          string
	BindAddr      string // host:port
	AdvertiseAddr string // host:port, optional
	Key           []byte
	Meta          memberMeta
	Timing        GossipTiming
	LogOutput     io.Writer
}

// GossipTiming tunes failure detection; the defaults suit a LAN and
// declare a silent node dead in about two seconds.
type GossipTiming struct {
	ProbeInterval  time.Duration
	ProbeTimeout   time.Duration
	GossipInterval time.Duration
	SuspicionMult  int
}

// DefaultGossipTiming is tuned for machines on one LAN.
func DefaultGossipTiming() GossipTiming {
	return GossipTiming{
		ProbeInterval:  500 * time.Millisecond,
		ProbeTimeout:   250 * time.Millisecond,
		GossipInterval: 100 * time.Millisecond,
		SuspicionMult:  2,
	}
}

func splitHostPort(addr string) (string, int, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return "", 0, fmt.Errorf("port %q: %w", port, err)
	}
	return host, p, nil
}

func startGossip(cfg gossipConfig) (*gossip, error) {
	meta, err := json.Marshal(cfg.Meta)
	if err != nil {
		return nil, err
	}
	if len(meta) > memberlist.MetaMaxSize {
		return nil, fmt.Errorf("node metadata is %d bytes, over gossip's limit of %d: use fewer or shorter labels", len(meta), memberlist.MetaMaxSize)
	}
	g := &gossip{meta: meta, members: map[string]*memberState{}, changed: make(chan struct{}, 1)}

	mc := memberlist.DefaultLANConfig()
	mc.Name = cfg.Name
	// A join or state exchange on a LAN answers in milliseconds; memberlist's
	// 10s wait for a peer that does not (a wrong key, a dead address) made a
	// join attempt, and a node's Close during one, take that long.
	mc.TCPTimeout = gossipTCPTimeout
	host, port, err := splitHostPort(cfg.BindAddr)
	if err != nil {
		return nil, fmt.Errorf("gossip address %q: %w", cfg.BindAddr, err)
	}
	mc.BindAddr, mc.BindPort = host, port
	mc.AdvertisePort = port
	if cfg.AdvertiseAddr != "" {
		ahost, aport, err := splitHostPort(cfg.AdvertiseAddr)
		if err != nil {
			return nil, fmt.Errorf("gossip advertise address %q: %w", cfg.AdvertiseAddr, err)
		}
		mc.AdvertiseAddr, mc.AdvertisePort = ahost, aport
	}
	t := cfg.Timing
	if t.ProbeInterval > 0 {
		mc.ProbeInterval = t.ProbeInterval
	}
	if t.ProbeTimeout > 0 {
		mc.ProbeTimeout = t.ProbeTimeout
	}
	if t.GossipInterval > 0 {
		mc.GossipInterval = t.GossipInterval
	}
	if t.SuspicionMult > 0 {
		mc.SuspicionMult = t.SuspicionMult
	}
	// A node that died and comes back on another address (a restart with
	// port 0) may take its name back once it has been dead a moment.
	mc.DeadNodeReclaimTime = time.Second
	if len(cfg.Key) > 0 {
		mc.SecretKey = cfg.Key
		// Refuse and never send unencrypted messages (memberlist's
		// defaults, stated here because the key is what keeps
		// strangers out).
		mc.GossipVerifyIncoming, mc.GossipVerifyOutgoing = true, true
	}
	mc.Delegate = g
	mc.Events = g
	logOut := cfg.LogOutput
	if logOut == nil {
		logOut = io.Discard
	}
	mc.Logger = log.New(logOut, "", 0)
	ml, err := memberlist.Create(mc)
	if err != nil {
		return nil, fmt.Errorf("start gossip on %s: %w", cfg.BindAddr, err)
	}
	g.ml = ml
	return g, nil
}

// Addr is the gossip address others join.
func (g *gossip) Addr() string {
	n := g.ml.LocalNode()
	return net.JoinHostPort(n.Addr.String(), strconv.Itoa(int(n.Port)))
}

// join contacts the given gossip addresses; one answer is enough.
func (g *gossip) join(addrs []string) error {
	if len(addrs) == 0 {
		return nil
	}
	n, err := g.ml.Join(addrs)
	if n > 0 {
		return nil
	}
	return fmt.Errorf("join %v: %w", addrs, err)
}

// leave tells the others this node is going, then stops gossiping.
func (g *gossip) leave(timeout time.Duration) error {
	g.mu.Lock()
	var meta memberMeta
	if json.Unmarshal(g.meta, &meta) == nil {
		meta.Leaving = true
		if b, err := json.Marshal(meta); err == nil {
			g.meta = b
		}
	}
	g.mu.Unlock()
	// Best effort: the others learn it is leaving, then that it left.
	_ = g.ml.UpdateNode(timeout / 2)
	err := g.ml.Leave(timeout / 2)
	if serr := g.ml.Shutdown(); err == nil {
		err = serr
	}
	return err
}

// list returns every member seen, with suspect status read live.
func (g *gossip) list() []memberState {
	suspect := map[string]bool{}
	for _, n := range g.ml.Members() {
		if n.State == memberlist.StateSuspect {
			suspect[n.Name] = true
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]memberState, 0, len(g.members))
	for _, m := range g.members {
		st := *m
		if st.Status == statusAlive && suspect[st.Name] {
			st.Status = statusSuspect
		}
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// member returns one member by name.
func (g *gossip) member(name string) (memberState, bool) {
	for _, m := range g.list() {
		if m.Name == name {
			return m, true
		}
	}
	return memberState{}, false
}

func (g *gossip) recentEvents() []memberEvent {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]memberEvent(nil), g.events...)
}

func (g *gossip) record(n *memberlist.Node, status memberStatus, change string) {
	var meta memberMeta
	_ = json.Unmarshal(n.Meta, &meta)
	now := time.Now()
	g.mu.Lock()
	prev := g.members[n.Name]
	since := now
	if prev != nil && prev.Status == status {
		since = prev.Since
	}
	g.members[n.Name] = &memberState{
		Name: n.Name, Addr: net.JoinHostPort(n.Addr.String(), strconv.Itoa(int(n.Port))),
		Meta: meta, Status: status, Since: since,
	}
	g.events = append(g.events, memberEvent{At: now.UTC(), Node: n.Name, Change: change})
	if len(g.events) > maxMemberEvents {
		g.events = g.events[len(g.events)-maxMemberEvents:]
	}
	g.mu.Unlock()
	select {
	case g.changed <- struct{}{}:
	default:
	}
}

// NotifyJoin records a member that joined or came back.
func (g *gossip) NotifyJoin(n *memberlist.Node) { g.record(n, statusAlive, "joined") }

// NotifyLeave records a member that left or was declared dead.
func (g *gossip) NotifyLeave(n *memberlist.Node) {
	var meta memberMeta
	_ = json.Unmarshal(n.Meta, &meta)
	if n.State == memberlist.StateLeft || meta.Leaving {
		g.record(n, statusLeft, "left")
		return
	}
	g.record(n, statusDead, "failed")
}

// NotifyUpdate records a member whose metadata changed.
func (g *gossip) NotifyUpdate(n *memberlist.Node) { g.record(n, statusAlive, "updated") }

// NodeMeta is this node's metadata for the others.
func (g *gossip) NodeMeta(limit int) []byte {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.meta
}

// NotifyMsg ignores user messages: forged sends none.
func (g *gossip) NotifyMsg([]byte) {}

// GetBroadcasts has nothing to broadcast.
func (g *gossip) GetBroadcasts(overhead, limit int) [][]byte { return nil }

// LocalState has no extra state to exchange.
func (g *gossip) LocalState(join bool) []byte { return nil }

// MergeRemoteState has no extra state to merge.
func (g *gossip) MergeRemoteState(buf []byte, join bool) {}
