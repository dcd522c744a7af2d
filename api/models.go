package api

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/gin-gonic/gin"

	"github.com/forged-dev/forged/consensus"
	"github.com/forged-dev/forged/dataplane"
	"github.com/forged-dev/forged/model"
)

// Predictor is a loaded model version a node serves.
type Predictor interface {
	// Name and Version say which model version this is.
	Name() string
	Version() int
	// Signature says what the model takes and gives.
	Signature() model.Signature
	// Predict scores n rows of x (row by row) and returns
	// Signature().Width() values per row.
	Predict(x []float64, n int) ([]float64, error)
	// Observe records one request in the node's metrics.
	Observe(d time.Duration, err error)
}

// maxPredictBody bounds a predict request's body.
const maxPredictBody = 256 << 20

// maxModelUpload bounds a model file upload.
const maxModelUpload = model.MaxModelBytes

// publicModel drops the inline bytes of a model version's stored file.
func publicModel(v consensus.ModelVersion) consensus.ModelVersion {
	v.Output.Inline = nil
	return v
}

func (s *Server) listModels(c *gin.Context) {
	all, err := s.backend.Models()
	if err != nil {
		fail(c, err)
		return
	}
	for i := range all {
		all[i].Latest = publicModel(all[i].Latest)
	}
	c.JSON(http.StatusOK, gin.H{"models": all})
}

func (s *Server) getModel(c *gin.Context) {
	versions, aliases, err := s.backend.ModelVersions(c.Param("name"))
	if err != nil {
		fail(c, err)
		return
	}
	for i := range versions {
		versions[i] = publicModel(versions[i])
	}
	c.JSON(http.StatusOK, gin.H{"name": c.Param("name"), "versions": versions, "aliases": aliases.Aliases, "alias_history": aliases.History})
}

// registerModel stores the body, a model file, as the model's next
// version: ?format=forged|xgboost|lightgbm, &features=a,b to name the
// inputs of a file that does not, &description=.
func (s *Server) registerModel(c *gin.Context) {
	format := c.Query("format")
	if format == "" {
		fail(c, fmt.Errorf("%w: say the file's format with ?format=forged|xgboost|lightgbm", ErrBadRequest))
		return
	}
	var features []string
	if f := c.Query("features"); f != "" {
		features = strings.Split(f, ",")
	}
	body := http.MaxBytesReader(c.Writer, c.Request.Body, maxModelUpload)
	v, err := s.backend.RegisterModelFile(c.Request.Context(), c.Param("name"), format, features, c.Query("description"), body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			err = fmt.Errorf("%w: the model file is over %d MiB", ErrTooLarge, maxModelUpload>>20)
		}
		fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, publicModel(*v))
}

// setAlias points an alias at a version: {"version": n}.
func (s *Server) setAlias(c *gin.Context) {
	var req struct {
		Version int `json:"version"`
	}
	if err := s.decodeJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	if req.Version <= 0 {
		fail(c, fmt.Errorf("%w: version must be a positive version number (DELETE removes an alias)", ErrBadRequest))
		return
	}
	if err := s.backend.SetModelAlias(c.Request.Context(), c.Param("name"), c.Param("alias"), req.Version); err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"model": c.Param("name"), "alias": c.Param("alias"), "version": req.Version})
}

func (s *Server) deleteAlias(c *gin.Context) {
	if err := s.backend.SetModelAlias(c.Request.Context(), c.Param("name"), c.Param("alias"), 0); err != nil {
		fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// predict scores the body's rows with the model the path names:
// /models/NAME/predict (latest), /models/NAME@ALIAS/predict, or
// /models/NAME/versions/N/predict.
func (s *Server) predict(c *gin.Context) {
	start := time.Now()
	name, alias, _ := strings.Cut(c.Param("name"), "@")
	version := 0
	if v := c.Param("version"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			fail(c, fmt.Errorf("%w: version %q is not a version number", ErrBadRequest, v))
			return
		}
		version = n
	} else if n, err := strconv.Atoi(alias); err == nil && n > 0 {
		version, alias = n, ""
	}
	p, err := s.backend.ResolveModel(c.Request.Context(), name, alias, version)
	if err != nil {
		fail(c, err)
		return
	}
	err = s.servePredict(c, p)
	p.Observe(time.Since(start), err)
	if err != nil {
		fail(c, err)
	}
}

func (s *Server) servePredict(c *gin.Context, p Predictor) error {
	sig := p.Signature()
	labels := c.Query("output") == "label"
	if labels && sig.Kind != model.Binary && sig.Kind != model.Multiclass {
		return fmt.Errorf("%w: output=label is for classifiers; model %s is a %s", ErrBadRequest, p.Name(), sig.Kind)
	}
	// Buffers come from pools: a 1000-row request would otherwise leave
	// a megabyte of garbage behind, and the collector would cost more
	// than the scoring.
	buf := predictBuffers.Get().(*predictBuffer)
	defer buf.release()
	body, err := readBody(c, buf.body[:0])
	buf.body = body[:0]
	if err != nil {
		return err
	}
	var x []float64
	var n int
	if strings.Contains(c.ContentType(), "arrow") {
		x, n, err = decodeArrowRows(body, sig)
	} else {
		x, n, err = decodeInstances(body, sig, buf.x)
		buf.x = x[:0]
	}
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	out, err := p.Predict(x, n)
	if err != nil {
		return err
	}
	if strings.Contains(c.GetHeader("Accept"), "arrow") {
		return writeArrowPredictions(c, p, out, n, labels)
	}
	buf.resp = appendPredictionsJSON(buf.resp[:0], p, out, n, labels)
	c.Data(http.StatusOK, "application/json", buf.resp)
	return nil
}

// predictBuffer holds one request's body, rows and response.
type predictBuffer struct {
	body []byte
	x    []float64
	resp []byte
}

var predictBuffers = sync.Pool{New: func() any { return &predictBuffer{} }}

// maxPooledBytes is the largest buffer kept for the next request; a rare
// huge request's buffers go to the collector.
const maxPooledBytes = 8 << 20

func (b *predictBuffer) release() {
	if cap(b.body) > maxPooledBytes || cap(b.x)*8 > maxPooledBytes || cap(b.resp) > maxPooledBytes {
		return
	}
	predictBuffers.Put(b)
}

// readBody reads the request body into dst, in one read when the length
// is known.
func readBody(c *gin.Context, dst []byte) ([]byte, error) {
	r := http.MaxBytesReader(c.Writer, c.Request.Body, maxPredictBody)
	if l := c.Request.ContentLength; l > 0 && l <= maxPredictBody {
		dst = slices.Grow(dst, int(l)+1)
	}
	for {
		if len(dst) == cap(dst) {
			dst = slices.Grow(dst, max(cap(dst), 4096))
		}
		m, err := r.Read(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+m]
		if errors.Is(err, io.EOF) {
			return dst, nil
		}
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				return dst, fmt.Errorf("%w: the body is over %d MiB", ErrTooLarge, maxPredictBody>>20)
			}
			return dst, fmt.Errorf("%w: read the body: %v", ErrBadRequest, err)
		}
	}
}

// appendPredictionsJSON renders {"model", "version", "predictions"}: one
// number per row (a regressor's value, a binary classifier's probability
// of the positive class, a cluster), a list of class probabilities per
// row for a multiclass model, or the labels with output=label.
func appendPredictionsJSON(b []byte, p Predictor, out []float64, n int, labels bool) []byte {
	sig := p.Signature()
	w := sig.Width()
	b = slices.Grow(b, 64+n*w*20)
	b = append(b, `{"model":`...)
	b = strconv.AppendQuote(b, p.Name())
	b = append(b, `,"version":`...)
	b = strconv.AppendInt(b, int64(p.Version()), 10)
	b = append(b, `,"predictions":[`...)
	for i := 0; i < n; i++ {
		if i > 0 {
			b = append(b, ',')
		}
		row := out[i*w : (i+1)*w]
		switch {
		case labels:
			b = strconv.AppendQuote(b, sig.Label(row))
		case sig.Kind == model.Multiclass:
			b = append(b, '[')
			for j, v := range row {
				if j > 0 {
					b = append(b, ',')
				}
				b = appendNumber(b, v)
			}
			b = append(b, ']')
		default:
			b = appendNumber(b, row[0])
		}
	}
	return append(b, "]}"...)
}

func appendNumber(b []byte, v float64) []byte {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return append(b, "null"...)
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}

// decodeArrowRows reads an Arrow IPC stream whose columns include every
// feature (by name; others are ignored) as numbers or booleans.
func decodeArrowRows(body []byte, sig model.Signature) ([]float64, int, error) {
	rr, err := dataplane.NewIPCStreamReader(bytes.NewReader(body), memory.DefaultAllocator)
	if err != nil {
		return nil, 0, fmt.Errorf("read the Arrow IPC stream: %v", err)
	}
	defer rr.Release()
	cols, err := model.FeatureColumns(rr.Schema(), sig)
	if err != nil {
		return nil, 0, err
	}
	var x []float64
	n := 0
	for rr.Next() {
		rec := rr.RecordBatch()
		n += int(rec.NumRows())
		if n > maxPredictRows {
			return nil, 0, fmt.Errorf("more than %d rows in one request", maxPredictRows)
		}
		x = model.AppendRows(x, rec, cols)
	}
	if err := rr.Err(); err != nil {
		return nil, 0, fmt.Errorf("read the Arrow IPC stream: %v", err)
	}
	return x, n, nil
}

// writeArrowPredictions answers with an Arrow IPC stream: a column
// "prediction" (float64), one "p_CLASS" column per class for a
// multiclass model, or "label" with output=label.
func writeArrowPredictions(c *gin.Context, p Predictor, out []float64, n int, labels bool) error {
	sig := p.Signature()
	w := sig.Width()
	mem := memory.DefaultAllocator
	var fields []arrow.Field
	var cols []arrow.Array
	switch {
	case labels:
		b := array.NewStringBuilder(mem)
		for i := 0; i < n; i++ {
			b.Append(sig.Label(out[i*w : (i+1)*w]))
		}
		fields = append(fields, arrow.Field{Name: "label", Type: arrow.BinaryTypes.String})
		cols = append(cols, b.NewArray())
		b.Release()
	default:
		for j := 0; j < w; j++ {
			name := "prediction"
			if sig.Kind == model.Multiclass {
				name = "p_" + sig.Classes[j]
			}
			b := array.NewFloat64Builder(mem)
			for i := 0; i < n; i++ {
				b.Append(out[i*w+j])
			}
			fields = append(fields, arrow.Field{Name: name, Type: arrow.PrimitiveTypes.Float64})
			cols = append(cols, b.NewArray())
			b.Release()
		}
	}
	rec := array.NewRecordBatch(arrow.NewSchema(fields, nil), cols, int64(n))
	for _, col := range cols {
		col.Release()
	}
	defer rec.Release()
	c.Header("Content-Type", "application/vnd.apache.arrow.stream")
	c.Status(http.StatusOK)
	iw := ipc.NewWriter(c.Writer, ipc.WithSchema(rec.Schema()), ipc.WithAllocator(mem))
	if err := iw.Write(rec); err != nil {
		return err
	}
	return iw.Close()
}
