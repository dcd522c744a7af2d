package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Fault scenarios: each crashes nodes of a three-node cluster of real
// processes while pipelines run, and ends with the invariant checker
// (invariants_test.go) over every node.

// faultRows are the exact output rows of faultSpec's data tasks: big.csv
// has 600 rows, 348 of them with amount > 20, from 17 customers.
var faultRows = map[string]int64{"data": 600, "big": 348, "summary": 17}

// faultTasks is how many tasks faultSpec(sleeps) has besides its sleeps.
const faultTasks = 4

// faultSpecText is a pipeline with sleeps independent sleep tasks after a
// root task (their outputs are empty tables, inline in the state) and a
// small chain over real data whose first two outputs are files: read
// big.csv, keep the big orders, count them per customer.
func faultSpecText(name string, sleeps int, nap string) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "name: %s\ntasks:\n  - {name: root, op: noop}\n", name)
	for i := 1; i <= sleeps; i++ {
		fmt.Fprintf(&sb, "  - {name: s%03d, op: sleep, needs: [root], with: {duration: %s}}\n", i, nap)
	}
	sb.WriteString(`  - {name: data, op: read_csv, with: {path: big.csv}}
  - {name: big, op: filter, needs: [data], with: {expr: "amount > 20"}}
  - name: summary
    op: aggregate
    needs: [big]
    with: {by: [customer], aggs: [{fn: count, as: orders}, {fn: sum, column: amount, as: total}]}
`)
	return sb.String()
}

// faultSpec writes faultSpecText to a file for the CLI.
func faultSpec(t *testing.T, name string, sleeps int, nap string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name+".yaml")
	if err := os.WriteFile(path, []byte(faultSpecText(name, sleeps, nap)), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// faultSeedData writes big.csv into each agent's data root, where faultSpec's
// read_csv finds it on whichever node runs it.
func faultSeedData(t *testing.T, agents ...*agent) {
	t.Helper()
	for _, a := range agents {
		dir := filepath.Join(a.DataDir, "data")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "big.csv"), []byte(bigCSV()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// faultPinnedCluster starts three agents like startCluster, but on gossip,
// Raft and Flight ports chosen beforehand and kept across restarts, as
// machines keep their addresses: a voter that comes back is found where
// the others last saw it, even when no leader is left to learn a new
// address (two of three voters down).
func faultPinnedCluster(t *testing.T) *cluster {
	t.Helper()
	return startClusterWith(t, func(i int) []string {
		pinned := []string{"--raft-port", strconv.Itoa(freePort(t)), "--flight-port", strconv.Itoa(freePort(t))}
		if i > 0 { // the first agent's gossip port is pinned already
			pinned = append(pinned, "--gossip-port", strconv.Itoa(freePort(t)))
		}
		return pinned
	})
}

// faultSubmit submits a spec file through the CLI and returns the run ID.
func faultSubmit(t *testing.T, via *agent, spec string) string {
	t.Helper()
	stdout, stderr, code := forged(t, "submit", spec, "--addr", via.URL)
	if code != 0 {
		t.Fatalf("submit to %s exit %d: %s", via.name, code, stderr)
	}
	return strings.TrimSpace(stdout)
}

// faultWaitRunningOn waits until a task of the run is running on the named
// node, read through via.
func faultWaitRunningOn(t *testing.T, via *agent, id, node string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var r invRun
		if _, err := invGetJSON(via.URL, "/api/v1/runs/"+id, &r); err == nil {
			for _, task := range r.Tasks {
				if task.Status == "running" && task.Node == node {
					return
				}
			}
			if invTerminal(r.Status) {
				t.Fatalf("run %s ended (%s) before a task ran on %s", id, r.Status, node)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no task of run %s ran on %s within 30s", id, node)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// faultClusterView reads GET /cluster from an agent.
func faultClusterView(a *agent) (clusterJSON, error) {
	var info clusterJSON
	_, err := invGetJSON(a.URL, "/api/v1/cluster", &info)
	return info, err
}

// faultRestart starts agent i again on its data dir and flags, joining the
// members some live agent sees alive (else the first agent's address),
// and puts the new process in its place.
func faultRestart(t *testing.T, c *cluster, i int) *agent {
	t.Helper()
	var join []string
	for j, a := range c.agents {
		if j == i {
			continue
		}
		info, err := faultClusterView(a)
		if err != nil {
			continue
		}
		for _, m := range info.Members {
			if m.Status == "alive" && m.Name != c.agents[i].name {
				join = append(join, "--join", m.Address)
			}
		}
		break
	}
	if len(join) == 0 {
		join = []string{"--join", c.join}
	}
	c.agents[i] = c.agents[i].restart(t, join...)
	return c.agents[i]
}

// faultWaitAllVoting waits until an agent's view of the cluster has a leader
// and all three members alive and voting, so that one more crash leaves
// a quorum.
func faultWaitAllVoting(t *testing.T, c *cluster, via *agent) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		info, err := faultClusterView(via)
		if err == nil && info.Leader != "" && len(info.Members) == 3 {
			ok := true
			for _, m := range info.Members {
				if m.Status != "alive" || (m.Role != "leader" && m.Role != "voter") {
					ok = false
				}
			}
			if ok {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the cluster did not have three live voters within 60s: %+v (%v)", info, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// faultOthers returns the agents of c but the given ones.
func faultOthers(c *cluster, skip ...*agent) []*agent {
	var out []*agent
	for _, a := range c.agents {
		keep := true
		for _, s := range skip {
			if a == s {
				keep = false
			}
		}
		if keep {
			out = append(out, a)
		}
	}
	return out
}

// kill -9 of a worker, then of the leader, while a run's tasks run on
// it: the run succeeds on the others, a write made while the node is down
// succeeds too, and once the node is back every invariant holds on all
// three.
func TestClusterSurvivesKillNineOfAWorkerAndOfTheLeader(t *testing.T) {
	for _, victimKind := range []string{"worker", "leader"} {
		t.Run(victimKind, func(t *testing.T) {
			c := startCluster(t)
			faultSeedData(t, c.agents...)
			leader := c.leader(t, c.agents[0])
			others := faultOthers(c, leader)
			victim, survivor := leader, others[0]
			if victimKind == "worker" {
				victim, survivor = others[0], others[1]
			}
			victimIndex := 0
			for i, a := range c.agents {
				if a == victim {
					victimIndex = i
				}
			}
			id := faultSubmit(t, survivor, faultSpec(t, "wide", 60, "700ms"))
			faultWaitRunningOn(t, survivor, id, victim.name)
			victim.kill()
			during := faultSubmit(t, survivor, faultSpec(t, "during", 5, "10ms"))
			r := waitSucceeded(t, survivor, id, 60+faultTasks)
			waitSucceeded(t, survivor, during, 5+faultTasks)
			retried := 0
			for _, task := range r.Tasks {
				if task.Attempt > 1 {
					retried++
				}
			}
			t.Logf("after kill -9 of the %s, %d tasks ran again elsewhere", victimKind, retried)
			if retried == 0 {
				t.Fatalf("no task was reassigned off the killed %s", victimKind)
			}
			// The killed node comes back on its data dir, rejoins and
			// catches up with what happened while it was down.
			faultRestart(t, c, victimIndex)
			faultWaitAllVoting(t, c, survivor)
			requireInvariants(t, c.agents, []string{id, during}, invariantOptions{RequireSucceeded: true, Rows: faultRows})
		})
	}
}

// Every node in turn is killed with -9 and restarted while runs go on:
// each kill hits a node with a task running, the next node is only killed
// once the last one votes again, and every run succeeds.
func TestRollingKillNineAndRestartOfEveryNode(t *testing.T) {
	c := faultPinnedCluster(t)
	faultSeedData(t, c.agents...)
	var acked []string
	for i := range c.agents {
		victim := c.agents[i]
		via := c.agents[(i+1)%len(c.agents)]
		id := faultSubmit(t, via, faultSpec(t, fmt.Sprintf("roll%d", i+1), 30, "700ms"))
		acked = append(acked, id)
		faultWaitRunningOn(t, via, id, victim.name)
		victim.kill()
		t.Logf("killed %s with a task of %s running", victim.name, id)
		faultRestart(t, c, i)
		faultWaitAllVoting(t, c, via)
	}
	for _, id := range acked {
		waitSucceeded(t, c.agents[0], id, 30+faultTasks)
	}
	requireInvariants(t, c.agents, acked, invariantOptions{RequireSucceeded: true, Rows: faultRows})
}

// faultAPIError is the error body of the HTTP API.
type faultAPIError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// faultQuorumLost is what a refused write must say when one voter of three is
// alive.
const faultQuorumLost = "lost its quorum (1 of 3 voters alive, 2 needed)"

// Two of three voters (the leader and a follower) are killed with -9
// mid-run. The survivor refuses writes with a 503 that says the quorum is
// lost, over HTTP and in the CLI; it still serves reads; the refused
// writes never happen. Once the two are back, a leader is elected, the
// run completes and nothing acknowledged is lost.
func TestQuorumLossRefusesWritesServesReadsAndRecovers(t *testing.T) {
	c := faultPinnedCluster(t)
	faultSeedData(t, c.agents...)
	leader := c.leader(t, c.agents[0])
	others := faultOthers(c, leader)
	survivor := others[0]
	id := faultSubmit(t, survivor, faultSpec(t, "longrun", 40, "1s"))
	faultWaitRunningOn(t, survivor, id, survivor.name)
	var victims []int
	for i, a := range c.agents {
		if a != survivor {
			a.kill()
			victims = append(victims, i)
		}
	}
	t.Logf("killed %s and %s; %s is alone", leader.name, others[1].name, survivor.name)

	// A write over HTTP and one through the CLI, at the same time: each
	// waits for a leader for a while, then is refused.
	type answer struct {
		status int
		body   faultAPIError
		err    error
	}
	httpDone := make(chan answer, 1)
	go func() {
		body, _ := json.Marshal(map[string]any{"spec": "name: refused\ntasks:\n  - {name: a, op: noop}\n"})
		resp, err := invHTTP.Post(survivor.URL+"/api/v1/runs", "application/json", strings.NewReader(string(body)))
		if err != nil {
			httpDone <- answer{err: err}
			return
		}
		defer resp.Body.Close()
		var ans answer
		ans.status = resp.StatusCode
		b, _ := io.ReadAll(resp.Body)
		ans.err = json.Unmarshal(b, &ans.body)
		httpDone <- ans
	}()
	stdout, stderr, code := forged(t, "submit", faultSpec(t, "refused-cli", 1, "10ms"), "--addr", survivor.URL)
	ans := <-httpDone
	if ans.err != nil || ans.status != http.StatusServiceUnavailable || ans.body.Error.Code != "unavailable" ||
		!strings.Contains(ans.body.Error.Message, faultQuorumLost) || !strings.Contains(ans.body.Error.Message, "reads are still served") {
		t.Fatalf("write without quorum: HTTP %d %+v (%v), want 503 unavailable saying %q", ans.status, ans.body, ans.err, faultQuorumLost)
	}
	t.Logf("HTTP answer: %d %s", ans.status, ans.body.Error.Message)
	if code != 1 || stdout != "" || !strings.Contains(stderr, faultQuorumLost) || !strings.Contains(stderr, "HTTP 503") {
		t.Fatalf("CLI submit without quorum: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	t.Logf("CLI says: %s", strings.TrimSpace(stderr))

	// Reads are still served by the survivor, from its replica.
	var r invRun
	if _, err := invGetJSON(survivor.URL, "/api/v1/runs/"+id, &r); err != nil || invTerminal(r.Status) {
		t.Fatalf("read of run %s without quorum: %v, status %q (it cannot end without commits)", id, err, r.Status)
	}
	if runs, err := invListRuns(survivor.URL); err != nil || runs[id] == nil || len(runs) != 1 {
		t.Fatalf("run listing without quorum: %d runs, %v", len(runs), err)
	}
	if info, err := faultClusterView(survivor); err != nil || info.Leader != "" {
		t.Fatalf("cluster view without quorum: leader %q, %v", info.Leader, err)
	}
	out, stderr, code := forged(t, "status", "--addr", survivor.URL)
	if code != 0 || !strings.Contains(out, id) || !strings.Contains(out, "no leader") {
		t.Fatalf("forged status without quorum: exit %d\n%s%s", code, out, stderr)
	}

	// The two come back (each waits for a leader as it starts, so both
	// start at once), joining the survivor, and the cluster finishes the
	// run.
	info, err := faultClusterView(survivor)
	if err != nil {
		t.Fatal(err)
	}
	var join []string
	for _, m := range info.Members {
		if m.Name == survivor.name {
			join = []string{"--join", m.Address}
		}
	}
	back := make([]*agent, len(victims))
	var wg sync.WaitGroup
	for k, i := range victims {
		wg.Add(1)
		go func() {
			defer wg.Done()
			back[k] = c.agents[i].restart(t, join...)
		}()
	}
	wg.Wait()
	for k, i := range victims {
		if back[k] == nil {
			t.Fatalf("%s did not come back", c.agents[i].name)
		}
		c.agents[i] = back[k]
	}
	faultWaitAllVoting(t, c, survivor)
	waitSucceeded(t, survivor, id, 40+faultTasks)
	after := faultSubmit(t, c.agents[victims[0]], faultSpec(t, "after", 3, "10ms"))
	waitSucceeded(t, survivor, after, 3+faultTasks)
	// No unacknowledged run is allowed: the refused writes must not have
	// been committed behind the user's back.
	requireInvariants(t, c.agents, []string{id, after}, invariantOptions{RequireSucceeded: true, Rows: faultRows})
}
