package e2e

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startDev runs `forged dev` with args and returns it running; stop ends
// it with SIGTERM and waits.
func startDev(t *testing.T, args ...string) (stop func()) {
	stop, _ = startDevOutput(t, args...)
	return stop
}

// startDevOutput is startDev that also gives what forged dev prints.
func startDevOutput(t *testing.T, args ...string) (stop func(), out *syncBuffer) {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"dev"}, args...)...)
	cmd.Env = append(os.Environ(), "FORGED_TOKENS=")
	out = &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	stop = func() {
		select {
		case <-exited:
			return
		default:
		}
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("forged dev output:\n%s", out.String())
		}
	})
	return stop, out
}

// The README's first command: forged dev starts a node with the web UI and
// the bundled examples, and runs etl and churn to success; the node then
// serves the churn model it trained.
func TestDevRunsTheExamples(t *testing.T) {
	port := freePort(t)
	addr := fmt.Sprintf("http://127.0.0.1:%d", port)
	_, out := startDevOutput(t, "--http", fmt.Sprintf("127.0.0.1:%d", port))
	if !eventually(60*time.Second, func() bool {
		o, _, code := forged(t, "status", "--addr", addr, "--json")
		var st struct {
			Runs []struct {
				Pipeline string `json:"pipeline"`
				Status   string `json:"status"`
			} `json:"runs"`
		}
		if code != 0 || json.Unmarshal([]byte(o), &st) != nil {
			return false
		}
		done := map[string]string{}
		for _, r := range st.Runs {
			done[r.Pipeline] = r.Status
		}
		return done["etl"] == "succeeded" && done["churn"] == "succeeded"
	}) {
		t.Fatal("etl and churn did not both succeed within 60s")
	}
	if !strings.Contains(out.String(), "web UI:   "+addr+"/ui/") {
		t.Fatalf("forged dev does not say where the web UI is:\n%s", out.String())
	}
	resp, err := http.Get(addr + "/ui/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /ui/: %d", resp.StatusCode)
	}
	o, _, code := forged(t, "predict", "churn", "--addr", addr, "--json",
		`{"records": [{"tenure_months": 3, "monthly_charges": 95, "support_calls": 4, "month_to_month": true}]}`)
	if p, err := strconv.ParseFloat(strings.TrimSpace(o), 64); code != 0 || err != nil || p <= 0 || p >= 1 {
		t.Fatalf("predict with the trained churn model: exit %d, %q; want a probability", code, o)
	}
}

// devClusterPort finds an API port for a dev cluster kept in a data dir:
// its three nodes take the two ports above it, and Raft, gossip and Flight
// 100, 200 and 300 above those, all of which must be free. It looks below
// the kernel's range for ephemeral ports, which other tests' port-0
// listeners take from.
func devClusterPort(t *testing.T) int {
	t.Helper()
	free := func(port int) bool {
		tl, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			return false
		}
		defer tl.Close()
		ul, err := net.ListenPacket("udp", tl.Addr().String())
		if err != nil {
			return false
		}
		ul.Close()
		return true
	}
	for try := 0; try < 200; try++ {
		base := 20000 + rand.IntN(10000)
		ok := true
		for _, off := range []int{0, 100, 200, 300} {
			for i := 0; i < 3 && ok; i++ {
				ok = free(base + off + i)
			}
		}
		if ok {
			return base
		}
	}
	t.Fatal("no free block of ports for a dev cluster")
	return 0
}

// A dev cluster kept in a data dir starts again from it: its nodes come
// back on the same addresses, elect a leader and still know the runs.
func TestDevClusterRestartsFromItsDataDir(t *testing.T) {
	port := devClusterPort(t)
	addr := fmt.Sprintf("http://127.0.0.1:%d", port)
	dir := t.TempDir()
	args := []string{"--nodes", "3", "--http", fmt.Sprintf("127.0.0.1:%d", port), "--data-dir", dir}

	stop := startDev(t, args...)
	var runID string
	if !eventually(60*time.Second, func() bool {
		out, _, code := forged(t, "status", "--addr", addr, "--json")
		if code != 0 {
			return false
		}
		var st struct {
			Runs []runJSON `json:"runs"`
		}
		if json.Unmarshal([]byte(out), &st) != nil || len(st.Runs) == 0 || st.Runs[0].Status != "succeeded" {
			return false
		}
		runID = st.Runs[0].ID
		return true
	}) {
		t.Fatal("the example run did not succeed within 60s")
	}
	stop()

	startDev(t, append(args, "--no-example")...)
	if !eventually(60*time.Second, func() bool {
		out, _, code := forged(t, "status", runID, "--addr", addr)
		return code == 0 && strings.Contains(out, "succeeded")
	}) {
		t.Fatal("the restarted cluster did not answer with the old run within 60s")
	}
	out, _, _ := forged(t, "members", "--addr", addr)
	if strings.Count(out, "alive") != 3 {
		t.Fatalf("after the restart, members:\n%s", out)
	}
}
