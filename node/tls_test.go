package node_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/flight"

	"github.com/forged-dev/forged/client"
	"github.com/forged-dev/forged/dag"
	"github.com/forged-dev/forged/dataplane"
	"github.com/forged-dev/forged/internal/tlstest"
	"github.com/forged-dev/forged/node"
	"github.com/forged-dev/forged/node/nodetest"
)

// withTLS gives cfg a certificate from ca (files in a temp dir) and the
// gossip key.
func withTLS(t *testing.T, cfg *node.Config, ca *tlstest.CA, key []byte) {
	t.Helper()
	f := ca.WriteFiles(t, t.TempDir(), cfg.Name)
	cfg.TLSCertFile, cfg.TLSKeyFile, cfg.TLSCAFile = f.Cert, f.Key, f.CA
	cfg.GossipKey = key
}

// caClient is an API client that trusts ca (and presents no certificate,
// as the CLI does).
func caClient(url string, ca *tlstest.CA) *client.Client {
	c := client.New(url, "")
	c.HTTP = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}}}
	return c
}

// flightRows reads an output over Flight with TLS.
func flightRows(addr, ticket string, cfg *tls.Config) (int64, error) {
	c, err := dataplane.DialFlightWith(addr, dataplane.FlightDialOptions{TLS: cfg})
	if err != nil {
		return 0, err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream, err := c.DoGet(ctx, &flight.Ticket{Ticket: []byte(ticket)})
	if err != nil {
		return 0, err
	}
	rr, err := flight.NewRecordReader(stream)
	if err != nil {
		return 0, err
	}
	defer rr.Release()
	var rows int64
	for rr.Next() {
		rows += rr.RecordBatch().NumRows()
	}
	return rows, rr.Err()
}

// forceCert is a client config that trusts ca and presents cert whatever
// CAs the server asks for (Go's client otherwise keeps quiet a
// certificate the server's CA list does not name).
func forceCert(ca *tlstest.CA, cert tls.Certificate) *tls.Config {
	return &tls.Config{RootCAs: ca.Pool(), GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		return &cert, nil
	}}
}

// talk opens a TLS connection, writes a byte and reads an answer: the
// error of whichever step failed (a server that refuses the client's
// certificate says so after the client's side of the handshake is done).
func talk(addr string, cfg *tls.Config) error {
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte{0}); err != nil {
		return err
	}
	_, err = c.Read(make([]byte, 1))
	return err
}

// Three nodes with certificates from one CA and a shared gossip key form
// a cluster and run a pipeline across it: a follower forwards the
// submission to the leader over HTTPS with its node certificate, Raft
// replicates over TLS and a task pulls its input from another node over
// Flight with TLS. Clients that trust the CA read over HTTPS and Flight;
// plain HTTP, clients that do not trust the CA, and peers without a node
// certificate are refused on every port; a node with the right
// certificates but the wrong gossip key, or the right key but a
// certificate from another CA, cannot join.
func TestTLSClusterRunsAPipelineAndRefusesStrangers(t *testing.T) {
	ca := tlstest.NewCA(t, "forged test CA")
	key := bytes.Repeat([]byte{0x42}, 32)
	cfgs := nodetest.ClusterConfigs(t, 3)
	for i := range cfgs {
		withTLS(t, &cfgs[i], ca, key)
	}
	nodes := nodetest.OpenAll(t, cfgs)
	leader, follower := followerOf(t, nodes)

	for _, n := range nodes {
		if !strings.HasPrefix(n.URL(), "https://") {
			t.Fatalf("%s's URL is %s, want https", n.Name(), n.URL())
		}
	}
	for _, m := range follower.Cluster().Members {
		if m.URL != "https://"+m.HTTPAddr {
			t.Fatalf("member %s advertises %q, want https://%s", m.Name, m.URL, m.HTTPAddr)
		}
	}

	c := caClient(follower.URL(), ca)
	ctx := context.Background()
	h, err := c.Health(ctx)
	if err != nil || !h.FlightTLS {
		t.Fatalf("health over HTTPS = %+v, %v; want flight_tls", h, err)
	}
	for _, n := range nodes {
		writeOrders(t, n)
	}
	id, err := c.Submit(ctx, []byte(pinnedSpec), nil)
	if err != nil {
		t.Fatalf("submit to follower %s (leader %s): %v", follower.Name(), leader.Name(), err)
	}
	run := waitRun(t, c, id)
	if run.Status != dag.RunSucceeded || run.Task("make").Node != "n1" || run.Task("use").Node != "n3" {
		t.Fatalf("run %s: make on %s, use on %s (%s)", run.Status, run.Task("make").Node, run.Task("use").Node, run.Task("use").Error)
	}
	if o := run.Task("use").Outputs[0]; o.Rows != bigOrdersOver20 || o.Bytes <= dataplane.DefaultInlineMax {
		t.Fatalf("use has %d rows in %d bytes, want %d rows in a file", o.Rows, o.Bytes, bigOrdersOver20)
	}
	// n2 holds neither output: it pulls them from n1 and n3 over TLS.
	waitReplica(t, nodes[1], id)
	var out bytes.Buffer
	if _, err := caClient(nodes[1].URL(), ca).Output(ctx, id, "make", "out", "csv", 0, &out); err != nil ||
		strings.Count(out.String(), "\n") != bigOrders+1 {
		t.Fatalf("n1's output through n2's API: %d lines, %v", strings.Count(out.String(), "\n"), err)
	}
	reader := &tls.Config{RootCAs: ca.Pool()}
	if rows, err := flightRows(nodes[1].FlightAddr(), id+"/use/out", reader); err != nil || rows != bigOrdersOver20 {
		t.Fatalf("DoGet over TLS from n2 = %d rows, %v; want %d", rows, err, bigOrdersOver20)
	}

	// Plain HTTP gets a 400 and nothing of the API; a client that does not
	// trust the CA fails the handshake.
	resp, err := http.Get("http://" + follower.HTTPAddr() + "/api/v1/health")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || strings.Contains(string(body), follower.Name()) {
		t.Fatalf("plain HTTP got %s: %s", resp.Status, body)
	}
	if _, err := client.New(follower.URL(), "").Health(ctx); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("a client that does not trust the CA: %v", err)
	}
	// The internal routes are for nodes: a client that trusts the CA but
	// has no node certificate is refused even without tokens.
	resp, err = caClient(follower.URL(), ca).HTTP.Post(follower.URL()+"/internal/v1/apply", "application/octet-stream", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("internal route without a node certificate: %s", resp.Status)
	}

	// Raft and Flight refuse a certificate from another CA, and Raft one
	// without a certificate.
	other := tlstest.NewCA(t, "another CA")
	intruder := forceCert(ca, other.Issue(t, "intruder").TLSCertificate(t))
	raftAddr := ""
	for _, m := range follower.Cluster().Members {
		if m.Name == leader.Name() {
			raftAddr = m.RaftAddr
		}
	}
	if err := talk(raftAddr, reader); err == nil || !strings.Contains(err.Error(), "certificate required") {
		t.Fatalf("raft and a peer without a certificate: %v; want the TLS handshake refused", err)
	}
	if err := talk(raftAddr, intruder); err == nil || !strings.Contains(err.Error(), "tls: unknown certificate authority") {
		t.Fatalf("raft and a peer with another CA's certificate: %v; want the TLS handshake refused", err)
	}
	// Plain TCP (raft's own framing: an RPC type byte, then msgpack) is
	// not TLS: the server hangs up, with at most a TLS alert.
	conn, err := net.DialTimeout("tcp", raftAddr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	conn.Write(make([]byte, 16))
	answer, err := io.ReadAll(conn)
	conn.Close()
	if err != nil || (len(answer) > 0 && answer[0] != 0x15) {
		t.Fatalf("raft over plain TCP: answer %x, %v; want a hang-up", answer, err)
	}
	if _, err := flightRows(nodes[1].FlightAddr(), id+"/use/out", intruder); err == nil {
		t.Fatal("flight served a client with another CA's certificate")
	}

	// A node with valid certificates but the wrong gossip key, and one
	// with the gossip key but a certificate from another CA, do not get
	// in: neither finds a leader, and the cluster never has them as
	// alive members.
	for name, tweak := range map[string]func(*node.Config){
		"wrongkey": func(c *node.Config) { withTLS(t, c, ca, bytes.Repeat([]byte{0x17}, 32)) },
		"wrongca":  func(c *node.Config) { withTLS(t, c, other, key) },
	} {
		cfg := nodetest.Config(t)
		cfg.Name = name
		cfg.Join = []string{nodes[0].GossipAddr()}
		cfg.BootstrapExpect = 0
		cfg.LeaderTimeout = 4 * time.Second
		tweak(&cfg)
		octx, cancel := context.WithTimeout(ctx, 20*time.Second)
		n, err := node.Open(octx, cfg)
		cancel()
		if err == nil {
			n.Close()
			t.Fatalf("%s opened inside the TLS cluster", name)
		}
		if !strings.Contains(err.Error(), "leader") {
			t.Fatalf("%s: %v", name, err)
		}
	}
	for _, m := range leader.Cluster().Members {
		if (m.Name == "wrongkey" || m.Name == "wrongca") && m.Role != "none" && m.Status == "alive" {
			t.Fatalf("%s is an alive raft member: %+v", m.Name, m)
		}
		if m.Name == "wrongkey" {
			t.Fatalf("a node with the wrong gossip key is listed: %+v", m)
		}
	}
	// The cluster still works after the intruders.
	if _, err := c.Submit(ctx, []byte("name: after\ntasks:\n  - {name: a, op: noop}\n"), nil); err != nil {
		t.Fatalf("submit after the intruders: %v", err)
	}
}

// Bad TLS and gossip settings stop a node before it starts, with errors
// that name the problem and the file, never a secret.
func TestTLSConfigErrors(t *testing.T) {
	ca := tlstest.NewCA(t, "forged test CA")
	dir := t.TempDir()
	good := ca.WriteFiles(t, dir, "n1")
	otherPair := ca.Issue(t, "n2")
	otherKey := filepath.Join(dir, "n2.key")
	os.WriteFile(otherKey, otherPair.KeyPEM, 0o600)
	stranger := tlstest.NewCA(t, "stranger CA").WriteFiles(t, t.TempDir(), "s1")
	expired := ca.IssueWith(t, "old", time.Now().Add(-time.Minute))
	expiredCert := filepath.Join(dir, "old.crt")
	expiredKey := filepath.Join(dir, "old.key")
	os.WriteFile(expiredCert, expired.CertPEM, 0o600)
	os.WriteFile(expiredKey, expired.KeyPEM, 0o600)
	notPEM := filepath.Join(dir, "garbage.crt")
	os.WriteFile(notPEM, []byte("not a certificate"), 0o600)

	cases := []struct {
		name           string
		cert, key, cas string
		gossipKey      []byte
		want           string
	}{
		{"cert without key", good.Cert, "", good.CA, nil, "needs its private key"},
		{"key without cert", "", good.Key, good.CA, nil, "no certificate file"},
		{"CA alone", "", "", good.CA, nil, "no certificate file"},
		{"no CA", good.Cert, good.Key, "", nil, "needs the cluster's CA file"},
		{"key of another certificate", good.Cert, otherKey, good.CA, nil, "does not match"},
		{"missing CA file", good.Cert, good.Key, filepath.Join(dir, "nope.crt"), nil, "read CA file"},
		{"CA file not PEM", good.Cert, good.Key, notPEM, nil, "holds no PEM certificate"},
		{"certificate of another CA", stranger.Cert, stranger.Key, good.CA, nil, "does not verify"},
		{"expired certificate", expiredCert, expiredKey, good.CA, nil, "does not verify"},
		{"short gossip key", "", "", "", []byte("0123456789"), "gossip key is 10 bytes"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := nodetest.Config(t)
			cfg.TLSCertFile, cfg.TLSKeyFile, cfg.TLSCAFile, cfg.GossipKey = tc.cert, tc.key, tc.cas, tc.gossipKey
			cfg.LeaderTimeout = 2 * time.Second
			n, err := node.Open(context.Background(), cfg)
			if err == nil {
				n.Close()
				t.Fatal("the node started")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not say %q", err, tc.want)
			}
			for _, secret := range [][]byte{otherPair.KeyPEM, expired.KeyPEM, tc.gossipKey} {
				if len(secret) > 0 && strings.Contains(err.Error(), string(secret)) {
					t.Fatalf("the error quotes a secret: %v", err)
				}
			}
			if strings.Contains(err.Error(), "PRIVATE KEY") {
				t.Fatalf("the error quotes a key: %v", err)
			}
		})
	}
}

// A gossip key is read as base64 from a file, white space around it
// ignored; a key of the wrong length or not in base64 is refused without
// being quoted.
func TestGossipKeyFile(t *testing.T) {
	dir := t.TempDir()
	raw := bytes.Repeat([]byte{7}, 24)
	good := filepath.Join(dir, "good")
	os.WriteFile(good, []byte("  "+base64.StdEncoding.EncodeToString(raw)+"\n"), 0o600)
	key, err := node.ReadGossipKeyFile(good)
	if err != nil || !bytes.Equal(key, raw) {
		t.Fatalf("ReadGossipKeyFile = %x, %v", key, err)
	}
	short := base64.StdEncoding.EncodeToString([]byte("twelve bytes"))
	for text, want := range map[string]string{
		short:                  "12 bytes; want 16, 24 or 32",
		"sekrit!!not*base64==": "not valid base64",
	} {
		path := filepath.Join(dir, "bad")
		os.WriteFile(path, []byte(text), 0o600)
		_, err := node.ReadGossipKeyFile(path)
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), text) {
			t.Fatalf("key %q: error %v, want one saying %q without the key", text, err, want)
		}
	}
	if _, err := node.ReadGossipKeyFile(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
}
