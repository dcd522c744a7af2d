package dataplane

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// BenchmarkFlightThroughput moves a 256 MiB output (int64 and float64
// columns in 64k-row batches) from one store's Flight server to a client
// that reads every batch, and, in the same run, 256 MiB over a plain TCP
// connection on 127.0.0.1 for comparison. Both report MB/s; the Flight
// case also reports its share of the raw figure.
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
	srv := NewFlightServer(&storeSource{s: src, outputs: map[string][]OutputRef{"r": {ref}}}, lis, nil)
	defer srv.Close()

	raw := rawTCPRate(b, size)
	b.Run("raw-tcp", func(b *testing.B) {
		b.SetBytes(size)
		for i := 0; i < b.N; i++ {
			rawTCPRate(b, size)
		}
	})
	b.Run("flight-doget", func(b *testing.B) {
		c, err := DialFlight(srv.Addr())
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		b.SetBytes(size)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			stream, err := c.DoGet(context.Background(), &flight.Ticket{Ticket: []byte(ref.String())})
			if err != nil {
				b.Fatal(err)
			}
			rr, err := flight.NewRecordReader(stream, ipc.WithAllocator(memory.DefaultAllocator))
			if err != nil {
				b.Fatal(err)
			}
			var rows int64
			for rr.Next() {
				rows += rr.RecordBatch().NumRows()
			}
			if err := rr.Err(); err != nil {
				b.Fatal(err)
			}
			rr.Release()
			if rows != rowsPerBatch*batches {
				b.Fatalf("read %d rows", rows)
			}
		}
		mbps := float64(size) * float64(b.N) / b.Elapsed().Seconds() / 1e6
		b.ReportMetric(mbps/raw*100, "%-of-raw-tcp")
	})
}

// rawTCPRate copies size bytes over a fresh loopback TCP connection and
// returns MB/s.
func rawTCPRate(b *testing.B, size int64) float64 {
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
	return float64(n) / time.Since(start).Seconds() / 1e6
}
