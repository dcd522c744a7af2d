package client

import (
	"context"
	"net/url"
	"time"
)

// ClusterInfo is the cluster as one node sees it (GET /api/v1/cluster).
// It mirrors api.ClusterInfo field for field so that the client does not
// import the server's packages.
type ClusterInfo struct {
	// Leader is the leader's node name; empty while there is none.
	Leader       string   `json:"leader"`
	Term         uint64   `json:"term"`
	CommitIndex  uint64   `json:"commit_index"`
	AppliedIndex uint64   `json:"applied_index"`
	Members      []Member `json:"members"`
	// QueueDepth is how many tasks wait for a slot.
	QueueDepth int `json:"queue_depth"`
	// Events are recent membership changes, newest last.
	Events []MemberEvent `json:"events,omitempty"`
}

// Member is one node of the cluster.
type Member struct {
	Name string `json:"name"`
	// Address is the node's gossip address (host:port).
	Address  string `json:"address"`
	HTTPAddr string `json:"http_addr"`
	// URL is the node's API base URL: https when it serves TLS.
	URL      string `json:"url,omitempty"`
	RaftAddr string `json:"raft_addr"`
	// FlightAddr is the node's Arrow Flight server (host:port).
	FlightAddr string `json:"flight_addr,omitempty"`
	// Status is alive, suspect, dead or left.
	Status string `json:"status"`
	// Role is leader, voter, nonvoter or none.
	Role    string            `json:"role"`
	Slots   int               `json:"slots"`
	Running int               `json:"running"`
	Labels  map[string]string `json:"labels,omitempty"`
	Version string            `json:"version"`
}

// MemberEvent is one membership change: joined, updated, failed or left.
type MemberEvent struct {
	At     time.Time `json:"at"`
	Node   string    `json:"node"`
	Change string    `json:"change"`
}

// Cluster reads the members, roles and Raft state.
func (c *Client) Cluster(ctx context.Context) (*ClusterInfo, error) {
	var info ClusterInfo
	return &info, c.getJSON(ctx, "/api/v1/cluster", &info)
}

// Node reads one member by name; an unknown name is an *APIError with
// status 404 whose message lists the members.
func (c *Client) Node(ctx context.Context, name string) (*Member, error) {
	var out struct {
		Member Member `json:"member"`
	}
	return &out.Member, c.getJSON(ctx, "/api/v1/nodes/"+url.PathEscape(name), &out)
}
