package node

// Crash stops n the way a crash would look to the other nodes: it does
// not leave the gossip cluster (so it is found dead, not gone), does not
// hand over the Raft lead, and does not report the attempts it ran.
func Crash(n *Node) error {
	n.crashed = true
	return n.Close()
}
