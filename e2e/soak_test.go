package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The soak: pipelines are submitted without pause to random live nodes of
// a three-node cluster while, at random moments, a random node (the
// leader one time in three) is killed with -9 and restarted, one at a
// time. After FORGED_SOAK (a Go duration), the chaos and the submissions
// stop, the cluster finishes its work and the invariant checker runs over
// every acknowledged run. It only runs when asked: `make soak`, or
// FORGED_SOAK=10m go test -run TestSoak -v ./e2e/. FORGED_SOAK_SEED
// replays the same choices (the timings of processes still differ).

// soakDefault is the soak's length when FORGED_SOAK is "1" or "true".
const soakDefault = 10 * time.Minute

// soakSettle bounds the wait, after the chaos, for every run to end.
const soakSettle = 5 * time.Minute

// soakMaxSubmissions bounds the submissions of one soak, whatever its
// length.
const soakMaxSubmissions = 20000

// soakDuration reads FORGED_SOAK, or skips the test when it is unset.
func soakDuration(t *testing.T) time.Duration {
	t.Helper()
	v := os.Getenv("FORGED_SOAK")
	switch v {
	case "":
		t.Skip("soak test: set FORGED_SOAK to a duration (FORGED_SOAK=10m) or run `make soak`")
	case "1", "true":
		return soakDefault
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		t.Fatalf("FORGED_SOAK=%q is not a positive Go duration such as 10m", v)
	}
	return d
}

// soakSeed reads FORGED_SOAK_SEED, or picks a seed.
func soakSeed(t *testing.T) uint64 {
	t.Helper()
	if v := os.Getenv("FORGED_SOAK_SEED"); v != "" {
		s, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("FORGED_SOAK_SEED=%q is not a number", v)
		}
		return s
	}
	return uint64(time.Now().UnixNano())
}

// soakTargets are the API addresses the submitter may use: a node is
// taken out before it is killed and put back once it listens again.
type soakTargets struct {
	mu   sync.Mutex
	urls []string // "" while the node is down
}

// set records agent i's address, or "" for down.
func (s *soakTargets) set(i int, url string) {
	s.mu.Lock()
	s.urls[i] = url
	s.mu.Unlock()
}

// pick returns a random live address.
func (s *soakTargets) pick(rng *rand.Rand) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var up []string
	for _, u := range s.urls {
		if u != "" {
			up = append(up, u)
		}
	}
	if len(up) == 0 {
		return ""
	}
	return up[rng.IntN(len(up))]
}

// soakStats counts what the submitter saw.
type soakStats struct {
	mu          sync.Mutex
	acked       []string
	submitted   int
	refused     int // a node answered with an error status
	unreachable int // the request failed: its node was being killed
	errors      []string
}

// note keeps the first few errors for the summary.
func (s *soakStats) note(format string, args ...any) {
	if len(s.errors) < 10 {
		s.errors = append(s.errors, fmt.Sprintf(format, args...))
	}
}

// soakSubmitLoop submits random pipelines until stop is closed, at most
// soakMaxSubmissions. It uses plain HTTP and never fails the test: what
// it saw is in stats.
func soakSubmitLoop(rng *rand.Rand, targets *soakTargets, stats *soakStats, stop <-chan struct{}) {
	client := &http.Client{Timeout: time.Minute}
	for n := 0; n < soakMaxSubmissions; n++ {
		select {
		case <-stop:
			return
		case <-time.After(time.Duration(100+rng.IntN(600)) * time.Millisecond):
		}
		url := targets.pick(rng)
		if url == "" {
			continue
		}
		spec := faultSpecText(fmt.Sprintf("soak%d", rng.IntN(4)), 1+rng.IntN(12), fmt.Sprintf("%dms", 20+rng.IntN(400)))
		body, _ := json.Marshal(map[string]any{"spec": spec})
		stats.mu.Lock()
		stats.submitted++
		stats.mu.Unlock()
		resp, err := client.Post(url+"/api/v1/runs", "application/json", strings.NewReader(string(body)))
		if err != nil {
			stats.mu.Lock()
			stats.unreachable++
			stats.mu.Unlock()
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var out struct {
			RunID string `json:"run_id"`
		}
		stats.mu.Lock()
		if resp.StatusCode == http.StatusAccepted && json.Unmarshal(b, &out) == nil && out.RunID != "" {
			stats.acked = append(stats.acked, out.RunID)
		} else {
			stats.refused++
			stats.note("%s: HTTP %d: %s", url, resp.StatusCode, strings.TrimSpace(string(b)))
		}
		stats.mu.Unlock()
	}
}

// Continuous submissions under random kill -9 and restarts of one node at
// a time; then every acknowledged run must have succeeded, exactly once,
// with readable outputs, on replicas that agree.
func TestSoakRandomKillNineUnderLoad(t *testing.T) {
	dur := soakDuration(t)
	seed := soakSeed(t)
	t.Logf("soak for %s, seed %d (FORGED_SOAK_SEED=%d replays the choices)", dur, seed, seed)
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	subRng := rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64()))

	c := faultPinnedCluster(t)
	faultSeedData(t, c.agents...)
	targets := &soakTargets{urls: make([]string, len(c.agents))}
	for i, a := range c.agents {
		targets.set(i, a.URL)
	}
	stats := &soakStats{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		soakSubmitLoop(subRng, targets, stats, stop)
	}()
	stopped := false
	stopSubmitter := func() {
		if !stopped {
			stopped = true
			close(stop)
			wg.Wait()
		}
	}
	t.Cleanup(stopSubmitter) // also when the chaos fails the test

	start := time.Now()
	deadline := start.Add(dur)
	kills, leaderKills := 0, 0
	for {
		pause := time.Duration(2000+rng.IntN(8000)) * time.Millisecond
		if time.Now().Add(pause).After(deadline) {
			break
		}
		time.Sleep(pause)
		victim := rng.IntN(len(c.agents))
		if rng.IntN(3) == 0 {
			if info, err := faultClusterView(c.agents[(victim+1)%len(c.agents)]); err == nil {
				for i, a := range c.agents {
					if a.name == info.Leader {
						victim = i
						leaderKills++
					}
				}
			}
		}
		a := c.agents[victim]
		targets.set(victim, "")
		a.kill()
		kills++
		down := time.Duration(rng.IntN(3000)) * time.Millisecond
		t.Logf("%s: kill -9 %s, back in %s", time.Since(start).Round(time.Second), a.name, down.Round(time.Millisecond))
		time.Sleep(down)
		back := faultRestart(t, c, victim)
		faultWaitAllVoting(t, c, back)
		targets.set(victim, back.URL)
	}
	stopSubmitter()
	chaos := time.Since(start)

	stats.mu.Lock()
	acked := append([]string(nil), stats.acked...)
	summary := fmt.Sprintf("soak: %s of chaos, seed %d: %d kill -9 (%d of the leader) and restarts; %d submissions: %d acknowledged, %d refused, %d lost with their node",
		chaos.Round(time.Second), seed, kills, leaderKills, stats.submitted, len(acked), stats.refused, stats.unreachable)
	for _, e := range stats.errors {
		summary += "\n  refused: " + e
	}
	stats.mu.Unlock()
	if len(acked) == 0 {
		t.Fatalf("%s\nno submission was acknowledged", summary)
	}
	// A submission cut short by a kill may have been committed: such runs
	// are allowed, and must end and agree like the others.
	rep := checkInvariants(t, c.agents, acked, invariantOptions{
		Settle: soakSettle, RequireSucceeded: true, AllowUnacked: true, Rows: faultRows,
	})
	t.Logf("\n%s\n%s", summary, rep.String())
	if !rep.OK() {
		t.Errorf("invariants broken after the soak:\n%s", rep.String())
	}
}
