package api

import "time"

// ClusterInfo is the body of GET /api/v1/cluster: who leads, who is in
// the cluster, and the state of the Raft log as this node sees it.
type ClusterInfo struct {
	// Leader is the leader's node name; empty while there is none.
	Leader       string   `json:"leader"`
	Term         uint64   `json:"term"`
	CommitIndex  uint64   `json:"commit_index"`
	AppliedIndex uint64   `json:"applied_index"`
	Members      []Member `json:"members"`
	// QueueDepth is how many tasks are ready or retrying and wait for a
	// slot.
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
	// Status is alive, suspect, dead or left (from gossip).
	Status string `json:"status"`
	// Role is leader, voter, nonvoter or none (not in the Raft
	// configuration yet).
	Role    string            `json:"role"`
	Slots   int               `json:"slots"`
	Running int               `json:"running"`
	Labels  map[string]string `json:"labels,omitempty"`
	Version string            `json:"version"`
}

// MemberEvent is one membership change seen by this node.
type MemberEvent struct {
	At     time.Time `json:"at"`
	Node   string    `json:"node"`
	Change string    `json:"change"` // joined, updated, failed, left
}
