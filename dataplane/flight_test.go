package dataplane

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/forged-dev/forged/dag"
)

// storeSource serves what a store holds, and says it is held at holders.
type storeSource struct {
	s       *Store
	holders []string
	outputs map[string][]OutputRef // by run
}

func (src *storeSource) OpenOutput(_ context.Context, ref OutputRef) (*OutputFile, error) {
	return src.s.Open(ref)
}

func (src *storeSource) OpenLocal(ref OutputRef) (*OutputFile, error) { return src.s.Open(ref) }

func (src *storeSource) Locate(ref OutputRef) (dag.OutputMeta, []string, error) {
	for _, r := range src.outputs[ref.Run] {
		if r == ref {
			return dag.OutputMeta{Name: ref.Output, Rows: 7}, src.holders, nil
		}
	}
	return dag.OutputMeta{}, nil, ErrOutputNotFound
}

func (src *storeSource) RunOutputs(run string) ([]OutputRef, error) { return src.outputs[run], nil }

func (src *storeSource) AcceptPut(ref OutputRef) error {
	if ref.Run == "forbidden" {
		return errors.New("not taking it")
	}
	return nil
}

func (src *storeSource) Store() *Store { return src.s }

func startFlight(t *testing.T, src FlightSource, mem memory.Allocator) *FlightServer {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := NewFlightServer(src, lis, FlightServerOptions{Mem: mem})
	t.Cleanup(srv.Close)
	return srv
}

func TestFlightMovesOutputsBetweenStores(t *testing.T) {
	holder, holderMem := newStore(t)
	defer holderMem.AssertSize(t, 0)
	ref := OutputRef{Run: "r1", Task: "make", Output: "out"}
	writeOutput(t, holder, ref, 3, 4)
	src := &storeSource{s: holder, outputs: map[string][]OutputRef{"r1": {ref}}}
	srvMem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer srvMem.AssertSize(t, 0)
	srv := startFlight(t, src, srvMem)
	src.holders = []string{srv.Addr()}

	// Another node's store copies it, batch by batch.
	copyStore, copyMem := newStore(t)
	defer copyMem.AssertSize(t, 0)
	meta, err := copyStore.FetchFlight(context.Background(), srv.Addr(), ref)
	if err != nil {
		t.Fatal(err)
	}
	if meta.Rows != 7 {
		t.Fatalf("fetched %d rows, want 7", meta.Rows)
	}
	f, err := copyStore.Open(ref)
	if err != nil {
		t.Fatal(err)
	}
	rr, err := f.Reader()
	if err != nil {
		t.Fatal(err)
	}
	if ids := readIDs(t, rr); len(ids) != 7 || ids[6] != 6 {
		t.Fatalf("copy holds ids %v", ids)
	}
	rr.Release()
	f.Close()

	c, err := DialFlight(srv.Addr(), "")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	info, err := c.GetFlightInfo(ctx, &flight.FlightDescriptor{Type: flight.DescriptorPATH, Path: []string{"r1", "make", "out"}})
	if err != nil {
		t.Fatal(err)
	}
	schema, err := flight.DeserializeSchema(info.GetSchema(), memory.DefaultAllocator)
	if err != nil || !schema.Equal(testSchema) {
		t.Fatalf("info schema = %v, %v", schema, err)
	}
	if info.GetTotalRecords() != 7 || len(info.GetEndpoint()) != 1 ||
		string(info.GetEndpoint()[0].GetTicket().GetTicket()) != "r1/make/out" ||
		info.GetEndpoint()[0].GetLocation()[0].GetUri() != "grpc+tcp://"+srv.Addr() {
		t.Fatalf("info = %v", info)
	}

	list, err := c.ListFlights(ctx, &flight.Criteria{Expression: []byte("r1")})
	if err != nil {
		t.Fatal(err)
	}
	var listed int
	for {
		_, err := list.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		listed++
	}
	if listed != 1 {
		t.Fatalf("listed %d flights, want 1", listed)
	}

	// A server that does not hold the output describes it from a holder.
	empty, emptyMem := newStore(t)
	defer emptyMem.AssertSize(t, 0)
	proxy := startFlight(t, &storeSource{s: empty, holders: []string{srv.Addr()}, outputs: src.outputs}, nil)
	pc, err := DialFlight(proxy.Addr(), "")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	info, err = pc.GetFlightInfo(ctx, &flight.FlightDescriptor{Type: flight.DescriptorCMD, Cmd: []byte("r1/make/out")})
	if err != nil || len(info.GetSchema()) == 0 {
		t.Fatalf("info from a node that holds nothing = %v, %v", info, err)
	}
}

func TestFlightErrors(t *testing.T) {
	s, mem := newStore(t)
	defer mem.AssertSize(t, 0)
	srv := startFlight(t, &storeSource{s: s}, nil)
	c, err := DialFlight(srv.Addr(), "")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	doGet := func(ticket string) error {
		stream, err := c.DoGet(ctx, &flight.Ticket{Ticket: []byte(ticket)})
		if err != nil {
			return err
		}
		rr, err := flight.NewRecordReader(stream, ipc.WithAllocator(memory.DefaultAllocator))
		if err == nil {
			rr.Release()
		}
		return err
	}
	if code := status.Code(doGet("r1/none/out")); code != codes.NotFound {
		t.Fatalf("DoGet of a missing output: %v, want NotFound", code)
	}
	if code := status.Code(doGet("not-a-ticket")); code != codes.InvalidArgument {
		t.Fatalf("DoGet of a bad ticket: %v, want InvalidArgument", code)
	}
	_, err = c.GetFlightInfo(ctx, &flight.FlightDescriptor{Type: flight.DescriptorPATH, Path: []string{"r1"}})
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("info with a short path: %v", err)
	}
	if _, err := s.FetchFlight(ctx, srv.Addr(), OutputRef{Run: "r1", Task: "none", Output: "out"}); !errors.Is(err, ErrOutputNotFound) {
		t.Fatalf("fetch of a missing output: %v", err)
	}
	if _, err := s.Open(OutputRef{Run: "r1", Task: "none", Output: "out"}); !errors.Is(err, ErrOutputNotFound) {
		t.Fatalf("a failed fetch left something: %v", err)
	}
}

func TestFlightPutCopiesAnOutput(t *testing.T) {
	from, fromMem := newStore(t)
	defer fromMem.AssertSize(t, 0)
	to, toMem := newStore(t)
	defer toMem.AssertSize(t, 0)
	srv := startFlight(t, &storeSource{s: to}, toMem)
	ref := OutputRef{Run: "r1", Task: "make", Output: "out"}
	writeOutput(t, from, ref, 3, 4)
	if err := from.PutFlight(context.Background(), srv.Addr(), ref); err != nil {
		t.Fatal(err)
	}
	checkOutput(t, to, ref, 7)
	empty := OutputRef{Run: "r1", Task: "none", Output: "out"}
	writeOutput(t, from, empty)
	if err := from.PutFlight(context.Background(), srv.Addr(), empty); err != nil {
		t.Fatal(err)
	}
	if m, err := to.Meta(empty); err != nil || m.Rows != 0 {
		t.Fatalf("empty copy: %+v, %v", m, err)
	}
	denied := OutputRef{Run: "forbidden", Task: "make", Output: "out"}
	writeOutput(t, from, denied, 1)
	if err := from.PutFlight(context.Background(), srv.Addr(), denied); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("a refused put: %v", err)
	}
	if _, err := to.Open(denied); !errors.Is(err, ErrOutputNotFound) {
		t.Fatalf("a refused put was stored: %v", err)
	}
}
