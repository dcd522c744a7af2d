package dataplane

import (
	"context"
	"errors"
	"path"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/forged-dev/forged/auth"
)

// flightRole is the role a Flight method needs when tokens are enabled:
// DoPut writes, and only nodes call it; everything else reads.
func flightRole(fullMethod string) auth.Role {
	if path.Base(fullMethod) == "DoPut" {
		return auth.RoleAdmin
	}
	return auth.RoleRead
}

// authorize checks the bearer token in a call's metadata, and for DoPut
// over TLS the caller's node certificate (see checkPeerCert).
func (s *FlightServer) authorize(ctx context.Context, fullMethod string) error {
	if err := s.checkPeerCert(ctx, fullMethod); err != nil {
		return err
	}
	if !s.tokens.Enabled() {
		return nil
	}
	var header string
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		if v := md.Get("authorization"); len(v) > 0 {
			header = v[0]
		}
	}
	err := s.tokens.Check(header, flightRole(fullMethod))
	switch {
	case err == nil:
		return nil
	case errors.Is(err, auth.ErrForbidden):
		return status.Error(codes.PermissionDenied, err.Error())
	}
	return status.Error(codes.Unauthenticated, err.Error())
}

func (s *FlightServer) authorizeUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	if err := s.authorize(ctx, info.FullMethod); err != nil {
		return nil, err
	}
	return h(ctx, req)
}

func (s *FlightServer) authorizeStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	if err := s.authorize(ss.Context(), info.FullMethod); err != nil {
		return err
	}
	return h(srv, ss)
}

// bearerCredentials sends a token with every call. It does not insist on
// TLS: the cluster's Flight traffic is plain TCP until TLS is configured.
type bearerCredentials string

// GetRequestMetadata returns the authorization header.
func (b bearerCredentials) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}

// RequireTransportSecurity is false: see the type's comment.
func (bearerCredentials) RequireTransportSecurity() bool { return false }
