package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"
)

// netLab is a small network made of namespaces this test creates: a
// switch namespace holding a bridge, and one namespace per node, each
// plugged into the bridge by a veth pair and given 10.201.0.N/24. Cutting
// a node's port on the bridge partitions it from every other node, as a
// pulled cable would; nothing outside the namespaces is touched, and the
// namespaces (with their interfaces) go in t.Cleanup.
type netLab struct {
	t      *testing.T
	prefix string
	nodes  []string // namespace of node i
}

// newNetLab builds the network for n nodes, or skips the test when the
// machine cannot make namespaces (not root, no ip command); in CI (CI set)
// that is a failure instead.
func newNetLab(t *testing.T, n int) *netLab {
	t.Helper()
	unavailable := func(why string) {
		if os.Getenv("CI") != "" {
			t.Fatalf("network namespaces are needed for the partition test and CI must have them: %s", why)
		}
		t.Skipf("network namespaces are unavailable here (%s); the partition test needs root and iproute2", why)
	}
	if os.Geteuid() != 0 {
		unavailable("not running as root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		unavailable("no ip command")
	}
	lab := &netLab{t: t, prefix: fmt.Sprintf("fgp%d-", os.Getpid())}
	sw := lab.prefix + "sw"
	if out, err := exec.Command("ip", "netns", "add", sw).CombinedOutput(); err != nil {
		unavailable(fmt.Sprintf("ip netns add: %v: %s", err, out))
	}
	t.Cleanup(func() {
		for _, ns := range append([]string{sw}, lab.nodes...) {
			exec.Command("ip", "netns", "del", ns).Run()
		}
	})
	lab.ip(sw, "link", "add", "br0", "type", "bridge")
	lab.ip(sw, "link", "set", "br0", "up")
	for i := 1; i <= n; i++ {
		ns := fmt.Sprintf("%sn%d", lab.prefix, i)
		if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
			t.Fatalf("ip netns add %s: %v: %s", ns, err, out)
		}
		lab.nodes = append(lab.nodes, ns)
		port := fmt.Sprintf("p%d", i)
		lab.ip(sw, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns)
		lab.ip(sw, "link", "set", port, "master", "br0")
		lab.ip(sw, "link", "set", port, "up")
		lab.ip(ns, "addr", "add", lab.addr(i)+"/24", "dev", "eth0")
		lab.ip(ns, "link", "set", "eth0", "up")
		lab.ip(ns, "link", "set", "lo", "up")
	}
	return lab
}

// ip runs `ip -n NS args...`, failing the test on error.
func (l *netLab) ip(ns string, args ...string) {
	l.t.Helper()
	if out, err := exec.Command("ip", append([]string{"-n", ns}, args...)...).CombinedOutput(); err != nil {
		l.t.Fatalf("ip -n %s %s: %v: %s", ns, strings.Join(args, " "), err, out)
	}
}

// addr is node i's address (1-based).
func (l *netLab) addr(i int) string { return fmt.Sprintf("10.201.0.%d", i) }

// cut unplugs node i (1-based) from the switch; plug puts it back.
func (l *netLab) cut(i int)  { l.ip(l.prefix+"sw", "link", "set", fmt.Sprintf("p%d", i), "down") }
func (l *netLab) plug(i int) { l.ip(l.prefix+"sw", "link", "set", fmt.Sprintf("p%d", i), "up") }

// startAgent runs `forged agent` as node i inside its namespace, with
// Raft, gossip, Flight and the API on its address, joining node 1.
func (l *netLab) startAgent(t *testing.T, i int) *agent {
	t.Helper()
	name := fmt.Sprintf("n%d", i)
	dir := t.TempDir()
	args := []string{"netns", "exec", l.nodes[i-1], binary, "agent", "--name", name, "--data-dir", dir,
		"--bind", l.addr(i), "--http", l.addr(i) + ":8080", "--raft-port", "7947", "--gossip-port", "7946",
		"--flight-port", "7948", "--slots", "4", "--bootstrap-expect", "3"}
	for j := 1; j <= len(l.nodes); j++ {
		if j != i {
			args = append(args, "--join", l.addr(j)+":7946")
		}
	}
	return launchAgent(t, name, dir, exec.Command("ip", args...))
}

// forged runs the CLI inside node i's namespace against node i's API,
// within limit, and returns stdout, stderr and the exit code (-1 when it
// ran out of time).
func (l *netLab) forged(t *testing.T, i int, limit time.Duration, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	full := append([]string{"netns", "exec", l.nodes[i-1], binary}, args...)
	full = append(full, "--addr", "http://"+l.addr(i)+":8080")
	cmd := exec.CommandContext(ctx, "ip", full...)
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), "FORGED_ADDR=", "FORGED_TOKEN=")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		return stdout.String(), stderr.String(), -1
	}
	code := 0
	if exit, ok := err.(*exec.ExitError); ok {
		code = exit.ExitCode()
	} else if err != nil {
		t.Fatalf("forged %s: %v", strings.Join(args, " "), err)
	}
	return stdout.String(), stderr.String(), code
}

// leaderSeenBy is the leader node i reports ("" for none).
func (l *netLab) leaderSeenBy(t *testing.T, i int) string {
	t.Helper()
	out, _, code := l.forged(t, i, 10*time.Second, "members", "--json")
	var info clusterJSON
	if code != 0 || json.Unmarshal([]byte(out), &info) != nil {
		return ""
	}
	return info.Leader
}

// runView is what must agree across nodes: a run's status and, per task,
// its status and attempt number.
func (l *netLab) runView(t *testing.T, i int, id string) (string, bool) {
	t.Helper()
	out, _, code := l.forged(t, i, 20*time.Second, "status", id, "--json")
	if code != 0 {
		return "", false
	}
	r := decodeRun(t, out)
	var tasks []string
	for _, tk := range r.Tasks {
		tasks = append(tasks, fmt.Sprintf("%s=%s#%d", tk.Name, tk.Status, tk.Attempt))
	}
	sort.Strings(tasks)
	return r.Status + " " + strings.Join(tasks, ","), true
}

// runIDs lists the runs node i knows.
func (l *netLab) runIDs(t *testing.T, i int) []string {
	t.Helper()
	out, _, code := l.forged(t, i, 20*time.Second, "status", "--json")
	if code != 0 {
		return nil
	}
	var runs []struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal([]byte(out), &runs); err != nil {
		var wrapped struct {
			Runs []struct {
				ID string `json:"id"`
			} `json:"runs"`
		}
		if json.Unmarshal([]byte(out), &wrapped) != nil {
			return nil
		}
		runs = wrapped.Runs
	}
	ids := make([]string, 0, len(runs))
	for _, r := range runs {
		ids = append(ids, r.ID)
	}
	sort.Strings(ids)
	return ids
}

// The leader of a 3-node cluster is cut off from the other two in the
// middle of a run. The isolated leader stops taking writes (a clear error,
// no hang, nothing committed), the majority elects a new leader and
// finishes the run, and once the cable is back the old leader catches up:
// every node shows the same runs with the same task states and attempts.
func TestPartitionedLeaderStepsDownAndCatchesUp(t *testing.T) {
	lab := newNetLab(t, 3)
	agents := make([]*agent, 3)
	done := make(chan struct{}, 3)
	for i := range agents {
		go func() {
			defer func() { done <- struct{}{} }()
			agents[i] = lab.startAgent(t, i+1)
		}()
	}
	for range agents {
		<-done
	}
	for _, a := range agents {
		if a == nil {
			t.FailNow()
		}
	}
	var leader string
	if !eventually(30*time.Second, func() bool { leader = lab.leaderSeenBy(t, 1); return leader != "" }) {
		t.Fatal("no leader within 30s")
	}
	old := int(leader[1] - '0') // "nK" → K
	var majority []int
	for i := 1; i <= 3; i++ {
		if i != old {
			majority = append(majority, i)
		}
	}
	t.Logf("leader is %s; cutting it off", leader)

	spec := wideSpec(t, 40, "300ms", false)
	stdout, stderr, code := lab.forged(t, majority[0], time.Minute, "submit", spec)
	if code != 0 {
		t.Fatalf("submit exit %d: %s", code, stderr)
	}
	id := strings.TrimSpace(stdout)
	time.Sleep(500 * time.Millisecond) // tasks run on every node now
	lab.cut(old)
	cutAt := time.Now()

	// The isolated old leader gives up leadership: it cannot reach a
	// quorum, so it must not keep claiming it.
	if !eventually(20*time.Second, func() bool { return lab.leaderSeenBy(t, old) != leader }) {
		t.Fatalf("node %s still says it leads %s after being cut off", leader, time.Since(cutAt))
	}
	// And it refuses writes with an error, within bounded time.
	_, stderr, code = lab.forged(t, old, 45*time.Second, "submit", wideSpec(t, 2, "10ms", false))
	switch {
	case code == -1:
		t.Fatal("a submission to the isolated old leader hung for 45s")
	case code == 0:
		t.Fatal("the isolated old leader acknowledged a submission it cannot commit")
	case strings.TrimSpace(stderr) == "":
		t.Fatal("the refused submission printed no error")
	}
	t.Logf("the isolated node refused a write: %s", strings.TrimSpace(stderr))

	// The majority elects a new leader among themselves ...
	var newLeader string
	if !eventually(30*time.Second, func() bool {
		newLeader = lab.leaderSeenBy(t, majority[0])
		return newLeader != "" && newLeader != leader && lab.leaderSeenBy(t, majority[1]) == newLeader
	}) {
		t.Fatalf("the majority elected no new leader (%q)", newLeader)
	}
	t.Logf("new leader %s after %s", newLeader, time.Since(cutAt).Round(time.Millisecond))
	// ... and finishes the run, moving the old leader's tasks.
	var view string
	if !eventually(90*time.Second, func() bool {
		v, ok := lab.runView(t, majority[0], id)
		view = v
		return ok && strings.HasPrefix(v, "succeeded ")
	}) {
		t.Fatalf("the majority did not finish the run: %s", view)
	}

	lab.plug(old)
	// After healing, all three agree on the runs and on every task's state
	// and attempt, the old leader included.
	var views [3]string
	var ids [3][]string
	if !eventually(45*time.Second, func() bool {
		for i := 1; i <= 3; i++ {
			views[i-1], _ = lab.runView(t, i, id)
			ids[i-1] = lab.runIDs(t, i)
		}
		return views[0] != "" && views[0] == views[1] && views[1] == views[2] &&
			reflect.DeepEqual(ids[0], ids[1]) && reflect.DeepEqual(ids[1], ids[2])
	}) {
		t.Fatalf("nodes disagree after healing:\n%s\n%s\n%s\nruns %v %v %v", views[0], views[1], views[2], ids[0], ids[1], ids[2])
	}
	if !strings.HasPrefix(views[0], "succeeded ") {
		t.Fatalf("the run is %s", views[0])
	}
	if len(ids[0]) != 1 || ids[0][0] != id {
		t.Fatalf("runs after healing: %v; want only %s (the refused write must not appear)", ids[0], id)
	}
	if !eventually(30*time.Second, func() bool { return lab.leaderSeenBy(t, old) == newLeader }) {
		t.Fatalf("the old leader does not follow %s after healing", newLeader)
	}
}
