package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/forged-dev/forged/internal/fuzzcorpus"
	"github.com/forged-dev/forged/model"
)

// sumPredictor predicts, per row, the sum of its features (NaN counted as
// 0), or for a multiclass signature the row's values normalised.
type sumPredictor struct {
	sig      model.Signature
	observed int
}

func (p *sumPredictor) Name() string               { return "m" }
func (p *sumPredictor) Version() int               { return 3 }
func (p *sumPredictor) Signature() model.Signature { return p.sig }
func (p *sumPredictor) Observe(time.Duration, error) {
	p.observed++
}
func (p *sumPredictor) Predict(x []float64, n int) ([]float64, error) {
	d := len(p.sig.Features)
	out := make([]float64, 0, n*p.sig.Width())
	for i := 0; i < n; i++ {
		row := x[i*d : (i+1)*d]
		if p.sig.Kind == model.Multiclass {
			total := 0.0
			for _, v := range row {
				total += v
			}
			for _, v := range row {
				out = append(out, v/total)
			}
			continue
		}
		s := 0.0
		for _, v := range row {
			if !math.IsNaN(v) {
				s += v
			}
		}
		out = append(out, s)
	}
	return out, nil
}

func predictServer(kind model.Kind) (*Server, *sumPredictor) {
	s, fb := newTestServer()
	p := &sumPredictor{sig: model.Signature{Kind: kind, Features: []model.Feature{{Name: "a", Type: "float"}, {Name: "b", Type: "float"}, {Name: "c", Type: "bool"}}}}
	if kind == model.Binary {
		p.sig.Classes = []string{"no", "yes"}
	}
	if kind == model.Multiclass {
		p.sig.Classes = []string{"x", "y", "z"}
	}
	fb.predictor = p
	return s, p
}

func TestPredictJSON(t *testing.T) {
	s, p := predictServer(model.Regressor)
	rec := do(s, "POST", "/api/v1/models/m/predict", `{"instances": [[1, 2.5, true], [-1e2, null, false]]}`)
	if rec.Code != http.StatusOK || rec.Body.String() != `{"model":"m","version":3,"predictions":[4.5,-100]}` {
		t.Fatalf("%d %s", rec.Code, rec.Body.String())
	}
	rec = do(s, "POST", "/api/v1/models/m@production/predict", ` { "records" : [ {"c": false, "id": "x-1", "b": 0.25, "tags": [1, {"k": null}], "a": 1} ] } `)
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"predictions":[1.25]`) {
		t.Fatalf("%d %s", rec.Code, rec.Body.String())
	}
	if p.observed != 2 {
		t.Fatalf("observed %d requests", p.observed)
	}
	for path, want := range map[string][]any{
		"/api/v1/models/m/predict":            {"m", "", 0},
		"/api/v1/models/m@staging/predict":    {"m", "staging", 0},
		"/api/v1/models/m@7/predict":          {"m", "", 7},
		"/api/v1/models/m/versions/2/predict": {"m", "", 2},
	} {
		rec := do(s, "POST", path, `{"instances": [[1, 2, true]]}`)
		_, fb := s, s.backend.(*fakeBackend)
		if rec.Code != http.StatusOK || fmt.Sprint(fb.resolved) != fmt.Sprint(want) {
			t.Fatalf("%s: %d, resolved %v", path, rec.Code, fb.resolved)
		}
	}

	for body, want := range map[string]string{
		`{"instances": [[1, 2]]}`:          "row 0 has 2 values; the model takes 3 features",
		`{"instances": [[1, 2, true, 4]]}`: "row 0 has more than 3 values",
		`{"instances": [[1, "x", true]]}`:  `row 0, feature "b": want a number, got a string`,
		`{"instances": [[1, 2, 3]]}`:       `row 0, feature "c": want true or false`,
		`{"records": [{"a": 1, "b": 2}]}`:  `record 0: missing feature "c"`,
		`{"rows": []}`:                     `unknown key "rows"`,
		`{"instances": [[1, 2, true]`:      "malformed JSON",
		`[1]`:                              "want an object",
		`{}`:                               "no rows",
		`{"instances": [[01, 2, true]]}`:   "bad number",
	} {
		rec := do(s, "POST", "/api/v1/models/m/predict", body)
		var eb ErrorBody
		_ = json.Unmarshal(rec.Body.Bytes(), &eb)
		if rec.Code != http.StatusBadRequest || !strings.Contains(eb.Error.Message, want) {
			t.Errorf("%s: %d %s, want 400 with %q", body, rec.Code, rec.Body.String(), want)
		}
	}
	if rec := do(s, "POST", "/api/v1/models/nope/predict", `{"instances": []}`); rec.Code != http.StatusNotFound {
		t.Fatalf("unknown model: %d", rec.Code)
	}
	if rec := do(s, "POST", "/api/v1/models/m/predict?output=label", `{"instances": []}`); rec.Code != http.StatusBadRequest {
		t.Fatalf("labels of a regressor: %d", rec.Code)
	}
}

func TestPredictLabelsAndClasses(t *testing.T) {
	s, _ := predictServer(model.Binary)
	rec := do(s, "POST", "/api/v1/models/m/predict?output=label", `{"instances": [[0.2, 0.1, false], [0.3, 0.3, false]]}`)
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"predictions":["no","yes"]`) {
		t.Fatalf("%d %s", rec.Code, rec.Body.String())
	}
	s, _ = predictServer(model.Multiclass)
	rec = do(s, "POST", "/api/v1/models/m/predict", `{"instances": [[1, 1, true], [0, 3, true]]}`)
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"predictions":[[0.3333333333333333,0.3333333333333333,0.3333333333333333],[0,0.75,0.25]]`) {
		t.Fatalf("%d %s", rec.Code, rec.Body.String())
	}
	rec = do(s, "POST", "/api/v1/models/m/predict?output=label", `{"instances": [[0, 3, true]]}`)
	if !strings.Contains(rec.Body.String(), `"predictions":["y"]`) {
		t.Fatalf("%s", rec.Body.String())
	}
}

// An Arrow IPC stream body is read by column name, and Arrow comes back
// when asked for.
func TestPredictArrow(t *testing.T) {
	s, _ := predictServer(model.Regressor)
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "c", Type: arrow.FixedWidthTypes.Boolean}, {Name: "extra", Type: arrow.BinaryTypes.String},
		{Name: "b", Type: arrow.PrimitiveTypes.Int64, Nullable: true}, {Name: "a", Type: arrow.PrimitiveTypes.Float32},
	}, nil)
	rec, _, err := array.RecordFromJSON(memory.DefaultAllocator, schema, strings.NewReader(
		`[{"c": true, "extra": "x", "b": 2, "a": 0.5}, {"c": false, "extra": "y", "b": null, "a": 4}]`))
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Release()
	var body bytes.Buffer
	w := ipc.NewWriter(&body, ipc.WithSchema(schema))
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	w.Close()
	res := do(s, "POST", "/api/v1/models/m/predict", body.String(), "Content-Type", "application/vnd.apache.arrow.stream",
		"Accept", "application/vnd.apache.arrow.stream")
	if res.Code != http.StatusOK || res.Header().Get("Content-Type") != "application/vnd.apache.arrow.stream" {
		t.Fatalf("%d %s", res.Code, res.Body.String())
	}
	rr, err := ipc.NewReader(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	defer rr.Release()
	if !rr.Next() {
		t.Fatal("no batch")
	}
	got := rr.RecordBatch().Column(0).(*array.Float64).Float64Values()
	if len(got) != 2 || got[0] != 3.5 || got[1] != 4 {
		t.Fatalf("predictions %v", got)
	}

	bad := arrow.NewSchema([]arrow.Field{{Name: "a", Type: arrow.BinaryTypes.String}}, nil)
	var b2 bytes.Buffer
	w = ipc.NewWriter(&b2, ipc.WithSchema(bad))
	w.Close()
	res = do(s, "POST", "/api/v1/models/m/predict", b2.String(), "Content-Type", "application/vnd.apache.arrow.stream")
	if res.Code != http.StatusBadRequest || !strings.Contains(res.Body.String(), `feature column \"a\" is utf8`) {
		t.Fatalf("%d %s", res.Code, res.Body.String())
	}
}

// The hand-written number reader gives exactly what strconv (and so
// encoding/json) gives, on the fast path and off it.
func TestPredictNumbersMatchStrconv(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	sig := model.Signature{Kind: model.Regressor, Features: []model.Feature{{Name: "a", Type: "float"}}}
	var texts []string
	for i := 0; i < 20000; i++ {
		v := (r.Float64() - 0.5) * math.Pow(10, float64(r.IntN(40)-20))
		prec := r.IntN(18) - 1
		texts = append(texts, strconv.FormatFloat(v, 'f', max(prec, -1), 64), strconv.FormatFloat(v, 'g', prec, 64))
	}
	texts = append(texts, "0", "-0", "0.1", "123456789012345", "1234567890123456789", "0.000000000000000000000001", "1e308", "-2.5E-3")
	var body strings.Builder
	body.WriteString(`{"instances":[`)
	for i, s := range texts {
		if i > 0 {
			body.WriteByte(',')
		}
		body.WriteString("[" + s + "]")
	}
	body.WriteString("]}")
	x, n, err := decodeInstances([]byte(body.String()), sig, nil)
	if err != nil || n != len(texts) {
		t.Fatalf("%d rows, %v", n, err)
	}
	for i, s := range texts {
		var want float64
		if err := json.Unmarshal([]byte(s), &want); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		if math.Float64bits(x[i]) != math.Float64bits(want) {
			t.Fatalf("%s read as %v, want %v", s, x[i], want)
		}
	}
}

// FuzzDecodeInstances: any body either decodes to whole rows or is an
// error, never a panic; what decodes agrees with encoding/json.
func FuzzDecodeInstances(f *testing.F) {
	for _, seed := range []string{
		`{"instances": [[1, 2.5, true], [-1e2, null, false]]}`,
		`{"records": [{"a": 1, "b": 0.25, "c": false, "x": [1, {"y": "z"}]}]}`,
		`{"instances": [[0.1, 1234567890123456789, true]]}`,
		`{"instances": [[1, 2]]}`, `{"instances": [[`, `{}`, `[]`, `{"records": [{"a": "x"}]}`,
	} {
		f.Add([]byte(seed))
	}
	sig := model.Signature{Kind: model.Regressor, Features: []model.Feature{{Name: "a", Type: "float"}, {Name: "b", Type: "float"}, {Name: "c", Type: "bool"}}}
	f.Fuzz(func(t *testing.T, body []byte) {
		x, n, err := decodeInstances(body, sig, nil)
		if err != nil {
			return
		}
		if len(x) != n*3 {
			t.Fatalf("%d values for %d rows", len(x), n)
		}
		var doc struct {
			Instances [][]any `json:"instances"`
		}
		if json.Unmarshal(body, &doc) != nil || doc.Instances == nil {
			return
		}
		for i, row := range doc.Instances {
			for j, v := range row {
				want := math.NaN()
				switch v := v.(type) {
				case float64:
					want = v
				case bool:
					want = 0
					if v {
						want = 1
					}
				}
				if got := x[i*3+j]; !(got == want || math.IsNaN(got) && math.IsNaN(want)) {
					t.Fatalf("row %d value %d: %v, encoding/json says %v", i, j, got, want)
				}
			}
		}
	})
}

// A crafted Arrow stream whose schema claims billions of fields (the
// fuzzer's crasher: arrow-go alone would size a slice from the count and
// the process would die out of memory) is a 400 over real HTTP, and the
// server still answers afterwards.
func TestPredictArrowRejectsCraftedStream(t *testing.T) {
	v := string(fuzzcorpus.Bytes(t, "../ops/testdata/fuzz/FuzzReadArrow/schema-oom"))
	s, _ := predictServer(model.Regressor)
	srv := httptest.NewServer(s)
	defer srv.Close()
	for _, body := range []string{v, "\xff\xff\xff\xff\x00\x00\x00\x50"} {
		res, err := http.Post(srv.URL+"/api/v1/models/m/predict", "application/vnd.apache.arrow.stream", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		msg, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusBadRequest || !strings.Contains(string(msg), "invalid Arrow IPC data") {
			t.Fatalf("%d %s", res.StatusCode, msg)
		}
	}
	res, err := http.Post(srv.URL+"/api/v1/models/m/predict", "application/json", strings.NewReader(`{"instances": [[1, 2, true]]}`))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("after the crafted stream: %d", res.StatusCode)
	}
}
