package node

import "github.com/forged-dev/forged/dataplane"

// Output-store runs of datasets and models, for tests that look for
// their files.
const (
	DatasetsRun = datasetsRun
	ModelsRun   = modelsRun
)

// HoldsFile says whether n's output store has the file of run/task/output
// (a dataset version's: DatasetsRun/NAME/STORED; a model's likewise).
func HoldsFile(n *Node, run, task, output string) bool {
	_, err := n.data.Meta(dataplane.OutputRef{Run: run, Task: task, Output: output})
	return err == nil
}

// AcceptPut says whether n's Flight server takes a DoPut of
// run/task/output.
func AcceptPut(n *Node, run, task, output string) error {
	return flightSource{n}.AcceptPut(dataplane.OutputRef{Run: run, Task: task, Output: output})
}
