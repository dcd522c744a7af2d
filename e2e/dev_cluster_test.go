package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startDev runs `forged dev` with args and returns it running; stop ends
// it with SIGTERM and waits.
func startDev(t *testing.T, args ...string) (stop func()) {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"dev"}, args...)...)
	cmd.Env = append(os.Environ(), "FORGED_TOKENS=")
	out := &syncBuffer{}
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
	return stop
}

// waitUntilT polls cond until it holds, failing the test after limit.
func waitUntilT(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(limit); !cond(); time.Sleep(250 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", limit, what)
		}
	}
}

// A dev cluster kept in a data dir starts again from it: its nodes come
// back on the same addresses, elect a leader and still know the runs.
func TestDevClusterRestartsFromItsDataDir(t *testing.T) {
	port := freePort(t)
	addr := fmt.Sprintf("http://127.0.0.1:%d", port)
	dir := t.TempDir()
	args := []string{"--nodes", "3", "--http", fmt.Sprintf("127.0.0.1:%d", port), "--data-dir", dir}

	stop := startDev(t, args...)
	var runID string
	waitUntilT(t, 60*time.Second, "the example run to succeed", func() bool {
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
	})
	stop()

	startDev(t, append(args, "--no-example")...)
	waitUntilT(t, 60*time.Second, "the restarted cluster to answer with the old run", func() bool {
		out, _, code := forged(t, "status", runID, "--addr", addr)
		return code == 0 && strings.Contains(out, "succeeded")
	})
	out, _, _ := forged(t, "members", "--addr", addr)
	if strings.Count(out, "alive") != 3 {
		t.Fatalf("after the restart, members:\n%s", out)
	}
}
