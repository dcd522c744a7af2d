package e2e

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// runEnds polls a run through an agent until it is succeeded, failed or
// cancelled (at most a minute) and returns it.
func runEnds(t *testing.T, via *agent, id string) runJSON {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		out, stderr, code := forged(t, "status", id, "--json", "--addr", via.URL)
		if code == 0 {
			if r := decodeRun(t, out); r.Status == "succeeded" || r.Status == "failed" || r.Status == "cancelled" {
				return r
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("run %s did not end within a minute: %s %s", id, out, stderr)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// submitSpec writes spec to a file, submits it to a and returns the run id.
func submitSpec(t *testing.T, a *agent, spec string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "spec.yaml")
	if err := os.WriteFile(path, []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := forged(t, "submit", path, "--addr", a.URL)
	if code != 0 {
		t.Fatalf("submit exit %d: %s\nspec:\n%s", code, stderr, spec)
	}
	return strings.TrimSpace(stdout)
}

// lastError is the error of a task's latest attempt.
func lastError(r runJSON, task string) string {
	for _, tk := range r.Tasks {
		if tk.Name == task && len(tk.Attempts) > 0 {
			return tk.Attempts[len(tk.Attempts)-1].Error
		}
	}
	return ""
}

// waitPidFile waits (at most 30s) for a file holding a pid and returns it.
func waitPidFile(t *testing.T, path string) int {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, err := os.ReadFile(path)
		if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && perr == nil && pid > 0 {
			return pid
		}
		if time.Now().After(deadline) {
			t.Fatalf("no pid in %s after 30s", path)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// liveInGroup lists the processes of process group pgid that have not
// exited (zombies waiting for a parent to reap them count as exited).
func liveInGroup(pgid int) []int {
	entries, _ := os.ReadDir("/proc")
	var live []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp ...: comm may hold spaces, so
		// split after its closing parenthesis.
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 3 || f[0] == "Z" || f[0] == "X" {
			continue
		}
		if g, _ := strconv.Atoi(f[2]); g == pgid {
			live = append(live, pid)
		}
	}
	return live
}

// groupGone waits (at most 10s) until no process of the group is alive.
func groupGone(t *testing.T, pgid int, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		live := liveInGroup(pgid)
		if len(live) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: processes %v of the task's group %d still run", what, live, pgid)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// foreverSpec is a pipeline whose only task never ends on its own: it
// starts a child that ignores SIGTERM, writes its group's id to dir/pgid,
// and sleeps.
func foreverSpec(name, dir, timeout string) string {
	spec := fmt.Sprintf(`name: %s
tasks:
  - name: forever
    env: {PIDDIR: %q}
    script: |
      sh -c 'trap "" TERM; sleep 1000' &
      echo $$ > "$PIDDIR/pgid"
      trap "" TERM
      sleep 1000
`, name, dir)
	if timeout != "" {
		spec += "    timeout: " + timeout + "\n"
	}
	return spec
}

// An exec task that never ends is stopped by its timeout, and one by
// `forged cancel`; either way its whole process group, a child that
// ignores SIGTERM included, is gone afterwards, and the node goes on.
func TestRunawayExecTasksAreStopped(t *testing.T) {
	a := startAgent(t, t.TempDir(), "--enable-exec")

	t.Run("timeout", func(t *testing.T) {
		dir := t.TempDir()
		id := submitSpec(t, a, foreverSpec("forever-timeout", dir, "2s"))
		pgid := waitPidFile(t, filepath.Join(dir, "pgid"))
		r := runEnds(t, a, id)
		if r.Status != "failed" || !strings.Contains(lastError(r, "forever"), "timed out after 2s") {
			t.Fatalf("run %s, task error %q; want failed, timed out after 2s", r.Status, lastError(r, "forever"))
		}
		groupGone(t, pgid, "after the timeout")
	})

	t.Run("cancel", func(t *testing.T) {
		dir := t.TempDir()
		id := submitSpec(t, a, foreverSpec("forever-cancel", dir, ""))
		pgid := waitPidFile(t, filepath.Join(dir, "pgid"))
		if live := liveInGroup(pgid); len(live) < 2 {
			t.Fatalf("the task's group %d holds %v; want the script and its child", pgid, live)
		}
		if _, stderr, code := forged(t, "cancel", id, "--addr", a.URL); code != 0 {
			t.Fatalf("cancel exit %d: %s", code, stderr)
		}
		r := runEnds(t, a, id)
		if r.Status != "cancelled" {
			t.Fatalf("run %s after cancel", r.Status)
		}
		groupGone(t, pgid, "after cancel")
	})

	t.Run("memory", func(t *testing.T) {
		// The shell keeps 200 MB in a variable; under 64MiB its
		// allocation fails.
		id := submitSpec(t, a, `name: hog
tasks:
  - name: hog
    memory: 64MiB
    script: |
      x=$(head -c 200000000 /dev/zero | tr '\0' a)
      echo "kept ${#x} bytes"
`)
		r := runEnds(t, a, id)
		msg := lastError(r, "hog")
		if r.Status != "failed" || !strings.Contains(msg, "memory limit of 64MiB") {
			t.Fatalf("run %s, task error %q; want failed with the memory limit named", r.Status, msg)
		}
		t.Logf("hog failed with: %s", msg)
	})

	// The node is still up and runs work.
	requireStillWorking(t, a, "the runaways")
	if err := syscall.Kill(a.cmd.Process.Pid, 0); errors.Is(err, syscall.ESRCH) {
		t.Fatal("the agent is gone")
	}
}

// requireStillWorking fails the test unless the agent, after what, is
// still running and runs a small pipeline to success.
func requireStillWorking(t *testing.T, a *agent, after string) {
	t.Helper()
	id := submitSpec(t, a, "name: after\ntasks:\n  - {name: a, op: noop}\n  - {name: b, op: noop, needs: [a]}\n")
	if r := runEnds(t, a, id); r.Status != "succeeded" {
		t.Fatalf("a run after %s: %s", after, r.Status)
	}
	select {
	case <-a.exited:
		t.Fatalf("the agent exited after %s", after)
	default:
	}
}
