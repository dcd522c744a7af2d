package node

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/forged-dev/forged/consensus"
)

// nodeTLS is the TLS material of a node started with a certificate, a key
// and the cluster's CA.
type nodeTLS struct {
	// server serves the API and Flight. Clients need no certificate (the
	// CLI and other clients authenticate with tokens), but one they
	// present must be signed by the CA; nodes present theirs, which the
	// internal routes and Flight DoPut require.
	server *tls.Config
	// peer serves Raft, which only nodes call: a client certificate from
	// the CA is required.
	peer *tls.Config
	// client dials other nodes: it verifies them against the CA and
	// presents this node's certificate.
	client *tls.Config
	// leaf is this node's certificate, for the start-up log.
	leaf *x509.Certificate
}

// loadTLS reads the config's TLS files; nil when TLS is not configured.
// Its errors name the files, never their contents.
func loadTLS(cfg *Config) (*nodeTLS, error) {
	certFile, keyFile, caFile := cfg.TLSCertFile, cfg.TLSKeyFile, cfg.TLSCAFile
	switch {
	case certFile == "" && keyFile == "" && caFile == "":
		return nil, nil
	case certFile == "":
		return nil, errors.New("tls: a key or CA file is set but no certificate file (--tls-cert)")
	case keyFile == "":
		return nil, fmt.Errorf("tls: certificate %s needs its private key file (--tls-key)", certFile)
	case caFile == "":
		return nil, fmt.Errorf("tls: certificate %s needs the cluster's CA file (--tls-ca): nodes verify one another with it", certFile)
	}
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("tls: load certificate %s with key %s: %w", certFile, keyFile, err)
	}
	pool, err := readCAFile(caFile)
	if err != nil {
		return nil, err
	}
	leaf := pair.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
			return nil, fmt.Errorf("tls: certificate %s: %w", certFile, err)
		}
	}
	inter := x509.NewCertPool()
	for _, der := range pair.Certificate[1:] {
		if c, err := x509.ParseCertificate(der); err == nil {
			inter.AddCert(c)
		}
	}
	// A node is a server to some peers and a client of others, so its
	// certificate must verify for both uses.
	for _, use := range []struct {
		name string
		eku  x509.ExtKeyUsage
	}{{"server", x509.ExtKeyUsageServerAuth}, {"client", x509.ExtKeyUsageClientAuth}} {
		_, err := leaf.Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{use.eku}})
		if err != nil {
			return nil, fmt.Errorf("tls: certificate %s does not verify as a %s certificate against the CA in %s "+
				"(it must be signed by that CA, be in date, and allow both serverAuth and clientAuth): %w", certFile, use.name, caFile, err)
		}
	}
	base := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{pair}}
	server := base.Clone()
	server.ClientCAs = pool
	server.ClientAuth = tls.VerifyClientCertIfGiven
	peer := server.Clone()
	peer.ClientAuth = tls.RequireAndVerifyClientCert
	client := base.Clone()
	client.RootCAs = pool
	return &nodeTLS{server: server, peer: peer, client: client, leaf: leaf}, nil
}

// readCAFile reads a PEM file of one or more CA certificates.
func readCAFile(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tls: read CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("tls: CA file %s holds no PEM certificate", path)
	}
	return pool, nil
}

// raft is the Raft transport's TLS; nil without TLS.
func (t *nodeTLS) raft() *consensus.TransportTLS {
	if t == nil {
		return nil
	}
	return &consensus.TransportTLS{Server: t.peer, Client: t.client}
}

// serverConfig is the API's and Flight's TLS config; nil without TLS.
func (t *nodeTLS) serverConfig() *tls.Config {
	if t == nil {
		return nil
	}
	return t.server
}

// clientConfig is the config this node dials peers with; nil without TLS.
func (t *nodeTLS) clientConfig() *tls.Config {
	if t == nil {
		return nil
	}
	return t.client
}

// logValue describes the TLS setup for the start-up log: no secrets.
func (t *nodeTLS) logValue() string {
	if t == nil {
		return "off"
	}
	return fmt.Sprintf("on (certificate %q, expires %s)", t.leaf.Subject.CommonName, t.leaf.NotAfter.UTC().Format(time.DateOnly))
}

// newPeerHTTPClient is the client nodes call one another's HTTP routes
// with: over TLS, with this node's certificate, when TLS is configured.
func newPeerHTTPClient(t *nodeTLS) *http.Client {
	if t == nil {
		return &http.Client{}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = t.client.Clone()
	return &http.Client{Transport: tr}
}

// scheme is the URL scheme of this node's API.
func (n *Node) scheme() string {
	if n.tls != nil {
		return "https"
	}
	return "http"
}

// requirePeerCert lets through only requests whose TLS client
// certificate verified against the cluster's CA: the internal routes,
// which only nodes call, when TLS is on.
func requirePeerCert(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 {
			http.Error(w, "only the cluster's nodes may call this route: present a node certificate signed by the cluster's CA", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// DecodeGossipKey decodes a base64 gossip encryption key and checks that
// it is 16, 24 or 32 bytes (AES-128, -192 or -256). Its errors never
// quote the key.
func DecodeGossipKey(text string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(text))
	if err != nil {
		return nil, errors.New("gossip key is not valid base64 (make one with: openssl rand -base64 32)")
	}
	if n := len(key); n != 16 && n != 24 && n != 32 {
		return nil, fmt.Errorf("gossip key is %d bytes; want 16, 24 or 32 (make one with: openssl rand -base64 32)", n)
	}
	return key, nil
}

// ReadGossipKeyFile reads a base64 gossip encryption key from a file (see
// DecodeGossipKey); surrounding white space is ignored.
func ReadGossipKeyFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read gossip key file: %w", err)
	}
	key, err := DecodeGossipKey(string(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return key, nil
}

// url is the member's API base URL, or empty when it has no API.
func (m memberMeta) url() string {
	if m.HTTP == "" {
		return ""
	}
	if m.TLS {
		return "https://" + m.HTTP
	}
	return "http://" + m.HTTP
}

// warnPartialSecurity logs what is left unprotected when only part of the
// cluster's traffic is.
func (n *Node) warnPartialSecurity() {
	if n.tls != nil && len(n.cfg.GossipKey) == 0 {
		n.log.Warn("TLS is on but gossip is not encrypted: set a gossip key (--gossip-key-file) so that strangers cannot join or read membership")
	}
	if n.tls == nil && len(n.cfg.GossipKey) > 0 {
		n.log.Warn("gossip is encrypted but the API, Flight and Raft are not: set --tls-cert, --tls-key and --tls-ca")
	}
}
