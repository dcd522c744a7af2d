package node

import "github.com/forged-dev/forged/api"

// Crash stops n the way a crash would look to the other nodes: it does
// not leave the gossip cluster (so it is found dead, not gone), does not
// hand over the Raft lead, and does not report the attempts it ran.
func Crash(n *Node) error {
	n.crashed = true
	return n.Close()
}

// AllRoutes lists every HTTP route n serves with the role it needs: the
// API's and the node's own.
func AllRoutes(n *Node) []api.Route {
	routes := api.New(n, api.Config{}).Routes()
	for _, r := range n.internalRoutes() {
		routes = append(routes, api.Route{Method: r.Method, Path: r.Path, Role: r.Role})
	}
	return routes
}

// SweepDeleted runs the sweep for the files of deleted runs now.
func SweepDeleted(n *Node) (int, error) { return n.sweepDeleted() }

// QuorumLost says whether gossip finds most of n's Raft voters gone.
func QuorumLost(n *Node) bool { return n.quorumLost() }

// ForwardTimeout is how long a write waits for a leader at most.
const ForwardTimeout = forwardTimeout
