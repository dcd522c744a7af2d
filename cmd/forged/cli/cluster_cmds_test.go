package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// The leader reports itself as a plain voter here: the table must still
// show it as the leader.
const testClusterJSON = `{
  "leader": "n1", "term": 7, "commit_index": 51, "applied_index": 50, "queue_depth": 3,
  "members": [
    {"name": "n1", "address": "10.0.0.1:7946", "status": "alive", "role": "voter", "slots": 8, "running": 2, "version": "v1"},
    {"name": "n2", "address": "10.0.0.2:7946", "status": "suspect", "role": "voter", "slots": 4, "running": 0, "version": "v1"},
    {"name": "n4", "address": "10.0.0.4:7946", "status": "dead", "role": "nonvoter", "slots": 4, "running": 1, "version": "v1"}
  ]
}`

const testRunsJSON = `{"runs": [{"id": "r1", "pipeline": "etl", "version": 2, "status": "running",
  "submitted_at": "2026-11-28T18:00:00Z", "tasks": [{"name": "load", "status": "succeeded"}, {"name": "big", "status": "running"}]}],
  "next_cursor": ""}`

// fakeNode serves canned cluster and runs listings; without the cluster
// route it stands for a node older than GET /cluster.
func fakeNode(t *testing.T, withCluster bool) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/api/v1/cluster" && withCluster:
			io.WriteString(w, testClusterJSON)
		case r.URL.Path == "/api/v1/runs":
			io.WriteString(w, testRunsJSON)
		default:
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"error": {"code": "not_found", "message": "no route"}}`)
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func runCLI(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := Run(context.Background(), args, &stdout, &stderr, Options{})
	return stdout.String(), stderr.String(), code
}

func TestMembersTable(t *testing.T) {
	addr := fakeNode(t, true)
	out, errOut, code := runCLI(t, "members", "--addr", addr)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 {
		t.Fatalf("want a header and 3 rows:\n%s", out)
	}
	if got := strings.Fields(lines[0]); strings.Join(got, " ") != "NAME ADDRESS STATUS ROLE SLOTS RUNNING VERSION" {
		t.Fatalf("header = %q", lines[0])
	}
	want := [][]string{
		{"n1", "10.0.0.1:7946", "alive", "leader", "8", "2", "v1"},
		{"n2", "10.0.0.2:7946", "suspect", "voter", "4", "0", "v1"},
		{"n4", "10.0.0.4:7946", "dead", "nonvoter", "4", "1", "v1"},
	}
	for i, w := range want {
		if got := strings.Fields(lines[i+1]); strings.Join(got, " ") != strings.Join(w, " ") {
			t.Errorf("row %d = %q, want %q", i+1, got, w)
		}
	}
}

func TestMembersJSON(t *testing.T) {
	addr := fakeNode(t, true)
	out, errOut, code := runCLI(t, "members", "--json", "--addr", addr)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var info struct {
		Leader  string `json:"leader"`
		Members []struct {
			Name string `json:"name"`
		} `json:"members"`
	}
	if err := json.Unmarshal([]byte(out), &info); err != nil || info.Leader != "n1" || len(info.Members) != 3 {
		t.Fatalf("--json: %v\n%s", err, out)
	}
}

func TestMembersFailsWithoutClusterRoute(t *testing.T) {
	addr := fakeNode(t, false)
	_, errOut, code := runCLI(t, "members", "--addr", addr)
	if code != 1 || !strings.Contains(errOut, "404") {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
}

func TestStatusStartsWithClusterHealth(t *testing.T) {
	addr := fakeNode(t, true)
	out, errOut, code := runCLI(t, "status", "--addr", addr)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{
		"leader:   n1 (term 7)",
		"log:      commit 51, applied 50",
		"members:  1 alive, 1 suspect, 1 dead",
		"queue:    3 tasks waiting",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
	health, runs := strings.Index(out, "leader:"), strings.Index(out, "RUN")
	if health < 0 || runs < health || !strings.Contains(out[runs:], "r1") || !strings.Contains(out[runs:], "1/2") {
		t.Fatalf("want the health block, then the runs table:\n%s", out)
	}
}

func TestStatusWithoutClusterRouteStillListsRuns(t *testing.T) {
	addr := fakeNode(t, false)
	out, errOut, code := runCLI(t, "status", "--addr", addr)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if strings.Contains(out, "leader:") || !strings.HasPrefix(out, "RUN") || !strings.Contains(out, "r1") {
		t.Fatalf("want only the runs table:\n%s", out)
	}

	out, errOut, code = runCLI(t, "status", "--json", "--addr", addr)
	var body map[string]json.RawMessage
	if code != 0 || json.Unmarshal([]byte(out), &body) != nil {
		t.Fatalf("--json: exit %d: %s%s", code, out, errOut)
	}
	if _, ok := body["cluster"]; ok || body["runs"] == nil {
		t.Fatalf("--json without a cluster route: %s", out)
	}
}

func TestStatusJSONAddsCluster(t *testing.T) {
	addr := fakeNode(t, true)
	out, errOut, code := runCLI(t, "status", "--json", "--addr", addr)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var body struct {
		Runs []struct {
			ID string `json:"id"`
		} `json:"runs"`
		NextCursor *string `json:"next_cursor"`
		Cluster    struct {
			Leader     string `json:"leader"`
			QueueDepth int    `json:"queue_depth"`
		} `json:"cluster"`
	}
	if err := json.Unmarshal([]byte(out), &body); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if len(body.Runs) != 1 || body.Runs[0].ID != "r1" || body.NextCursor == nil || body.Cluster.Leader != "n1" || body.Cluster.QueueDepth != 3 {
		t.Fatalf("status --json = %s", out)
	}
}
