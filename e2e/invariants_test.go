package e2e

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/ipc"
)

// The invariant checker: after a fault scenario, it reads the state of
// every live node over the HTTP API, as a user would, and checks what the
// cluster promises whatever happened to it.
//
//   - every acknowledged run (an ID a submit answered with) is present on
//     every node and terminal;
//   - every task of a succeeded run succeeded, exactly once: its last
//     attempt is the success and its history records no other success
//     (but one whose outputs were lost and recomputed, which the history
//     marks as such);
//   - every output of a succeeded run is readable from every node, as CSV
//     whose header and row count match the output's schema and rows, and
//     as an Arrow IPC stream with as many rows;
//   - all replicas agree: the same run IDs, and for each run the same run
//     state and the same state and attempt of every task.
//
// Replicas apply the log at their own pace, so the checker polls, for a
// bounded time, until every node shows the same terminal state; then it
// checks the rest on that state.

// invariantOptions tune one check.
type invariantOptions struct {
	// Settle bounds the wait for every acknowledged run to be terminal
	// and every replica to agree (default 60s).
	Settle time.Duration
	// RequireSucceeded makes any acknowledged run that did not succeed a
	// violation: scenarios whose pipelines cannot fail on their own.
	RequireSucceeded bool
	// AllowUnacked accepts runs nobody was told about: a submission that
	// failed with a timeout may still have been committed. Otherwise
	// such a run is a violation (a refused write that happened anyway).
	AllowUnacked bool
	// Rows, when set, gives the exact row count of a task's outputs in
	// every succeeded run that has the task.
	Rows map[string]int64
}

// invariantReport is what one check found: counts that describe the
// state, and the violations of the invariants. String prints it.
type invariantReport struct {
	Nodes        []string
	Settled      bool
	SettleTime   time.Duration
	Acked        int
	Runs         int            // distinct runs on the reference node
	Unacked      int            // runs present that no submit acknowledged
	ByStatus     map[string]int // acknowledged runs by status
	Tasks        int            // tasks of succeeded runs checked
	RanAgain     int            // of those, tasks with more than one attempt
	Recomputed   int            // successes redone because their outputs were lost
	OutputReads  int            // output reads that returned a valid body
	OutputChecks int            // distinct outputs checked
	Violations   []string
}

// invMaxViolations bounds the violations a report keeps; the rest are
// counted.
const invMaxViolations = 40

// violate records one broken invariant.
func (r *invariantReport) violate(format string, args ...any) {
	if len(r.Violations) < invMaxViolations {
		r.Violations = append(r.Violations, fmt.Sprintf(format, args...))
	} else if len(r.Violations) == invMaxViolations {
		r.Violations = append(r.Violations, "... more violations left out")
	}
}

// OK reports whether no invariant was broken.
func (r *invariantReport) OK() bool { return len(r.Violations) == 0 }

// String renders the report as a short, readable summary.
func (r *invariantReport) String() string {
	var sb strings.Builder
	settled := fmt.Sprintf("settled in %s", r.SettleTime.Round(10*time.Millisecond))
	if !r.Settled {
		settled = fmt.Sprintf("NOT settled after %s", r.SettleTime.Round(10*time.Millisecond))
	}
	fmt.Fprintf(&sb, "invariants over %s (%s):\n", strings.Join(r.Nodes, ", "), settled)
	statuses := make([]string, 0, len(r.ByStatus))
	for s, n := range r.ByStatus {
		statuses = append(statuses, fmt.Sprintf("%s %d", s, n))
	}
	sort.Strings(statuses)
	fmt.Fprintf(&sb, "  runs:     %d acknowledged (%s), %d on the nodes, %d not acknowledged\n",
		r.Acked, strings.Join(statuses, ", "), r.Runs, r.Unacked)
	fmt.Fprintf(&sb, "  tasks:    %d in succeeded runs, %d ran more than once, %d recomputed after lost outputs\n",
		r.Tasks, r.RanAgain, r.Recomputed)
	fmt.Fprintf(&sb, "  outputs:  %d checked, %d valid reads (CSV from every node, Arrow from one)\n",
		r.OutputChecks, r.OutputReads)
	if r.OK() {
		sb.WriteString("  verdict:  every invariant holds\n")
		return sb.String()
	}
	fmt.Fprintf(&sb, "  verdict:  %d violation(s)\n", len(r.Violations))
	for _, v := range r.Violations {
		sb.WriteString("    - " + v + "\n")
	}
	return sb.String()
}

// invRun is a run as the read endpoints return it, with what the
// checker needs.
type invRun struct {
	ID     string    `json:"id"`
	Status string    `json:"status"`
	Error  string    `json:"error"`
	Tasks  []invTask `json:"tasks"`
}

// invTask is one task of a invRun.
type invTask struct {
	Name     string `json:"name"`
	Status   string `json:"status"`
	Attempt  int    `json:"attempt"`
	Node     string `json:"node"`
	Error    string `json:"error"`
	Attempts []struct {
		Attempt int    `json:"attempt"`
		Status  string `json:"status"`
		Error   string `json:"error"`
	} `json:"attempts"`
	Outputs []struct {
		Name   string `json:"name"`
		Rows   int64  `json:"rows"`
		Schema []struct {
			Name string `json:"name"`
		} `json:"schema"`
	} `json:"outputs"`
}

// invTerminal tells whether a run status is final.
func invTerminal(s string) bool { return s == "succeeded" || s == "failed" || s == "cancelled" }

// fingerprint is the part of a run every replica must agree on.
func (r *invRun) fingerprint() string {
	var sb strings.Builder
	sb.WriteString(r.Status)
	for _, t := range r.Tasks {
		fmt.Fprintf(&sb, " %s=%s#%d", t.Name, t.Status, t.Attempt)
	}
	return sb.String()
}

// invHTTP is the client of the checker; every request is bounded.
var invHTTP = &http.Client{Timeout: 30 * time.Second}

// invGetJSON reads a JSON document from a node; it returns the status code.
func invGetJSON(base, path string, v any) (int, error) {
	resp, err := invHTTP.Get(base + path)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, err
	}
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, fmt.Errorf("GET %s: HTTP %d: %s", path, resp.StatusCode, bytes.TrimSpace(b))
	}
	return resp.StatusCode, json.Unmarshal(b, v)
}

// invListRuns pages through GET /runs on one node.
func invListRuns(base string) (map[string]*invRun, error) {
	runs := map[string]*invRun{}
	cursor := ""
	for page := 0; page < 1000; page++ {
		var out struct {
			Runs       []*invRun `json:"runs"`
			NextCursor string    `json:"next_cursor"`
		}
		path := "/api/v1/runs?limit=1000"
		if cursor != "" {
			path += "&cursor=" + url.QueryEscape(cursor)
		}
		if _, err := invGetJSON(base, path, &out); err != nil {
			return nil, err
		}
		for _, r := range out.Runs {
			runs[r.ID] = r
		}
		if out.NextCursor == "" {
			return runs, nil
		}
		cursor = out.NextCursor
	}
	return nil, fmt.Errorf("GET /runs on %s: more than 1000 pages", base)
}

// invNodeView is one node's state at one moment.
type invNodeView struct {
	name, url string
	runs      map[string]*invRun // from the listing
	acked     map[string]*invRun // from GET /runs/{id}, acknowledged runs
	missing   map[string]int     // acknowledged runs not served: status code
	err       error
}

// invReadView reads a node's listing and, when withAcked, each acknowledged
// run by its ID.
func invReadView(a *agent, acked []string, withAcked bool) *invNodeView {
	v := &invNodeView{name: a.name, url: a.URL, acked: map[string]*invRun{}, missing: map[string]int{}}
	v.runs, v.err = invListRuns(a.URL)
	if v.err != nil || !withAcked {
		return v
	}
	for _, id := range acked {
		var r invRun
		code, err := invGetJSON(a.URL, "/api/v1/runs/"+url.PathEscape(id), &r)
		if err != nil {
			if code == 0 {
				v.err = err // the node itself did not answer
				return v
			}
			v.missing[id] = code
			continue
		}
		v.acked[id] = &r
	}
	return v
}

// invSettled tells whether every view answered, lists the same runs in the
// same terminal states, and serves every acknowledged run, terminal.
func invSettled(views []*invNodeView, acked []string, byID bool) bool {
	ref := views[0]
	for _, v := range views {
		if v.err != nil || len(v.runs) != len(ref.runs) || (byID && len(v.missing) > 0) {
			return false
		}
		for id, r := range v.runs {
			o, ok := ref.runs[id]
			if !ok || !invTerminal(r.Status) || r.fingerprint() != o.fingerprint() {
				return false
			}
		}
		for _, id := range acked {
			if _, ok := v.runs[id]; !ok {
				return false
			}
			if byID {
				if r := v.acked[id]; r == nil || r.fingerprint() != ref.runs[id].fingerprint() {
					return false
				}
			}
		}
	}
	return true
}

// checkInvariants checks the invariants over the live nodes for the
// acknowledged run IDs and returns the report; it fails nothing itself.
func checkInvariants(t *testing.T, nodes []*agent, acked []string, opt invariantOptions) *invariantReport {
	t.Helper()
	if opt.Settle <= 0 {
		opt.Settle = 60 * time.Second
	}
	acked = slices.Compact(slices.Sorted(slices.Values(acked)))
	rep := &invariantReport{Acked: len(acked), ByStatus: map[string]int{}}
	for _, a := range nodes {
		rep.Nodes = append(rep.Nodes, a.name)
	}
	if len(nodes) == 0 {
		rep.violate("no live node to check")
		return rep
	}

	// Settle: the cheap listing first, then each acknowledged run by ID
	// once the listings agree.
	start := time.Now()
	deadline := start.Add(opt.Settle)
	var views []*invNodeView
	for {
		views = views[:0]
		for _, a := range nodes {
			views = append(views, invReadView(a, acked, false))
		}
		if invSettled(views, acked, false) {
			views = views[:0]
			for _, a := range nodes {
				views = append(views, invReadView(a, acked, true))
			}
			if invSettled(views, acked, true) {
				rep.Settled = true
				break
			}
		}
		if time.Now().After(deadline) {
			// One last full read to report from.
			views = views[:0]
			for _, a := range nodes {
				views = append(views, invReadView(a, acked, true))
			}
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	rep.SettleTime = time.Since(start)

	var ref *invNodeView
	for _, v := range views {
		if v.err != nil {
			rep.violate("node %s does not answer its read endpoints: %v", v.name, v.err)
		} else if ref == nil {
			ref = v
		}
	}
	if ref == nil {
		return rep
	}
	rep.Runs = len(ref.runs)

	// Acknowledged runs: present everywhere, terminal, maybe succeeded.
	ackedSet := map[string]bool{}
	for _, id := range acked {
		ackedSet[id] = true
		for _, v := range views {
			if v.err != nil {
				continue
			}
			if code, ok := v.missing[id]; ok {
				rep.violate("acknowledged run %s is not served by %s (HTTP %d)", id, v.name, code)
			}
		}
		r := ref.acked[id]
		if r == nil {
			rep.ByStatus["missing"]++
			continue
		}
		rep.ByStatus[r.Status]++
		switch {
		case !invTerminal(r.Status):
			rep.violate("acknowledged run %s is still %s on %s", id, r.Status, ref.name)
		case r.Status != "succeeded" && opt.RequireSucceeded:
			rep.violate("acknowledged run %s %s: %s", id, r.Status, invRunFailure(r))
		}
	}
	for id, r := range ref.runs {
		if ackedSet[id] {
			continue
		}
		rep.Unacked++
		if !opt.AllowUnacked {
			rep.violate("run %s (%s) is present but no submit acknowledged it", id, r.Status)
		}
		if !invTerminal(r.Status) {
			rep.violate("run %s (not acknowledged) is still %s", id, r.Status)
		}
	}

	// Replicas agree with the reference node.
	for _, v := range views {
		if v == ref || v.err != nil {
			continue
		}
		for id, r := range ref.runs {
			o, ok := v.runs[id]
			switch {
			case !ok:
				rep.violate("run %s is on %s but not on %s", id, ref.name, v.name)
			case o.fingerprint() != r.fingerprint():
				rep.violate("replicas disagree on run %s: %s has %s; %s has %s", id, ref.name, r.fingerprint(), v.name, o.fingerprint())
			}
		}
		for id := range v.runs {
			if _, ok := ref.runs[id]; !ok {
				rep.violate("run %s is on %s but not on %s", id, v.name, ref.name)
			}
		}
	}

	// Succeeded runs: every task succeeded once; every output readable.
	arrowFrom := 0
	for _, id := range acked {
		r := ref.acked[id]
		if r == nil || r.Status != "succeeded" {
			continue
		}
		for _, task := range r.Tasks {
			rep.Tasks++
			invCheckExactlyOnce(rep, r.ID, &task)
			if task.Attempt > 1 {
				rep.RanAgain++
			}
			for _, out := range task.Outputs {
				rep.OutputChecks++
				if want, ok := opt.Rows[task.Name]; ok && out.Rows != want {
					rep.violate("run %s task %s output %s has %d rows, want %d", id, task.Name, out.Name, out.Rows, want)
				}
				cols := make([]string, len(out.Schema))
				for i, f := range out.Schema {
					cols[i] = f.Name
				}
				for i, a := range nodes {
					if views[i].err != nil {
						continue
					}
					if err := invReadCSV(a.URL, id, task.Name, out.Name, cols, out.Rows); err != nil {
						rep.violate("output %s/%s/%s on %s: %v", id, task.Name, out.Name, a.name, err)
					} else {
						rep.OutputReads++
					}
				}
				a := nodes[arrowFrom%len(nodes)]
				arrowFrom++
				if err := invReadArrow(a.URL, id, task.Name, out.Name, out.Rows); err != nil {
					rep.violate("output %s/%s/%s as Arrow on %s: %v", id, task.Name, out.Name, a.name, err)
				} else {
					rep.OutputReads++
				}
			}
		}
	}
	return rep
}

// invCheckExactlyOnce checks that a task of a succeeded run succeeded in its
// final attempt and that no other success stands in its history. A
// success that is followed by a record of the same attempt going back to
// retrying had its outputs lost and was recomputed (lineage): it counts
// as redone, not as a second success.
func invCheckExactlyOnce(rep *invariantReport, run string, task *invTask) {
	if task.Status != "succeeded" {
		rep.violate("run %s succeeded but its task %s is %s (attempt %d): %s", run, task.Name, task.Status, task.Attempt, task.Error)
		return
	}
	h := task.Attempts
	if len(h) == 0 || h[len(h)-1].Attempt != task.Attempt || h[len(h)-1].Status != "succeeded" {
		rep.violate("run %s task %s is succeeded at attempt %d but its history does not end with that success: %+v", run, task.Name, task.Attempt, h)
		return
	}
	successes := 0
	for i, a := range h {
		if a.Attempt > task.Attempt {
			rep.violate("run %s task %s has attempt %d in its history beyond its current attempt %d", run, task.Name, a.Attempt, task.Attempt)
		}
		if a.Status != "succeeded" {
			continue
		}
		redone := false
		for _, later := range h[i+1:] {
			if later.Attempt == a.Attempt && later.Status == "retrying" {
				redone = true
			}
		}
		if redone {
			rep.Recomputed++
		} else {
			successes++
		}
	}
	if successes != 1 {
		rep.violate("run %s task %s has %d standing successes in its history, want exactly 1: %+v", run, task.Name, successes, h)
	}
}

// invRunFailure summarises why a run did not succeed.
func invRunFailure(r *invRun) string {
	for _, t := range r.Tasks {
		if t.Status == "failed" || t.Status == "cancelled" {
			return fmt.Sprintf("task %s %s: %s", t.Name, t.Status, t.Error)
		}
	}
	return r.Error
}

// invOutputPath is the read route of one output.
func invOutputPath(run, task, output string) string {
	return "/api/v1/runs/" + url.PathEscape(run) + "/tasks/" + url.PathEscape(task) + "/outputs/" + url.PathEscape(output)
}

// invFetchOutput reads an output in a format and returns its body.
func invFetchOutput(base, run, task, output, format string) ([]byte, error) {
	resp, err := invHTTP.Get(base + invOutputPath(run, task, output) + "?format=" + format)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %d: %s", resp.StatusCode, bytes.TrimSpace(b))
	}
	return b, nil
}

// invReadCSV reads an output as CSV and checks its header against the
// schema and its row count against the state's.
func invReadCSV(base, run, task, output string, cols []string, rows int64) error {
	b, err := invFetchOutput(base, run, task, output, "csv")
	if err != nil {
		return err
	}
	recs, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil {
		return fmt.Errorf("invalid CSV: %v", err)
	}
	if len(recs) == 0 {
		if len(cols) == 0 && rows == 0 {
			return nil // an empty table without columns
		}
		return fmt.Errorf("CSV has no header, want columns %v and %d rows", cols, rows)
	}
	if !slices.Equal(recs[0], cols) {
		return fmt.Errorf("CSV header %v, schema %v", recs[0], cols)
	}
	if got := int64(len(recs) - 1); got != rows {
		return fmt.Errorf("CSV has %d rows, the state says %d", got, rows)
	}
	return nil
}

// invReadArrow reads an output as an Arrow IPC stream and counts its
// rows.
func invReadArrow(base, run, task, output string, rows int64) error {
	b, err := invFetchOutput(base, run, task, output, "arrow")
	if err != nil {
		return err
	}
	rd, err := ipc.NewReader(bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("invalid Arrow IPC stream: %v", err)
	}
	defer rd.Release()
	var got int64
	for rd.Next() {
		got += rd.RecordBatch().NumRows()
	}
	if err := rd.Err(); err != nil {
		return fmt.Errorf("invalid Arrow IPC stream: %v", err)
	}
	if got != rows {
		return fmt.Errorf("Arrow stream has %d rows, the state says %d", got, rows)
	}
	return nil
}

// requireInvariants checks the invariants, logs the report and fails the
// test on any violation.
func requireInvariants(t *testing.T, nodes []*agent, acked []string, opt invariantOptions) *invariantReport {
	t.Helper()
	rep := checkInvariants(t, nodes, acked, opt)
	t.Log("\n" + rep.String())
	if !rep.OK() {
		t.Errorf("invariants broken:\n%s", rep.String())
	}
	return rep
}

// The checker itself must be able to fail: a second standing success, a
// history that does not end with the success and a lost acknowledged run
// are violations, while a success redone after its outputs were lost is
// not.
func TestInvariantCheckerCatchesViolations(t *testing.T) {
	task := func(attempt int, hist ...string) *invTask {
		tk := &invTask{Name: "x", Status: "succeeded", Attempt: attempt}
		for i := 0; i+1 < len(hist); i += 2 {
			n, _ := strconv.Atoi(hist[i])
			tk.Attempts = append(tk.Attempts, struct {
				Attempt int    `json:"attempt"`
				Status  string `json:"status"`
				Error   string `json:"error"`
			}{Attempt: n, Status: hist[i+1]})
		}
		return tk
	}
	cases := []struct {
		name       string
		task       *invTask
		violations int
		recomputed int
	}{
		{"once", task(1, "1", "succeeded"), 0, 0},
		{"lost then once", task(2, "1", "retrying", "2", "succeeded"), 0, 0},
		{"recomputed", task(2, "1", "succeeded", "1", "retrying", "2", "succeeded"), 0, 1},
		{"twice", task(2, "1", "succeeded", "2", "succeeded"), 1, 0},
		{"history ends elsewhere", task(2, "2", "succeeded", "1", "failed"), 1, 0},
		{"no history", task(1), 1, 0},
	}
	for _, tc := range cases {
		rep := &invariantReport{}
		invCheckExactlyOnce(rep, "r", tc.task)
		if len(rep.Violations) != tc.violations || rep.Recomputed != tc.recomputed {
			t.Errorf("%s: %d violations %v, %d recomputed; want %d and %d",
				tc.name, len(rep.Violations), rep.Violations, rep.Recomputed, tc.violations, tc.recomputed)
		}
	}

	// Over a real node: a run ID that no node knows is reported lost.
	a := startAgent(t, t.TempDir())
	id := faultSubmit(t, a, wideSpec(t, 3, "10ms", false))
	waitSucceeded(t, a, id, 3)
	rep := checkInvariants(t, []*agent{a}, []string{id, "01nosuchrun0000"}, invariantOptions{Settle: time.Second, RequireSucceeded: true})
	if rep.OK() || rep.Settled || !strings.Contains(rep.String(), "acknowledged run 01nosuchrun0000 is not served by e2e (HTTP 404)") {
		t.Fatalf("a lost run went unnoticed:\n%s", rep)
	}
	if rep := checkInvariants(t, []*agent{a}, []string{id}, invariantOptions{RequireSucceeded: true}); !rep.OK() || rep.OutputChecks != 3 {
		t.Fatalf("a healthy node fails the check:\n%s", rep)
	}
}
