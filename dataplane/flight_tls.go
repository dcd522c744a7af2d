package dataplane

import (
	"context"
	"crypto/tls"
	"fmt"
	"path"

	"github.com/apache/arrow-go/v18/arrow/flight"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// FlightDialOptions says how DialFlightWith connects.
type FlightDialOptions struct {
	// Token, when not empty, is sent as a bearer token with every call.
	Token string
	// TLS, when set, makes the connection TLS with this config: RootCAs
	// verify the server (whose certificate must name the host dialled),
	// Certificates are presented when the server asks for a client
	// certificate. Nil dials plain TCP.
	TLS *tls.Config
}

// DialFlightWith opens a Flight client to addr (host:port) as the options
// say. The caller closes it.
func DialFlightWith(addr string, o FlightDialOptions) (flight.Client, error) {
	creds := insecure.NewCredentials()
	if o.TLS != nil {
		creds = credentials.NewTLS(o.TLS.Clone())
	}
	opts := []grpc.DialOption{grpc.WithTransportCredentials(creds),
		grpc.WithInitialWindowSize(flightWindow), grpc.WithInitialConnWindowSize(flightWindow),
		grpc.WithDefaultCallOptions(grpc.ForceCodecV2(theFlightCodec),
			grpc.MaxCallRecvMsgSize(maxFlightMessage), grpc.MaxCallSendMsgSize(maxFlightMessage))}
	if o.Token != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(bearerCredentials(o.Token)))
	}
	c, err := flight.NewClientWithMiddleware(addr, nil, nil, opts...)
	if err != nil {
		return nil, fmt.Errorf("dial flight %s: %w", addr, err)
	}
	return c, nil
}

// FlightScheme is the URI scheme of Flight locations: grpc+tls with TLS,
// grpc+tcp without.
func FlightScheme(useTLS bool) string {
	if useTLS {
		return "grpc+tls"
	}
	return "grpc+tcp"
}

// dialPeer opens a Flight client to another node's server, with the
// store's token and TLS config.
func (s *Store) dialPeer(addr string) (flight.Client, error) {
	return DialFlightWith(addr, FlightDialOptions{Token: s.flightToken, TLS: s.flightTLS})
}

// serverCreds are the gRPC server options that make a Flight server speak
// TLS with cfg; none for a nil cfg.
func serverCreds(cfg *tls.Config) []grpc.ServerOption {
	if cfg == nil {
		return nil
	}
	return []grpc.ServerOption{grpc.Creds(credentials.NewTLS(cfg.Clone()))}
}

// checkPeerCert refuses DoPut, which only nodes call, from a client that
// did not present a certificate verified against the server's client CAs,
// when the server has any. A client with a certificate that does not
// verify never gets this far: the TLS handshake refuses it.
func (s *FlightServer) checkPeerCert(ctx context.Context, fullMethod string) error {
	if s.tlsCfg == nil || s.tlsCfg.ClientCAs == nil || path.Base(fullMethod) != "DoPut" {
		return nil
	}
	if p, ok := peer.FromContext(ctx); ok {
		if info, ok := p.AuthInfo.(credentials.TLSInfo); ok && len(info.State.VerifiedChains) > 0 {
			return nil
		}
	}
	return status.Error(codes.PermissionDenied, "do put: only the cluster's nodes may upload: present a node certificate signed by the cluster's CA")
}
