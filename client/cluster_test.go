package client

import (
	"context"
	"errors"
	"io"
	"net/http"
	"testing"
)

const clusterJSON = `{
  "leader": "n1", "term": 4, "commit_index": 120, "applied_index": 119, "queue_depth": 3,
  "members": [
    {"name": "n1", "address": "10.0.0.1:7946", "http_addr": "10.0.0.1:8080", "raft_addr": "10.0.0.1:7947",
     "status": "alive", "role": "leader", "slots": 8, "running": 2, "version": "v0.3.0"},
    {"name": "n4", "address": "10.0.0.4:7946", "http_addr": "10.0.0.4:8080", "raft_addr": "10.0.0.4:7947",
     "status": "suspect", "role": "nonvoter", "slots": 4, "running": 0, "labels": {"disk": "ssd"}, "version": "v0.3.0"}
  ],
  "events": [{"at": "2026-11-28T18:41:18Z", "node": "n4", "change": "joined"}]
}`

func TestCluster(t *testing.T) {
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/cluster" {
			t.Errorf("path = %s", r.URL.Path)
		}
		io.WriteString(w, clusterJSON)
	})
	info, err := c.Cluster(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.Leader != "n1" || info.Term != 4 || info.CommitIndex != 120 || info.AppliedIndex != 119 || info.QueueDepth != 3 {
		t.Fatalf("info = %+v", info)
	}
	if len(info.Members) != 2 {
		t.Fatalf("members = %+v", info.Members)
	}
	n1, n4 := info.Members[0], info.Members[1]
	if n1.HTTPAddr != "10.0.0.1:8080" || n1.RaftAddr != "10.0.0.1:7947" || n1.Role != "leader" || n1.Slots != 8 || n1.Running != 2 || n1.Version != "v0.3.0" {
		t.Fatalf("n1 = %+v", n1)
	}
	if n4.Status != "suspect" || n4.Labels["disk"] != "ssd" {
		t.Fatalf("n4 = %+v", n4)
	}
	if len(info.Events) != 1 || info.Events[0].Change != "joined" || info.Events[0].At.Year() != 2026 {
		t.Fatalf("events = %+v", info.Events)
	}
}

func TestNode(t *testing.T) {
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/v1/nodes/n4" {
			io.WriteString(w, `{"member": {"name": "n4", "address": "10.0.0.4:7946", "status": "alive", "role": "nonvoter", "slots": 4}}`)
			return
		}
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, `{"error": {"code": "not_found", "message": "not found: no node \"n9\" in the cluster (members: n1, n4)"}}`)
	})
	ctx := context.Background()
	m, err := c.Node(ctx, "n4")
	if err != nil || m.Name != "n4" || m.Role != "nonvoter" || m.Slots != 4 {
		t.Fatalf("Node = %+v, %v", m, err)
	}
	_, err = c.Node(ctx, "n9")
	var aerr *APIError
	if !errors.As(err, &aerr) || aerr.Status != 404 || aerr.Code != "not_found" {
		t.Fatalf("unknown node: %v", err)
	}
}
