package dataplane

import (
	"bytes"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/forged-dev/forged/dag"
)

// arrowSeeds are Arrow IPC streams and files of the test schema, whole
// and cut short, as seeds for the fuzz targets below.
func arrowSeeds(f *testing.F) [][]byte {
	mem := memory.NewGoAllocator()
	rec := makeBatch(mem, 0, 5)
	defer rec.Release()
	var stream, file bytes.Buffer
	sw := ipc.NewWriter(&stream, ipc.WithSchema(testSchema))
	fw, err := ipc.NewFileWriter(&file, ipc.WithSchema(testSchema))
	if err != nil {
		f.Fatal(err)
	}
	if err := sw.Write(rec); err != nil {
		f.Fatal(err)
	}
	if err := fw.Write(rec); err != nil {
		f.Fatal(err)
	}
	sw.Close()
	fw.Close()
	// Seeds whose first bytes read as a huge message length are left out:
	// the stream reader allocates a message's declared length before
	// reading it, which makes such seeds take seconds (see the README's
	// fault-tolerance table).
	s, fl := stream.Bytes(), file.Bytes()
	return [][]byte{nil, []byte("ARROW1"), {0xff, 0xff, 0xff, 0xff, 0x10, 0, 0, 0},
		s, s[:len(s)/2], fl, fl[:len(fl)/2], fl[:len(fl)-7], fl[8:]}
}

// FuzzDecodeArrow feeds arbitrary bytes to the data plane's Arrow IPC
// readers: Decode (a stream, as a client or node receives one) and
// OpenInline (a file kept inline in the replicated state). Either must
// return an error or batches, never panic, hang or leak Arrow memory.
func FuzzDecodeArrow(f *testing.F) {
	for _, s := range arrowSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		defer mem.AssertSize(t, 0)
		if rr, err := Decode(bytes.NewReader(data), mem); err == nil {
			for i := 0; rr.Next() && i < 1000; i++ {
				_ = rr.RecordBatch().NumRows()
			}
			rr.Release()
		}
		s, smem := newStore(t)
		defer smem.AssertSize(t, 0)
		of, err := s.OpenInline(OutputRef{Run: "r", Task: "t", Output: "out"}, dag.OutputMeta{Inline: data})
		if err != nil {
			return
		}
		defer of.Close()
		rr, err := of.Reader()
		if err != nil {
			return
		}
		for i := 0; rr.Next() && i < 1000; i++ {
			_ = rr.RecordBatch().NumRows()
		}
		rr.Release()
	})
}
