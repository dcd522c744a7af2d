package dataplane

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// peakAllocator counts the Arrow memory in use and its highest point.
type peakAllocator struct {
	mem  memory.Allocator
	cur  atomic.Int64
	peak atomic.Int64
}

func (a *peakAllocator) add(n int) {
	c := a.cur.Add(int64(n))
	for p := a.peak.Load(); c > p && !a.peak.CompareAndSwap(p, c); p = a.peak.Load() {
	}
}

func (a *peakAllocator) Allocate(size int) []byte { a.add(size); return a.mem.Allocate(size) }

func (a *peakAllocator) Reallocate(size int, b []byte) []byte {
	a.add(size - len(b))
	return a.mem.Reallocate(size, b)
}

func (a *peakAllocator) Free(b []byte) { a.add(-len(b)); a.mem.Free(b) }

var bigSchema = arrow.NewSchema([]arrow.Field{
	{Name: "id", Type: arrow.PrimitiveTypes.Int64},
	{Name: "x", Type: arrow.PrimitiveTypes.Float64},
}, nil)

// writeBig commits an output of batches of rows int64/float64 rows.
func writeBig(t testing.TB, s *Store, ref OutputRef, batches, rows int) {
	t.Helper()
	w, err := s.Create(ref, bigSchema)
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]int64, rows)
	xs := make([]float64, rows)
	for b := 0; b < batches; b++ {
		for i := range ids {
			ids[i] = int64(b*rows + i)
			xs[i] = float64(i) / 3
		}
		ib := array.NewInt64Builder(s.mem)
		ib.AppendValues(ids, nil)
		fb := array.NewFloat64Builder(s.mem)
		fb.AppendValues(xs, nil)
		idCol, xCol := ib.NewArray(), fb.NewArray()
		ib.Release()
		fb.Release()
		rec := array.NewRecordBatch(bigSchema, []arrow.Array{idCol, xCol}, int64(rows))
		idCol.Release()
		xCol.Release()
		err := w.Write(rec)
		rec.Release()
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.Commit(); err != nil {
		t.Fatal(err)
	}
}

// heapWatch samples the Go heap in use until stopped and returns its
// highest value.
func heapWatch() (stop func() uint64) {
	var peak uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	return func() uint64 { close(done); wg.Wait(); return peak }
}

// A 1 GiB output streams from one store to another over Flight with the
// Arrow memory on both sides bounded by a few batches (1 MiB each), and
// the Go heap by a small multiple of that, whatever the output's size.
func TestFlightStreamsAGigabyteInBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("writes and copies 1 GiB")
	}
	const rowsPerBatch = 64 << 10 // 16 bytes a row: 1 MiB a batch
	const batches = 1024          // 1 GiB
	srcMem := &peakAllocator{mem: memory.NewGoAllocator()}
	src, err := OpenStoreWith(t.TempDir(), StoreOptions{Mem: srcMem, DeferSync: true})
	if err != nil {
		t.Fatal(err)
	}
	ref := OutputRef{Run: "r", Task: "big", Output: "out"}
	writeBig(t, src, ref, batches, rowsPerBatch)
	srcMem.peak.Store(srcMem.cur.Load())

	srv := startFlight(t, &storeSource{s: src, outputs: map[string][]OutputRef{"r": {ref}}}, srcMem)
	dstMem := &peakAllocator{mem: memory.NewGoAllocator()}
	dst, err := OpenStoreWith(t.TempDir(), StoreOptions{Mem: dstMem, DeferSync: true})
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	stop := heapWatch()
	meta, err := dst.FetchFlight(context.Background(), srv.Addr(), ref)
	heapPeak := stop()
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(batches * rowsPerBatch); meta.Rows != want {
		t.Fatalf("copied %d rows, want %d", meta.Rows, want)
	}
	const arrowBound = 16 << 20
	const heapBound = 256 << 20
	t.Logf("%d MiB streamed: Arrow peak %d KiB on the server, %d KiB on the client; Go heap peak %d MiB",
		meta.Bytes>>20, srcMem.peak.Load()>>10, dstMem.peak.Load()>>10, heapPeak>>20)
	if srcMem.peak.Load() > arrowBound || dstMem.peak.Load() > arrowBound {
		t.Fatalf("Arrow memory peaked at %d and %d bytes, over the %d bound", srcMem.peak.Load(), dstMem.peak.Load(), arrowBound)
	}
	if heapPeak > heapBound {
		t.Fatalf("Go heap peaked at %d MiB, over the %d MiB bound", heapPeak>>20, heapBound>>20)
	}
	if srcMem.cur.Load() != 0 || dstMem.cur.Load() != 0 {
		t.Fatalf("Arrow memory left: %d on the server, %d on the client", srcMem.cur.Load(), dstMem.cur.Load())
	}
}
