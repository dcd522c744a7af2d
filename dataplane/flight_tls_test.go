package dataplane

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/forged-dev/forged/internal/tlstest"
)

// startTLSFlight serves src over TLS as a node does: a certificate from
// ca, client certificates verified when given, peers dialled with one.
func startTLSFlight(t *testing.T, src FlightSource, mem memory.Allocator, ca *tlstest.CA) *FlightServer {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := ca.ServerConfig(t, "flight")
	cfg.ClientAuth = tls.VerifyClientCertIfGiven
	srv := NewFlightServer(src, lis, FlightServerOptions{Mem: mem, TLS: cfg, PeerTLS: ca.ClientConfig(t, "flight")})
	t.Cleanup(srv.Close)
	return srv
}

// describe asks the server at addr for r1/make/out's info.
func describe(addr string, o FlightDialOptions) (*flight.FlightInfo, error) {
	c, err := DialFlightWith(addr, o)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return c.GetFlightInfo(ctx, &flight.FlightDescriptor{Type: flight.DescriptorCMD, Cmd: []byte("r1/make/out")})
}

// Over TLS, nodes (certificates from the cluster's CA) fetch, put and ask
// one another about outputs; a reader without a certificate may read but
// not put; a client with another CA's certificate, one that does not
// trust the server, or one that speaks plain TCP gets nothing.
func TestFlightOverTLS(t *testing.T) {
	ca := tlstest.NewCA(t, "cluster CA")
	other := tlstest.NewCA(t, "another CA")
	holder, holderMem := newStore(t)
	defer holderMem.AssertSize(t, 0)
	ref := OutputRef{Run: "r1", Task: "make", Output: "out"}
	writeOutput(t, holder, ref, 3, 4)
	src := &storeSource{s: holder, outputs: map[string][]OutputRef{"r1": {ref}}}
	srv := startTLSFlight(t, src, nil, ca)
	src.holders = []string{srv.Addr()}

	// A node fetches and puts with its certificate.
	node, nodeMem := newStore(t)
	defer nodeMem.AssertSize(t, 0)
	node.flightTLS = ca.ClientConfig(t, "node")
	if meta, err := node.FetchFlight(context.Background(), srv.Addr(), ref); err != nil || meta.Rows != 7 {
		t.Fatalf("fetch over TLS = %+v, %v", meta, err)
	}
	put := OutputRef{Run: "r2", Task: "make", Output: "out"}
	writeOutput(t, node, put, 2)
	if err := node.PutFlight(context.Background(), srv.Addr(), put); err != nil {
		t.Fatalf("put over TLS with a node certificate: %v", err)
	}
	checkOutput(t, holder, put, 2)

	// A server that does not hold the output asks the holder over TLS.
	empty, emptyMem := newStore(t)
	defer emptyMem.AssertSize(t, 0)
	proxy := startTLSFlight(t, &storeSource{s: empty, holders: []string{srv.Addr()}, outputs: src.outputs}, nil, ca)
	reader := FlightDialOptions{TLS: &tls.Config{RootCAs: ca.Pool()}}
	info, err := describe(proxy.Addr(), reader)
	if err != nil || len(info.GetSchema()) == 0 {
		t.Fatalf("info from a TLS node that holds nothing = %v, %v", info, err)
	}
	if uri := info.GetEndpoint()[0].GetLocation()[0].GetUri(); uri != "grpc+tls://"+srv.Addr() {
		t.Fatalf("location = %q, want grpc+tls://%s", uri, srv.Addr())
	}

	// A reader without a certificate reads, but may not put.
	stranger, strangerMem := newStore(t)
	defer strangerMem.AssertSize(t, 0)
	stranger.flightTLS = reader.TLS
	if _, err := stranger.FetchFlight(context.Background(), srv.Addr(), ref); err != nil {
		t.Fatalf("fetch over TLS without a client certificate: %v", err)
	}
	sneaky := OutputRef{Run: "r3", Task: "make", Output: "out"}
	writeOutput(t, stranger, sneaky, 1)
	if err := stranger.PutFlight(context.Background(), srv.Addr(), sneaky); status.Code(err) != codes.PermissionDenied ||
		!strings.Contains(err.Error(), "node certificate") {
		t.Fatalf("put without a client certificate = %v, want PermissionDenied", err)
	}
	if _, err := holder.Open(sneaky); !errors.Is(err, ErrOutputNotFound) {
		t.Fatalf("a put without a certificate was stored: %v", err)
	}

	// Go's TLS client keeps quiet a certificate the server's CA list does
	// not name (the client then reads like any reader without one):
	// forceCert presents it regardless, which the handshake refuses.
	refused := map[string]FlightDialOptions{
		"plain TCP":                   {},
		"certificate from another CA": {TLS: forceCert(ca, other.ClientConfig(t, "intruder").Certificates[0])},
		"trusts another CA":           {TLS: other.ClientConfig(t, "node")},
	}
	for name, o := range refused {
		if info, err := describe(srv.Addr(), o); err == nil {
			t.Errorf("%s: got %v", name, info)
		}
	}
}

// forceCert is a client config that trusts ca and presents cert whatever
// CAs the server asks for.
func forceCert(ca *tlstest.CA, cert tls.Certificate) *tls.Config {
	return &tls.Config{RootCAs: ca.Pool(), GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		return &cert, nil
	}}
}
