package dataplane

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// BenchmarkFlightThroughput moves a 256 MiB output (int64 and float64
// columns in 64k-row batches) from one store's Flight server to a client
// that reads every batch. Each iteration also copies 256 MiB over a plain
// TCP connection on 127.0.0.1, right before the transfer, so that both
// figures come from the same moments of a machine whose speed drifts; it
// reports both rates and the Flight rate as a share of the raw one.
//
// "node" is what a node does to fetch an input, short of writing it to
// disk (forged's Flight reader over DoGet); "stock-client" is an arrow-go
// Flight client reading the same stream, for comparison.
func BenchmarkFlightThroughput(b *testing.B) {
	const rowsPerBatch, batches = 64 << 10, 256
	const size = int64(rowsPerBatch * batches * 16)
	src, err := OpenStoreWith(b.TempDir(), StoreOptions{DeferSync: true})
	if err != nil {
		b.Fatal(err)
	}
	ref := OutputRef{Run: "r", Task: "big", Output: "out"}
	writeBig(b, src, ref, batches, rowsPerBatch)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := NewFlightServer(&storeSource{s: src, outputs: map[string][]OutputRef{"r": {ref}}}, lis, FlightServerOptions{})
	defer srv.Close()

	b.Run("node", func(b *testing.B) {
		benchDoGet(b, srv.Addr(), ref, size, func(stream flight.FlightService_DoGetClient) (array.RecordReader, error) {
			return recvRecords(stream.RecvMsg, memory.DefaultAllocator)
		})
	})
	b.Run("stock-client", func(b *testing.B) {
		benchDoGet(b, srv.Addr(), ref, size, func(stream flight.FlightService_DoGetClient) (array.RecordReader, error) {
			return flight.NewRecordReader(stream, ipc.WithAllocator(memory.DefaultAllocator))
		})
	})
}

// benchDoGet reads ref from the Flight server at addr with read, b.N
// times, each after a raw TCP copy of the same size.
func benchDoGet(b *testing.B, addr string, ref OutputRef, size int64,
	read func(flight.FlightService_DoGetClient) (array.RecordReader, error)) {
	c, err := DialFlight(addr, "")
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	b.SetBytes(size)
	var rawTime, flightTime time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		rawTime += rawTCPCopy(b, size)
		b.StartTimer()
		start := time.Now()
		stream, err := c.DoGet(context.Background(), &flight.Ticket{Ticket: []byte(ref.String())})
		if err != nil {
			b.Fatal(err)
		}
		rr, err := read(stream)
		if err != nil {
			b.Fatal(err)
		}
		var n int64
		for rr.Next() {
			n += rr.RecordBatch().NumRows()
		}
		if err := rr.Err(); err != nil {
			b.Fatal(err)
		}
		rr.Release()
		flightTime += time.Since(start)
		if n*16 != size {
			b.Fatalf("read %d rows", n)
		}
	}
	total := float64(size) * float64(b.N) / 1e6
	b.ReportMetric(total/rawTime.Seconds(), "raw-tcp-MB/s")
	b.ReportMetric(total/flightTime.Seconds(), "flight-MB/s")
	b.ReportMetric(rawTime.Seconds()/flightTime.Seconds()*100, "%-of-raw-tcp")
}

// rawTCPCopy copies size bytes over a fresh loopback TCP connection and
// returns how long reading them took.
func rawTCPCopy(b *testing.B, size int64) time.Duration {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer lis.Close()
	go func() {
		conn, err := lis.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		buf := make([]byte, 1<<20)
		for sent := int64(0); sent < size; sent += int64(len(buf)) {
			if _, err := conn.Write(buf); err != nil {
				return
			}
		}
	}()
	conn, err := net.Dial("tcp", lis.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	n, err := io.Copy(io.Discard, conn)
	if err != nil || n < size {
		b.Fatalf("raw copy: %d bytes, %v", n, err)
	}
	return time.Since(start)
}
