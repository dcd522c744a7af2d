package dag

// Constraints restrict which nodes may run a task. The zero value allows
// every node. Values are taken as written: ${params.x} is not templated
// into them, so placement is known from the spec alone.
type Constraints struct {
	// Node, when set, is the only node that may run the task.
	Node string `json:"node,omitempty"`
	// Labels must all be carried, with these values, by the node.
	Labels map[string]string `json:"labels,omitempty"`
}

// IsZero reports whether the constraints allow every node.
func (c Constraints) IsZero() bool { return c.Node == "" && len(c.Labels) == 0 }

// Allows reports whether a node of this name and labels may run the task.
func (c Constraints) Allows(node string, labels map[string]string) bool {
	if c.Node != "" && c.Node != node {
		return false
	}
	for k, v := range c.Labels {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}
