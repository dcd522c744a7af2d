package cli

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"

	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/spf13/pflag"

	"github.com/forged-dev/forged/client"
	"github.com/forged-dev/forged/dataplane"
	"github.com/forged-dev/forged/node"
)

// tlsFlags are the client side's TLS settings, shared by every command:
// the CA that verifies the node (which a node started with --tls-cert
// also verifies its peers with) and, for tests only, skipping
// verification.
type tlsFlags struct {
	ca                 string
	insecureSkipVerify bool
}

func (f *tlsFlags) register(pf *pflag.FlagSet) {
	pf.StringVar(&f.ca, "tls-ca", os.Getenv("FORGED_TLS_CA"),
		"PEM CA file: clients verify the node's certificate with it; agents verify their peers with it (env FORGED_TLS_CA)")
	pf.BoolVar(&f.insecureSkipVerify, "insecure-skip-verify", false,
		"do not verify the node's TLS certificate: for testing only, anyone between you and the node can read and change the traffic")
}

// config is the TLS client config for https URLs and Flight over TLS:
// the CA's certificates when --tls-ca is given, else the system's.
func (f *tlsFlags) config() (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: f.insecureSkipVerify}
	if f.ca == "" {
		return cfg, nil
	}
	b, err := os.ReadFile(f.ca)
	if err != nil {
		return nil, fmt.Errorf("--tls-ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("--tls-ca: %s holds no PEM certificate", f.ca)
	}
	cfg.RootCAs = pool
	return cfg, nil
}

// httpClient is the HTTP client of the API client: the default one
// unless TLS settings were given. A bad CA file fails every request with
// the reason.
func (f *tlsFlags) httpClient() *http.Client {
	if f.ca == "" && !f.insecureSkipVerify {
		return http.DefaultClient
	}
	cfg, err := f.config()
	if err != nil {
		return &http.Client{Transport: failingTransport{err}}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = cfg
	return &http.Client{Transport: tr}
}

// failingTransport fails every request with err.
type failingTransport struct{ err error }

// RoundTrip returns the transport's error.
func (t failingTransport) RoundTrip(*http.Request) (*http.Response, error) { return nil, t.err }

// apiClient is the API client of the node at the --addr URL.
func (g *globals) apiClient() *client.Client {
	c := client.New(g.addr, g.token)
	c.HTTP = g.tls.httpClient()
	return c
}

// dialFlight opens a Flight client to a node's server, over TLS when the
// node says its server speaks it.
func (g *globals) dialFlight(addr string, useTLS bool) (flight.Client, error) {
	o := dataplane.FlightDialOptions{Token: g.token}
	if useTLS {
		cfg, err := g.tls.config()
		if err != nil {
			return nil, err
		}
		o.TLS = cfg
	}
	return dataplane.DialFlightWith(addr, o)
}

// nodeTLS sets the node config's TLS files and gossip key from the flags.
func (f *nodeFlags) nodeTLS(g *globals, cfg *node.Config) error {
	cfg.TLSCertFile, cfg.TLSKeyFile, cfg.TLSCAFile = f.tlsCert, f.tlsKey, g.tls.ca
	if g.tls.insecureSkipVerify && f.tlsCert != "" {
		return errors.New("--insecure-skip-verify is for clients: a node always verifies its peers against --tls-ca")
	}
	switch {
	case f.gossipKeyFile != "" && f.encrypt != "":
		return errors.New("--gossip-key-file and --encrypt (or env FORGED_GOSSIP_KEY) both give a gossip key: use one")
	case f.gossipKeyFile != "":
		key, err := node.ReadGossipKeyFile(f.gossipKeyFile)
		if err != nil {
			return fmt.Errorf("--gossip-key-file: %w", err)
		}
		cfg.GossipKey = key
	case f.encrypt != "":
		key, err := node.DecodeGossipKey(f.encrypt)
		if err != nil {
			return fmt.Errorf("--encrypt: %w", err)
		}
		cfg.GossipKey = key
	}
	return nil
}

// registerTLS adds the node's TLS and gossip key flags.
func (f *nodeFlags) registerTLS(fl *pflag.FlagSet) {
	fl.StringVar(&f.tlsCert, "tls-cert", "", "PEM certificate of this node: serve the API over HTTPS and Flight and Raft over TLS (needs --tls-key and --tls-ca)")
	fl.StringVar(&f.tlsKey, "tls-key", "", "PEM private key of --tls-cert")
	fl.StringVar(&f.gossipKeyFile, "gossip-key-file", "", "file holding the base64 gossip encryption key of 16, 24 or 32 bytes (instead of --encrypt)")
}
