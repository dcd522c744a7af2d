package consensus

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/hashicorp/raft"
)

// TransportTLS makes the Raft transport speak TLS: Server is the
// listener's config (set ClientAuth to tls.RequireAndVerifyClientCert and
// ClientCAs so that only the cluster's nodes get through), Client the one
// this node dials its peers with (RootCAs to verify them, Certificates to
// present its own). Both are required.
type TransportTLS struct {
	Server *tls.Config
	Client *tls.Config
}

// tlsHandshakeTimeout bounds the TLS handshake of an incoming Raft
// connection, so that a peer that connects and says nothing does not hold
// a goroutine for good.
const tlsHandshakeTimeout = 10 * time.Second

// tlsStreamLayer is a raft.StreamLayer over TLS: a TCP listener whose
// accepted connections are TLS servers, and tls.Dial for the way out.
type tlsStreamLayer struct {
	ln        net.Listener
	advertise net.Addr
	client    *tls.Config
}

// Accept waits for the next connection and returns it as the server side
// of a TLS session. The handshake starts at once on its own goroutine,
// under a deadline, so that a peer that connects and says nothing, or one
// without a valid certificate, is dropped without stalling the accepting
// of others; raft's first read waits for the handshake to end, and fails
// when it failed.
func (l *tlsStreamLayer) Accept() (net.Conn, error) {
	c, err := l.ln.Accept()
	if err != nil {
		return nil, err
	}
	if tc, ok := c.(*tls.Conn); ok {
		go func() {
			tc.SetDeadline(time.Now().Add(tlsHandshakeTimeout))
			if err := tc.Handshake(); err != nil {
				tc.Close()
				return
			}
			tc.SetDeadline(time.Time{})
		}()
	}
	return c, nil
}

// Close stops the listener.
func (l *tlsStreamLayer) Close() error { return l.ln.Close() }

// Addr is the address peers reach this node at.
func (l *tlsStreamLayer) Addr() net.Addr {
	if l.advertise != nil {
		return l.advertise
	}
	return l.ln.Addr()
}

// Dial opens a TLS connection to a peer, verifying its certificate
// against the peer address's host name or IP.
func (l *tlsStreamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	d := &net.Dialer{Timeout: timeout}
	c, err := tls.DialWithDialer(d, "tcp", string(address), l.client)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// newTLSTransport is the Raft network transport over TLS.
func newTLSTransport(cfg Config, advertise net.Addr, rc *raft.Config) (*raft.NetworkTransport, error) {
	t := cfg.TLS
	if t.Server == nil || t.Client == nil {
		return nil, errors.New("raft transport: TLS needs both a server and a client config")
	}
	ln, err := net.Listen("tcp", cfg.BindAddr)
	if err != nil {
		return nil, fmt.Errorf("start raft transport on %s: %w", cfg.BindAddr, err)
	}
	layer := &tlsStreamLayer{ln: tls.NewListener(ln, t.Server), advertise: advertise, client: t.Client}
	if a, ok := layer.Addr().(*net.TCPAddr); !ok || a.IP == nil || a.IP.IsUnspecified() {
		ln.Close()
		return nil, fmt.Errorf("start raft transport on %s: the address %s is not one peers can reach: set an advertise address", cfg.BindAddr, layer.Addr())
	}
	return raft.NewNetworkTransportWithLogger(layer, transportPool, transportTimeout, rc.Logger), nil
}
