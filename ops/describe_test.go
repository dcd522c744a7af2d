package ops

import (
	"fmt"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

func TestDescribe(t *testing.T) {
	schema := schemaOf(
		field("name", arrow.BinaryTypes.String),
		field("age", arrow.PrimitiveTypes.Int64),
		field("score", arrow.PrimitiveTypes.Float64),
		field("ok", arrow.FixedWidthTypes.Boolean),
		field("day", arrow.FixedWidthTypes.Date32),
		field("tags", arrow.ListOf(arrow.BinaryTypes.String)),
		field("nothing", arrow.Null),
	)
	te := newEnv(t, nil)
	te.addJSONInput(schema,
		`[{"name":"ann","age":30,"score":1.5,"ok":true,"day":"2024-01-02","tags":["a"]},
		  {"name":"bob","age":-10,"score":null,"ok":false,"day":"2023-12-31","tags":["a"]}]`,
		`[{"name":"ann","age":null,"score":-2.5,"ok":true,"day":null,"tags":null},
		  {"name":null,"age":40,"score":4,"ok":null,"day":"2024-02-01","tags":["b","c"]}]`,
	)
	if err := te.run(describeOp()); err != nil {
		t.Fatal(err)
	}
	if !te.out().schema.Equal(describeSchema) {
		t.Fatalf("schema %s", te.out().schema)
	}
	want := strings.Join([]string{
		"name|utf8|3|1|ann|bob|(null)|(null)|2",
		"age|int64|3|1|-10|40|20|26.457513110645905|3",
		"score|float64|3|1|-2.5|4|1|3.278719262151|3",
		"ok|bool|3|1|false|true|(null)|(null)|2",
		"day|date32|3|1|2023-12-31|2024-02-01|(null)|(null)|3",
		"tags|list<item: utf8, nullable>|3|1|(null)|(null)|(null)|(null)|2",
		"nothing|null|0|4|(null)|(null)|(null)|(null)|0",
	}, "\n")
	if got := te.table(); got != want {
		t.Fatalf("describe:\n%s\nwant:\n%s", got, want)
	}
}

func TestDescribeEmptyInput(t *testing.T) {
	te := newEnv(t, nil)
	te.addInput(peopleSchema)
	if err := te.run(describeOp()); err != nil {
		t.Fatal(err)
	}
	if got := te.table(); got != "name|utf8|0|0|(null)|(null)|(null)|(null)|0\nage|int64|0|0|(null)|(null)|(null)|(null)|0\nscore|float64|0|0|(null)|(null)|(null)|(null)|0" {
		t.Fatalf("describe:\n%s", got)
	}
}

// TestDescribeStreams feeds many batches through one reader: describe
// keeps only its running summary.
func TestDescribeStreams(t *testing.T) {
	te := newEnv(t, nil)
	schema := schemaOf(field("x", arrow.PrimitiveTypes.Int64))
	const batches, rows = 50, 1000
	var recs []arrow.RecordBatch
	for b := 0; b < batches; b++ {
		bld := array.NewInt64Builder(te.mem)
		for i := 0; i < rows; i++ {
			bld.Append(int64((b*rows + i) % 7000))
		}
		col := bld.NewArray()
		bld.Release()
		recs = append(recs, array.NewRecordBatch(schema, []arrow.Array{col}, rows))
		col.Release()
	}
	te.addInput(schema, recs...)
	for _, r := range recs {
		defer r.Release()
	}
	if err := te.run(describeOp()); err != nil {
		t.Fatal(err)
	}
	if got := te.table(); !strings.HasPrefix(got, fmt.Sprintf("x|int64|%d|0|0|6999|", batches*rows)) || !strings.HasSuffix(got, "|7000") {
		t.Fatalf("describe: %s", got)
	}
}

func TestHyperLogLog(t *testing.T) {
	for _, n := range []int{1000, 50000, 2_000_000} {
		var d distinctCounter = newDistinctCounter()
		for i := 0; i < n; i++ {
			d.add(numberHash(int64(i)))
			d.add(numberHash(int64(i))) // duplicates do not count
		}
		got := d.count()
		if n <= exactDistinct && got != int64(n) {
			t.Errorf("exact count of %d = %d", n, got)
		}
		if diff := float64(got-int64(n)) / float64(n); diff > 0.03 || diff < -0.03 {
			t.Errorf("estimate of %d = %d (%.1f%% off)", n, got, diff*100)
		}
	}
}
