package dataplane

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// batchesReader returns a reader over batches of 4 rows each.
func batchesReader(t *testing.T, mem memory.Allocator, n int) array.RecordReader {
	t.Helper()
	var recs []arrow.RecordBatch
	for i := 0; i < n; i++ {
		recs = append(recs, makeBatch(mem, i*4, 4))
	}
	rr, err := array.NewRecordReader(testSchema, recs)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		r.Release()
	}
	return rr
}

func TestEncodeLimits(t *testing.T) {
	for _, f := range []Format{FormatArrow, FormatCSV, FormatNDJSON} {
		for _, tc := range []struct{ limit, want int64 }{{0, 12}, {-1, 12}, {1, 1}, {4, 4}, {5, 5}, {9, 9}, {12, 12}, {100, 12}} {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			rr := batchesReader(t, mem, 3)
			var buf bytes.Buffer
			n, err := Encode(&buf, f, rr, tc.limit)
			rr.Release()
			if err != nil || n != tc.want {
				t.Fatalf("%s limit %d: wrote %d, %v; want %d", f, tc.limit, n, err, tc.want)
			}
			if ids := decodedIDs(t, mem, f, buf.Bytes()); len(ids) != int(tc.want) || (tc.want > 0 && ids[len(ids)-1] != tc.want-1) {
				t.Fatalf("%s limit %d: decoded ids %v", f, tc.limit, ids)
			}
			mem.AssertSize(t, 0)
		}
	}
}

// decodedIDs reads the id column back from encoded bytes.
func decodedIDs(t *testing.T, mem memory.Allocator, f Format, b []byte) []int64 {
	t.Helper()
	var ids []int64
	switch f {
	case FormatArrow:
		rr, err := Decode(bytes.NewReader(b), mem)
		if err != nil {
			t.Fatal(err)
		}
		defer rr.Release()
		if !rr.Schema().Equal(testSchema) {
			t.Fatalf("decoded schema %s", rr.Schema())
		}
		ids = readIDs(t, rr)
	case FormatCSV:
		rows, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(rows[0], ",") != "id,name,score,at" {
			t.Fatalf("header %v", rows[0])
		}
		for _, r := range rows[1:] {
			var v int64
			json.Unmarshal([]byte(r[0]), &v)
			ids = append(ids, v)
		}
	case FormatNDJSON:
		for _, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
			if line == "" {
				continue
			}
			var row struct{ ID int64 }
			if err := json.Unmarshal([]byte(line), &row); err != nil {
				t.Fatalf("line %q: %v", line, err)
			}
			ids = append(ids, row.ID)
		}
	}
	return ids
}

func TestEncodeValues(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)

	rr := batchesReader(t, mem, 1)
	var buf bytes.Buffer
	if _, err := Encode(&buf, FormatNDJSON, rr, 2); err != nil {
		t.Fatal(err)
	}
	rr.Release()
	want := `{"id":0,"name":null,"score":0,"at":"2024-01-02T03:04:05Z"}` + "\n" +
		`{"id":1,"name":"row \"b\"","score":0.5,"at":"2024-01-02T04:04:05Z"}` + "\n"
	if buf.String() != want {
		t.Fatalf("ndjson:\n%s\nwant:\n%s", buf.String(), want)
	}

	rr = batchesReader(t, mem, 1)
	buf.Reset()
	if _, err := Encode(&buf, FormatCSV, rr, 2); err != nil {
		t.Fatal(err)
	}
	rr.Release()
	want = "id,name,score,at\n0,,0,2024-01-02T03:04:05Z\n1,\"row \"\"b\"\"\",0.5,2024-01-02T04:04:05Z\n"
	if buf.String() != want {
		t.Fatalf("csv:\n%s\nwant:\n%s", buf.String(), want)
	}
}

func TestEncodeEmptyAndOddTypes(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "d", Type: arrow.FixedWidthTypes.Date32, Nullable: true},
		{Name: "b", Type: arrow.BinaryTypes.Binary, Nullable: true},
		{Name: "l", Type: arrow.ListOf(arrow.PrimitiveTypes.Int32), Nullable: true},
		{Name: "f", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "ok", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
		{Name: "ctl\t", Type: arrow.BinaryTypes.String, Nullable: true},
	}, nil)
	bld := array.NewRecordBuilder(mem, schema)
	defer bld.Release()
	bld.Field(0).(*array.Date32Builder).Append(arrow.Date32(19724))
	bld.Field(1).(*array.BinaryBuilder).Append([]byte{0xff, 0})
	lb := bld.Field(2).(*array.ListBuilder)
	lb.Append(true)
	lb.ValueBuilder().(*array.Int32Builder).AppendValues([]int32{1, 2}, nil)
	bld.Field(3).(*array.Float64Builder).Append(nan())
	bld.Field(4).(*array.BooleanBuilder).Append(true)
	bld.Field(5).(*array.StringBuilder).Append("a\x01\xffé")
	rec := bld.NewRecordBatch()
	defer rec.Release()

	rr, _ := array.NewRecordReader(schema, []arrow.RecordBatch{rec})
	var buf bytes.Buffer
	if _, err := Encode(&buf, FormatNDJSON, rr, 0); err != nil {
		t.Fatal(err)
	}
	rr.Release()
	want := `{"d":"2024-01-02","b":"/wA=","l":[1,2],"f":null,"ok":true,"ctl\t":"a\u0001\ufffdé"}` + "\n"
	if buf.String() != want {
		t.Fatalf("got  %s\nwant %s", buf.String(), want)
	}
	var v map[string]any
	if err := json.Unmarshal(buf.Bytes(), &v); err != nil {
		t.Fatal(err)
	}

	// No batches at all: CSV still has its header, arrow its schema.
	for _, f := range []Format{FormatCSV, FormatArrow, FormatNDJSON} {
		rr, _ := array.NewRecordReader(schema, nil)
		buf.Reset()
		n, err := Encode(&buf, f, rr, 0)
		rr.Release()
		if err != nil || n != 0 {
			t.Fatalf("%s: %d, %v", f, n, err)
		}
		switch f {
		case FormatCSV:
			if buf.String() != "d,b,l,f,ok,ctl\t\n" {
				t.Fatalf("csv header %q", buf.String())
			}
		case FormatArrow:
			dr, err := Decode(&buf, mem)
			if err != nil || !dr.Schema().Equal(schema) || dr.Next() {
				t.Fatalf("decode empty stream: %v", err)
			}
			dr.Release()
		case FormatNDJSON:
			if buf.Len() != 0 {
				t.Fatalf("ndjson %q", buf.String())
			}
		}
	}
}

func nan() float64 { var z float64; return z / z }

func TestDecodeGarbage(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	if _, err := Decode(strings.NewReader("not arrow"), mem); err == nil {
		t.Fatal("decoded garbage")
	}
}

func TestFormats(t *testing.T) {
	for in, want := range map[string]Format{"arrow": FormatArrow, "IPC": FormatArrow, "csv": FormatCSV,
		"jsonl": FormatNDJSON, "ndjson": FormatNDJSON, "json": FormatNDJSON} {
		if f, err := ParseFormat(in); err != nil || f != want {
			t.Errorf("ParseFormat(%q) = %q, %v", in, f, err)
		}
	}
	if _, err := ParseFormat("xml"); err == nil {
		t.Error("ParseFormat(xml) succeeded")
	}
	for in, want := range map[string]Format{
		"":                                     FormatNDJSON,
		"*/*":                                  FormatNDJSON,
		"application/vnd.apache.arrow.stream":  FormatArrow,
		"text/csv":                             FormatCSV,
		"text/csv; charset=utf-8":              FormatCSV,
		"application/x-ndjson":                 FormatNDJSON,
		"application/jsonl":                    FormatNDJSON,
		"application/json":                     FormatNDJSON,
		"text/html, text/csv;q=0.9, */*;q=0.1": FormatCSV,
		"application/json;q=0.5, application/vnd.apache.arrow.stream": FormatArrow,
	} {
		if f := FormatFromAccept(in); f != want {
			t.Errorf("FormatFromAccept(%q) = %q, want %q", in, f, want)
		}
	}
	if FormatArrow.ContentType() != "application/vnd.apache.arrow.stream" || FormatCSV.ContentType() != "text/csv" ||
		FormatNDJSON.ContentType() != "application/x-ndjson" {
		t.Error("content types")
	}
}
