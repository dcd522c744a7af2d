package node_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/flight"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/forged-dev/forged/auth"
	"github.com/forged-dev/forged/client"
	"github.com/forged-dev/forged/dag"
	"github.com/forged-dev/forged/dataplane"
	"github.com/forged-dev/forged/node"
	"github.com/forged-dev/forged/node/nodetest"
)

const (
	adminToken  = "admin-token-0123456789"
	submitToken = "submit-token-0123456789"
	readToken   = "read-token-0123456789"
)

func testTokens(t *testing.T) *auth.Tokens {
	t.Helper()
	tokens, err := auth.Parse(strings.NewReader(adminToken + " admin\n" + submitToken + " submit\n" + readToken + " read\n"))
	if err != nil {
		t.Fatal(err)
	}
	return tokens
}

// Every route a node serves, API and internal, answers each kind of
// caller as its role says: 401 without a valid token, 403 with too weak
// a role, and otherwise whatever the route does with a dummy request.
func TestEveryRouteChecksTokens(t *testing.T) {
	cfg := nodetest.Config(t)
	cfg.Tokens = testTokens(t)
	n := nodetest.Open(t, cfg)

	callers := []struct {
		name  string
		token string
		role  auth.Role
	}{
		{"no token", "", auth.RoleNone},
		{"unknown token", "not-a-token-0123456789", auth.RoleNone},
		{"read", readToken, auth.RoleRead},
		{"submit", submitToken, auth.RoleSubmit},
		{"admin", adminToken, auth.RoleAdmin},
	}
	httpc := &http.Client{Timeout: 2 * time.Second}
	routes := node.AllRoutes(n)
	if len(routes) < 20 {
		t.Fatalf("only %d routes listed", len(routes))
	}
	for _, r := range routes {
		path := r.Path
		for _, seg := range strings.Split(path, "/") {
			if strings.HasPrefix(seg, ":") {
				path = strings.Replace(path, seg, "nosuch", 1)
			}
		}
		for _, c := range callers {
			t.Run(r.Method+" "+r.Path+" as "+c.name, func(t *testing.T) {
				req, err := http.NewRequest(r.Method, n.URL()+path, strings.NewReader("{}"))
				if err != nil {
					t.Fatal(err)
				}
				if c.token != "" {
					req.Header.Set("Authorization", "Bearer "+c.token)
				}
				resp, err := httpc.Do(req)
				if err != nil {
					// Only a route that let the call in can keep it
					// waiting (a live event stream, say).
					if r.Role > c.role {
						t.Fatalf("refused caller got no answer: %v", err)
					}
					return
				}
				resp.Body.Close()
				got := resp.StatusCode
				switch {
				case r.Role == auth.RoleNone || c.role >= r.Role:
					if got == http.StatusUnauthorized || got == http.StatusForbidden {
						t.Fatalf("status %d, want the call let in", got)
					}
				case c.role == auth.RoleNone:
					if got != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") == "" {
						t.Fatalf("status %d (WWW-Authenticate %q), want 401 with a challenge", got, resp.Header.Get("WWW-Authenticate"))
					}
				default:
					if got != http.StatusForbidden {
						t.Fatalf("status %d, want 403", got)
					}
				}
			})
		}
	}
}

// With tokens on, the nodes still work together: a follower forwards
// writes to the leader, a consumer pulls its input from the producer's
// node and the producer copies its output to a replica, all with the
// internal token; clients need theirs, over HTTP and Flight.
func TestClusterWorksWithTokens(t *testing.T) {
	nodes := nodetest.OpenCluster(t, 3, func(c *node.Config) { c.Tokens = testTokens(t) })
	_, follower := followerOf(t, nodes)
	for _, n := range nodes {
		writeOrders(t, n)
	}
	spec := []byte(`name: pinned
tasks:
  - name: make
    op: read_csv
    with: {path: big_orders.csv}
    replicas: 2
    constraints: {node: n1}
  - name: use
    op: filter
    needs: [make]
    with: {expr: "amount > 20"}
    constraints: {node: n3}
`)
	ctx := context.Background()
	var apiErr *client.APIError
	if _, err := client.New(follower.URL(), readToken).Submit(ctx, spec, nil); !errors.As(err, &apiErr) || apiErr.Status != http.StatusForbidden {
		t.Fatalf("submit with a read token: %v, want 403", err)
	}
	if _, err := client.New(follower.URL(), "").Submit(ctx, spec, nil); !errors.As(err, &apiErr) || apiErr.Status != http.StatusUnauthorized {
		t.Fatalf("submit without a token: %v, want 401", err)
	}
	c := client.New(follower.URL(), submitToken)
	id, err := c.Submit(ctx, spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	run := waitRun(t, c, id)
	if run.Status != dag.RunSucceeded || run.Task("use").Node != "n3" {
		t.Fatalf("run %s, use on %s: %s", run.Status, run.Task("use").Node, run.Task("use").Error)
	}
	if out := run.Task("make").Outputs[0]; out.Rows != bigOrders || len(out.Replicas) != 1 {
		t.Fatalf("make's output: %d rows, replicas %v; want %d rows and one replica", out.Rows, out.Replicas, bigOrders)
	}

	// Flight from a node that holds nothing: a read token is enough; no
	// token is refused, and so is an upload with anything but admin.
	waitReplica(t, nodes[1], id)
	addr := nodes[1].FlightAddr()
	ticket := &flight.Ticket{Ticket: []byte(id + "/use/out")}
	for token, want := range map[string]codes.Code{"": codes.Unauthenticated, "not-a-token-0123456789": codes.Unauthenticated, readToken: codes.OK} {
		fc, err := dataplane.DialFlight(addr, token)
		if err != nil {
			t.Fatal(err)
		}
		stream, err := fc.DoGet(ctx, ticket)
		var rows int64
		if err == nil {
			var rr *flight.Reader
			if rr, err = flight.NewRecordReader(stream); err == nil {
				for rr.Next() {
					rows += rr.RecordBatch().NumRows()
				}
				err = rr.Err()
				rr.Release()
			}
		}
		fc.Close()
		if status.Code(err) != want || (want == codes.OK && rows != bigOrdersOver20) {
			t.Fatalf("DoGet with token %q: %d rows, %v; want %v", token, rows, err, want)
		}
	}
	fc, err := dataplane.DialFlight(addr, submitToken)
	if err != nil {
		t.Fatal(err)
	}
	defer fc.Close()
	put, err := fc.DoPut(ctx)
	if err == nil {
		_, err = put.Recv()
	}
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("DoPut with a submit token: %v, want PermissionDenied", err)
	}
}
