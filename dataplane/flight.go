package dataplane

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/forged-dev/forged/auth"
	"github.com/forged-dev/forged/dag"
)

// maxFlightMessage bounds one gRPC message, a record batch included; the
// gRPC default of 4 MiB refuses ordinary batches.
const maxFlightMessage = 256 << 20

// flightWindow is the HTTP/2 flow-control window of Flight streams and
// connections: large enough that a sender is not held up waiting for
// window updates between batches.
const flightWindow = 64 << 20

// FlightSource is what a Flight server serves; the node decides where an
// output lives.
type FlightSource interface {
	// OpenOutput opens an output for DoGet: held here, or fetched from
	// a node that holds it; the error wraps ErrOutputNotFound when there
	// is none.
	OpenOutput(ctx context.Context, ref OutputRef) (*OutputFile, error)
	// OpenLocal opens an output only if this node holds it (a file here,
	// or kept inline in the state), without fetching; the error wraps
	// ErrOutputNotFound otherwise.
	OpenLocal(ref OutputRef) (*OutputFile, error)
	// Locate describes a committed output and returns the Flight
	// addresses of the nodes that hold it; the error wraps
	// ErrOutputNotFound when there is no such output.
	Locate(ref OutputRef) (dag.OutputMeta, []string, error)
	// RunOutputs lists a run's committed outputs.
	RunOutputs(run string) ([]OutputRef, error)
	// AcceptPut says whether a DoPut of ref may be stored here; the error
	// is sent to the client.
	AcceptPut(ref OutputRef) error
	// Store is where accepted puts are written.
	Store() *Store
}

// FlightServer serves task outputs over Arrow Flight: DoGet streams the
// output a ticket names ("run/task/output"), GetFlightInfo describes one
// (PATH descriptor run, task, output) and where it is held, ListFlights
// lists a run's outputs (the criteria's expression is the run ID).
type FlightServer struct {
	flight.BaseFlightServer
	src    FlightSource
	mem    memory.Allocator
	tokens *auth.Tokens
	// tlsCfg is the server's TLS config (nil: plain TCP) and peerTLS the
	// one it dials other nodes with.
	tlsCfg  *tls.Config
	peerTLS *tls.Config

	srv  flight.Server
	addr string
	done chan struct{}
	once sync.Once
}

// FlightServerOptions tunes a Flight server.
type FlightServerOptions struct {
	// Mem allocates the batches of uploads; nil is
	// memory.DefaultAllocator.
	Mem memory.Allocator
	// Tokens, when enabled, are required on every call: the read role
	// for DoGet, GetFlightInfo and ListFlights, admin for DoPut (which
	// only nodes use). The server presents their internal token when it
	// asks another node about an output.
	Tokens *auth.Tokens
	// TLS, when set, serves over TLS with this config. With ClientCAs set,
	// DoPut (which only nodes call) needs a client certificate verified
	// against them; set ClientAuth to tls.VerifyClientCertIfGiven so that
	// readers without one (clients holding a token) still get in while a
	// certificate that does not verify is refused.
	TLS *tls.Config
	// PeerTLS is the TLS config the server dials other nodes' Flight
	// servers with when it asks them about an output; nil dials plain TCP.
	PeerTLS *tls.Config
}

// NewFlightServer serves src on lis until Close.
func NewFlightServer(src FlightSource, lis net.Listener, opts FlightServerOptions) *FlightServer {
	mem := opts.Mem
	if mem == nil {
		mem = memory.DefaultAllocator
	}
	s := &FlightServer{src: src, mem: mem, tokens: opts.Tokens, tlsCfg: opts.TLS, peerTLS: opts.PeerTLS,
		addr: lis.Addr().String(), done: make(chan struct{})}
	s.srv = flight.NewServerWithMiddleware(nil, append(serverCreds(opts.TLS),
		grpc.ChainUnaryInterceptor(s.authorizeUnary), grpc.ChainStreamInterceptor(s.authorizeStream),
		grpc.ForceServerCodecV2(theFlightCodec),
		grpc.MaxRecvMsgSize(maxFlightMessage), grpc.MaxSendMsgSize(maxFlightMessage),
		grpc.InitialWindowSize(flightWindow), grpc.InitialConnWindowSize(flightWindow))...)
	s.srv.InitListener(lis)
	s.srv.RegisterFlightService(s)
	go func() {
		defer close(s.done)
		_ = s.srv.Serve()
	}()
	return s
}

// Addr is the address the server listens on.
func (s *FlightServer) Addr() string { return s.addr }

// Close stops accepting calls, waits for those under way and returns.
// It is safe to call twice.
func (s *FlightServer) Close() {
	s.once.Do(func() {
		s.srv.Shutdown()
		<-s.done
	})
}

// DoGet streams the output the ticket names, batch by batch.
func (s *FlightServer) DoGet(tkt *flight.Ticket, stream flight.FlightService_DoGetServer) error {
	ref, err := ParseOutputRef(string(tkt.GetTicket()))
	if err != nil {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	f, err := s.src.OpenOutput(stream.Context(), ref)
	if err != nil {
		return flightError(err)
	}
	defer f.Close()
	if err := serveRecords(stream.SendMsg, f); err != nil {
		if status.Code(err) == codes.Unknown {
			err = status.Error(codes.Internal, err.Error())
		}
		return err
	}
	return nil
}

// GetFlightInfo describes an output: its schema, size and the nodes that
// hold it.
func (s *FlightServer) GetFlightInfo(ctx context.Context, desc *flight.FlightDescriptor) (*flight.FlightInfo, error) {
	ref, err := refOfDescriptor(desc)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	return s.info(ctx, ref)
}

// DoPut stores the record batches of a stream whose first message has a
// PATH descriptor (run, task, output), as a file, once the source accepts
// it. The copy is synced before the single PutResult answers, so a client
// that got it knows the data is durable here.
func (s *FlightServer) DoPut(stream flight.FlightService_DoPutServer) error {
	rr, err := recvRecords(stream.RecvMsg, s.mem)
	if err != nil {
		return status.Error(codes.InvalidArgument, "do put: "+err.Error())
	}
	defer rr.Release()
	desc := rr.Descriptor()
	if desc == nil {
		return status.Error(codes.InvalidArgument, "do put: the first message names no flight descriptor")
	}
	ref, err := refOfDescriptor(desc)
	if err != nil {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	if err := s.src.AcceptPut(ref); err != nil {
		return status.Error(codes.PermissionDenied, fmt.Sprintf("do put %s: %v", ref, err))
	}
	store := s.src.Store()
	meta, err := store.receive(ref, rr)
	if err != nil {
		return flightError(err)
	}
	if err := store.SyncOutputs([]OutputRef{ref}); err != nil {
		return status.Error(codes.Internal, err.Error())
	}
	return stream.Send(&flight.PutResult{AppMetadata: []byte(fmt.Sprintf(`{"rows":%d,"bytes":%d}`, meta.Rows, meta.Bytes))})
}

// PutFlight uploads a committed output of this store to the Flight server
// at addr (DoPut), batch by batch, and returns once the server has it
// durably.
func (s *Store) PutFlight(ctx context.Context, addr string, ref OutputRef) error {
	f, err := s.Open(ref)
	if err != nil {
		return err
	}
	defer f.Close()
	rr, err := f.Reader()
	if err != nil {
		return err
	}
	defer rr.Release()
	c, err := s.dialPeer(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	stream, err := c.DoPut(ctx)
	if err != nil {
		return fmt.Errorf("put %s to %s: %w", ref, addr, err)
	}
	desc := &flight.FlightDescriptor{Type: flight.DescriptorPATH, Path: []string{ref.Run, ref.Task, ref.Output}}
	if err := sendRecords(stream.SendMsg, rr, desc, nil); err != nil {
		// A send fails with io.EOF when the server ended the call
		// (refused it, say); its status then comes with Recv.
		if errors.Is(err, io.EOF) {
			if _, rerr := stream.Recv(); rerr != nil && !errors.Is(rerr, io.EOF) {
				err = rerr
			}
		}
		return fmt.Errorf("put %s to %s: %w", ref, addr, err)
	}
	if err := stream.CloseSend(); err != nil {
		return fmt.Errorf("put %s to %s: %w", ref, addr, err)
	}
	if _, err := stream.Recv(); err != nil {
		return fmt.Errorf("put %s to %s: %w", ref, addr, err)
	}
	return nil
}

// ListFlights sends the description of every output of the run the
// criteria's expression names.
func (s *FlightServer) ListFlights(c *flight.Criteria, stream flight.FlightService_ListFlightsServer) error {
	run := strings.TrimSpace(string(c.GetExpression()))
	if err := checkPart("run", run); err != nil {
		return status.Error(codes.InvalidArgument, "list flights: the criteria's expression must be a run ID: "+err.Error())
	}
	refs, err := s.src.RunOutputs(run)
	if err != nil {
		return flightError(err)
	}
	for _, ref := range refs {
		info, err := s.info(stream.Context(), ref)
		if err != nil {
			return err
		}
		if err := stream.Send(info); err != nil {
			return err
		}
	}
	return nil
}

func (s *FlightServer) info(ctx context.Context, ref OutputRef) (*flight.FlightInfo, error) {
	meta, holders, err := s.src.Locate(ref)
	if err != nil {
		return nil, flightError(err)
	}
	// The schema comes from the data: from here when this node can open
	// it, else from a holder.
	var schema []byte
	if f, err := s.src.OpenLocal(ref); err == nil {
		schema = flight.SerializeSchema(f.Schema(), s.mem)
		f.Close()
	} else if !errors.Is(err, ErrOutputNotFound) {
		return nil, flightError(err)
	} else {
		remote, err := remoteInfo(ctx, holders, ref, FlightDialOptions{Token: s.tokens.Internal(), TLS: s.peerTLS})
		if err != nil {
			return nil, flightError(err)
		}
		schema = remote.GetSchema()
	}
	locs := make([]*flight.Location, len(holders))
	for i, h := range holders {
		locs[i] = &flight.Location{Uri: FlightScheme(s.tlsCfg != nil) + "://" + h}
	}
	return &flight.FlightInfo{
		Schema:           schema,
		FlightDescriptor: &flight.FlightDescriptor{Type: flight.DescriptorPATH, Path: []string{ref.Run, ref.Task, ref.Output}},
		Endpoint:         []*flight.FlightEndpoint{{Ticket: &flight.Ticket{Ticket: []byte(ref.String())}, Location: locs}},
		TotalRecords:     meta.Rows,
		TotalBytes:       meta.Bytes,
	}, nil
}

// remoteInfo asks the first holder that answers for an output's info.
func remoteInfo(ctx context.Context, holders []string, ref OutputRef, dial FlightDialOptions) (*flight.FlightInfo, error) {
	var errs []error
	for _, h := range holders {
		c, err := DialFlightWith(h, dial)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		info, err := c.GetFlightInfo(ctx, &flight.FlightDescriptor{Type: flight.DescriptorPATH, Path: []string{ref.Run, ref.Task, ref.Output}})
		c.Close()
		if err == nil {
			return info, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", h, err))
	}
	if len(errs) == 0 {
		return nil, fmt.Errorf("%w: %s has no live holder", ErrOutputNotFound, ref)
	}
	return nil, fmt.Errorf("describe %s: %w", ref, errors.Join(errs...))
}

// refOfDescriptor reads a PATH descriptor (run, task, output) or a CMD
// descriptor holding "run/task/output".
func refOfDescriptor(d *flight.FlightDescriptor) (OutputRef, error) {
	switch d.GetType() {
	case flight.DescriptorPATH:
		if p := d.GetPath(); len(p) == 3 {
			ref := OutputRef{Run: p[0], Task: p[1], Output: p[2]}
			return ref, ref.Validate()
		}
		return OutputRef{}, fmt.Errorf("%w: a path descriptor names run, task and output", ErrBadRef)
	case flight.DescriptorCMD:
		return ParseOutputRef(string(d.GetCmd()))
	}
	return OutputRef{}, fmt.Errorf("%w: unknown descriptor type %v", ErrBadRef, d.GetType())
}

// flightError maps the data plane's errors to gRPC statuses.
func flightError(err error) error {
	switch {
	case errors.Is(err, ErrOutputNotFound):
		return status.Error(codes.NotFound, err.Error())
	case errors.Is(err, ErrBadRef):
		return status.Error(codes.InvalidArgument, err.Error())
	case status.Code(err) != codes.Unknown:
		return err
	}
	return status.Error(codes.Internal, err.Error())
}

// DialFlight opens a Flight client to addr (host:port, no TLS) that sends
// token, when not empty, as a bearer token with every call. The caller
// closes it. DialFlightWith dials with TLS.
func DialFlight(addr, token string) (flight.Client, error) {
	return DialFlightWith(addr, FlightDialOptions{Token: token})
}

// FetchFlight copies an output from the Flight server at addr into the
// store, batch by batch: nothing is held whole in memory. The copy is
// committed (and visible) only once the whole stream arrived.
func (s *Store) FetchFlight(ctx context.Context, addr string, ref OutputRef) (dag.OutputMeta, error) {
	c, err := s.dialPeer(addr)
	if err != nil {
		return dag.OutputMeta{}, err
	}
	defer c.Close()
	stream, err := c.DoGet(ctx, &flight.Ticket{Ticket: []byte(ref.String())})
	if err != nil {
		return dag.OutputMeta{}, fmt.Errorf("fetch %s from %s: %w", ref, addr, err)
	}
	rr, err := recvRecords(stream.RecvMsg, s.mem)
	if err != nil {
		if status.Code(err) == codes.NotFound {
			return dag.OutputMeta{}, fmt.Errorf("%w: %s on %s", ErrOutputNotFound, ref, addr)
		}
		return dag.OutputMeta{}, fmt.Errorf("fetch %s from %s: %w", ref, addr, err)
	}
	defer rr.Release()
	meta, err := s.receive(ref, rr)
	if err != nil {
		return dag.OutputMeta{}, fmt.Errorf("fetch %s from %s: %w", ref, addr, err)
	}
	return meta, nil
}

// receive writes a stream of batches as ref's file and commits it once the
// stream ended cleanly.
func (s *Store) receive(ref OutputRef, rr array.RecordReader) (dag.OutputMeta, error) {
	w, err := s.createFile(ref, rr.Schema())
	if err != nil {
		return dag.OutputMeta{}, err
	}
	defer w.Abort()
	for rr.Next() {
		if err := w.Write(rr.RecordBatch()); err != nil {
			return dag.OutputMeta{}, fmt.Errorf("store %s: %w", ref, err)
		}
	}
	if err := rr.Err(); err != nil {
		return dag.OutputMeta{}, err
	}
	return w.Commit()
}
