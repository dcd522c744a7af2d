package e2e

import (
	"encoding/json"

	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// freePort returns a loopback port free for TCP and UDP (gossip uses
// both), so the first agent's gossip address is known before it starts.
func freePort(t *testing.T) int {
	t.Helper()
	for i := 0; i < 20; i++ {
		tl, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := tl.Addr().(*net.TCPAddr).Port
		ul, err := net.ListenPacket("udp", tl.Addr().String())
		tl.Close()
		if err == nil {
			ul.Close()
			return port
		}
	}
	t.Fatal("no free port")
	return 0
}

// cluster is three agent processes that bootstrap one cluster.
type cluster struct {
	agents []*agent
	join   string
}

func startCluster(t *testing.T) *cluster {
	t.Helper()
	return startClusterWith(t, nil)
}

// startClusterWith starts the cluster with flags(i) added to agent i's.
func startClusterWith(t *testing.T, flags func(i int) []string) *cluster {
	t.Helper()
	port := freePort(t)
	c := &cluster{join: "127.0.0.1:" + strconv.Itoa(port), agents: make([]*agent, 3)}
	done := make(chan error, 3)
	for i := range c.agents {
		gossip := "0"
		var extra []string
		if i == 0 {
			gossip = strconv.Itoa(port)
		} else {
			extra = []string{"--join", c.join}
		}
		name := fmt.Sprintf("n%d", i+1)
		dir := t.TempDir()
		if flags != nil {
			extra = append(extra, flags(i)...)
		}
		go func() {
			defer func() { done <- nil }()
			c.agents[i] = startNamedAgent(t, name, dir, append([]string{"--gossip-port", gossip, "--bootstrap-expect", "3"}, extra...)...)
		}()
	}
	for range c.agents {
		<-done
	}
	for _, a := range c.agents {
		if a == nil {
			t.FailNow()
		}
	}
	return c
}

type clusterJSON struct {
	Leader  string `json:"leader"`
	Members []struct {
		Name    string `json:"name"`
		Address string `json:"address"`
		Status  string `json:"status"`
		Role    string `json:"role"`
	} `json:"members"`
}

// leader asks a live agent who leads and returns that agent.
func (c *cluster) leader(t *testing.T, via *agent) *agent {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		out, _, code := forged(t, "members", "--json", "--addr", via.URL)
		var info clusterJSON
		if code == 0 && json.Unmarshal([]byte(out), &info) == nil && info.Leader != "" {
			for i, a := range c.agents {
				if fmt.Sprintf("n%d", i+1) == info.Leader {
					return a
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("no leader within 30s")
	return nil
}

// wideSpec writes a pipeline of tasks sleep tasks. With deps, every task
// needs a root task and every tenth also the one before it; without, the
// tasks are independent.
func wideSpec(t *testing.T, tasks int, nap string, deps bool) string {
	var sb strings.Builder
	sb.WriteString("name: wide\ntasks:\n  - {name: root, op: noop}\n")
	for i := 1; i < tasks; i++ {
		needs := ""
		switch {
		case deps && i%10 == 0 && i > 1:
			needs = fmt.Sprintf(", needs: [root, t%03d]", i-1)
		case deps:
			needs = ", needs: [root]"
		}
		fmt.Fprintf(&sb, "  - {name: t%03d, op: sleep%s, with: {duration: %s}}\n", i, needs, nap)
	}
	path := filepath.Join(t.TempDir(), "wide.yaml")
	if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// waitSucceeded polls a run through an agent until it is terminal and
// checks every task succeeded.
func waitSucceeded(t *testing.T, via *agent, id string, tasks int) runJSON {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		out, stderr, code := forged(t, "status", id, "--json", "--addr", via.URL)
		if code == 0 {
			r := decodeRun(t, out)
			switch r.Status {
			case "succeeded":
				if len(r.Tasks) != tasks {
					t.Fatalf("run has %d tasks, want %d", len(r.Tasks), tasks)
				}
				for _, task := range r.Tasks {
					if task.Status != "succeeded" {
						t.Fatalf("task %s is %s in a succeeded run", task.Name, task.Status)
					}
				}
				return r
			case "failed", "cancelled":
				t.Fatalf("run %s: %s", r.Status, out)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("run %s did not finish in 2 minutes: %s", id, stderr)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestClusterRunsA200TaskDAGSubmittedToAFollower(t *testing.T) {
	c := startCluster(t)
	leader := c.leader(t, c.agents[0])
	var follower *agent
	for _, a := range c.agents {
		if a != leader {
			follower = a
		}
	}
	stdout, stderr, code := forged(t, "submit", wideSpec(t, 200, "20ms", true), "--addr", follower.URL)
	if code != 0 {
		t.Fatalf("submit to follower exit %d: %s", code, stderr)
	}
	r := waitSucceeded(t, follower, strings.TrimSpace(stdout), 200)
	for _, task := range r.Tasks {
		if task.Attempt != 1 {
			t.Fatalf("task %s ran %d times in a cluster with no failures", task.Name, task.Attempt)
		}
	}
	out, _, _ := forged(t, "members", "--addr", follower.URL)
	if strings.Count(out, "alive") != 3 || !strings.Contains(out, "leader") {
		t.Fatalf("members:\n%s", out)
	}
}
