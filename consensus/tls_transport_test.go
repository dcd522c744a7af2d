package consensus

import (
	"crypto/tls"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"

	"github.com/forged-dev/forged/internal/tlstest"
)

// tlsServerTransport starts a Raft transport over TLS that requires client
// certificates from ca and answers every RequestVote with a granted vote;
// served counts the RPCs that got through.
func tlsServerTransport(t *testing.T, ca *tlstest.CA) (trans *raft.NetworkTransport, served *atomic.Int64) {
	t.Helper()
	cfg := Config{BindAddr: "127.0.0.1:0", TLS: &TransportTLS{Server: ca.ServerConfig(t, "server"), Client: ca.ClientConfig(t, "server")}}
	trans, err := newTLSTransport(cfg, nil, &raft.Config{Logger: hclog.NewNullLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { trans.Close() })
	served = &atomic.Int64{}
	go func() {
		for rpc := range trans.Consumer() {
			served.Add(1)
			rpc.Respond(&raft.RequestVoteResponse{RPCHeader: raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax}, Term: 7, Granted: true}, nil)
		}
	}()
	return trans, served
}

// clientTransport is a Raft transport over TLS that dials its peers with
// cfg.
func clientTransport(t *testing.T, ca *tlstest.CA, cfg *tls.Config) *raft.NetworkTransport {
	t.Helper()
	trans, err := newTLSTransport(Config{BindAddr: "127.0.0.1:0", TLS: &TransportTLS{Server: ca.ServerConfig(t, "client"), Client: cfg}}, nil,
		&raft.Config{Logger: hclog.NewNullLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { trans.Close() })
	return trans
}

func vote(trans *raft.NetworkTransport, target raft.ServerAddress) (*raft.RequestVoteResponse, error) {
	var resp raft.RequestVoteResponse
	err := trans.RequestVote("server", target, &raft.RequestVoteRequest{
		RPCHeader: raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, ID: []byte("client"), Addr: []byte("client")},
		Term:      7,
	}, &resp)
	return &resp, err
}

// A peer with a certificate from the cluster's CA gets its RPCs through
// the TLS transport. Peers without one (no certificate, one from another
// CA, plain TCP) are refused before raft sees a single RPC, and a node
// that trusts another CA refuses to talk to the server.
func TestTLSTransportLetsOnlyTheCAsPeersIn(t *testing.T) {
	ca := tlstest.NewCA(t, "cluster CA")
	other := tlstest.NewCA(t, "another CA")
	server, served := tlsServerTransport(t, ca)
	addr := server.LocalAddr()

	good := clientTransport(t, ca, ca.ClientConfig(t, "peer"))
	resp, err := vote(good, addr)
	if err != nil || !resp.Granted || resp.Term != 7 {
		t.Fatalf("RequestVote from a peer with a valid certificate = %+v, %v", resp, err)
	}
	if served.Load() != 1 {
		t.Fatalf("server saw %d RPCs, want 1", served.Load())
	}

	// The intruder presents its certificate even though the server's CA
	// list does not name its issuer (Go's client would keep it quiet).
	intruder := other.Issue(t, "intruder").TLSCertificate(t)
	refused := map[string]*tls.Config{
		"no client certificate": {RootCAs: ca.Pool()},
		"certificate from another CA": {RootCAs: ca.Pool(), GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return &intruder, nil
		}},
		"does not trust the server's CA": other.ClientConfig(t, "peer"),
	}
	for name, cfg := range refused {
		if resp, err := vote(clientTransport(t, ca, cfg), addr); err == nil {
			t.Errorf("%s: RequestVote went through: %+v", name, resp)
		}
	}
	plain, err := raft.NewTCPTransportWithLogger("127.0.0.1:0", nil, 1, 2*time.Second, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if resp, err := vote(plain, addr); err == nil {
		t.Errorf("plain TCP: RequestVote went through: %+v", resp)
	}
	if n := served.Load(); n != 1 {
		t.Fatalf("server saw %d RPCs; the refused peers reached raft", n)
	}
	// The valid peer still gets through after the refusals.
	if _, err := vote(good, addr); err != nil || served.Load() != 2 {
		t.Fatalf("valid peer after refusals: %v (served %d)", err, served.Load())
	}
}

// A TLS transport bound to 0.0.0.0 without an advertise address cannot
// tell peers where it is, and says so.
func TestTLSTransportNeedsAnAdvertisableAddress(t *testing.T) {
	ca := tlstest.NewCA(t, "cluster CA")
	cfg := Config{BindAddr: "0.0.0.0:0", TLS: &TransportTLS{Server: ca.ServerConfig(t, "s"), Client: ca.ClientConfig(t, "s")}}
	if trans, err := newTLSTransport(cfg, nil, &raft.Config{Logger: hclog.NewNullLogger()}); err == nil {
		trans.Close()
		t.Fatal("a TLS transport on 0.0.0.0 without an advertise address started")
	}
}
