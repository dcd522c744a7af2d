package api_test

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/forged-dev/forged/api"
	"github.com/forged-dev/forged/client"
)

// TestClientMirrorsClusterTypes checks that client.ClusterInfo, which
// copies api.ClusterInfo so that the client does not import the server,
// carries every field: a full value survives a trip through the client
// type unchanged.
func TestClientMirrorsClusterTypes(t *testing.T) {
	in := api.ClusterInfo{
		Leader: "n1", Term: 2, CommitIndex: 30, AppliedIndex: 29, QueueDepth: 5,
		Members: []api.Member{{
			Name: "n1", Address: "a:1", HTTPAddr: "a:2", RaftAddr: "a:3", Status: "alive", Role: "leader",
			Slots: 4, Running: 1, Labels: map[string]string{"gpu": "1"}, Version: "v1",
		}},
		Events: []api.MemberEvent{{At: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Node: "n1", Change: "joined"}},
	}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var mirror client.ClusterInfo
	if err := json.Unmarshal(b, &mirror); err != nil {
		t.Fatal(err)
	}
	b2, err := json.Marshal(mirror)
	if err != nil {
		t.Fatal(err)
	}
	var out api.ClusterInfo
	if err := json.Unmarshal(b2, &out); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Fatalf("lost in the client's copy:\n api:    %s\n client: %s", b, b2)
	}
	for _, pair := range [][2]any{{api.ClusterInfo{}, client.ClusterInfo{}}, {api.Member{}, client.Member{}}, {api.MemberEvent{}, client.MemberEvent{}}} {
		if a, c := reflect.TypeOf(pair[0]).NumField(), reflect.TypeOf(pair[1]).NumField(); a != c {
			t.Errorf("%T has %d fields, %T has %d", pair[0], a, pair[1], c)
		}
	}
}
