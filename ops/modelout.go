package ops

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/forged-dev/forged/model"
)

// ModelArtifactSchema is the schema of a task output that holds a model:
// one row with the model file and what is needed to load it. A model
// travels between nodes like any output (Flight, replicas, lineage).
var ModelArtifactSchema = arrow.NewSchema([]arrow.Field{
	{Name: "format", Type: arrow.BinaryTypes.String},
	{Name: "signature", Type: arrow.BinaryTypes.String}, // JSON of model.Signature
	{Name: "sha256", Type: arrow.BinaryTypes.String},    // of data, hex
	{Name: "data", Type: arrow.BinaryTypes.Binary},      // the model file
}, nil)

// ModelArtifact is a model file with its format and signature.
type ModelArtifact struct {
	Format    string
	Signature model.Signature
	SHA256    string
	Data      []byte
}

// NewModelArtifact describes data, computing its checksum.
func NewModelArtifact(format string, sig model.Signature, data []byte) ModelArtifact {
	sum := sha256.Sum256(data)
	return ModelArtifact{Format: format, Signature: sig, SHA256: hex.EncodeToString(sum[:]), Data: data}
}

// Load checks the artifact's checksum and loads the model.
func (a ModelArtifact) Load() (model.Model, error) {
	sum := sha256.Sum256(a.Data)
	if got := hex.EncodeToString(sum[:]); got != a.SHA256 {
		return nil, fmt.Errorf("model file checksum %s does not match the recorded %s", got, a.SHA256)
	}
	var sig *model.Signature
	if len(a.Signature.Features) > 0 {
		sig = &a.Signature
	}
	return model.Load(a.Format, a.Data, sig)
}

// Record returns the artifact as a one-row batch of ModelArtifactSchema.
func (a ModelArtifact) Record(mem memory.Allocator) (arrow.RecordBatch, error) {
	sig, err := json.Marshal(a.Signature)
	if err != nil {
		return nil, err
	}
	b := array.NewRecordBuilder(mem, ModelArtifactSchema)
	defer b.Release()
	b.Field(0).(*array.StringBuilder).Append(a.Format)
	b.Field(1).(*array.StringBuilder).Append(string(sig))
	b.Field(2).(*array.StringBuilder).Append(a.SHA256)
	b.Field(3).(*array.BinaryBuilder).Append(a.Data)
	return b.NewRecordBatch(), nil
}

// WriteModelOutput writes a model as the task output name.
func WriteModelOutput(env *Env, name string, a ModelArtifact) error {
	rec, err := a.Record(env.Mem)
	if err != nil {
		return err
	}
	defer rec.Release()
	w, err := env.Output(name, ModelArtifactSchema)
	if err != nil {
		return err
	}
	return w.Write(rec)
}

// ReadModelArtifact reads the model a model output holds. It does not
// release rr.
func ReadModelArtifact(rr array.RecordReader) (ModelArtifact, error) {
	if !rr.Schema().Equal(ModelArtifactSchema) {
		return ModelArtifact{}, fmt.Errorf("not a model: want the columns format, signature, sha256, data; got %s", columnNames(rr.Schema()))
	}
	var a ModelArtifact
	found := false
	for rr.Next() {
		rec := rr.RecordBatch()
		if rec.NumRows() == 0 {
			continue
		}
		if found || rec.NumRows() != 1 {
			return ModelArtifact{}, errors.New("a model output holds exactly one row")
		}
		found = true
		a.Format = rec.Column(0).(*array.String).Value(0)
		if err := json.Unmarshal([]byte(rec.Column(1).(*array.String).Value(0)), &a.Signature); err != nil {
			return ModelArtifact{}, fmt.Errorf("model signature: %w", err)
		}
		a.SHA256 = rec.Column(2).(*array.String).Value(0)
		a.Data = append([]byte(nil), rec.Column(3).(*array.Binary).Value(0)...)
	}
	if err := rr.Err(); err != nil {
		return ModelArtifact{}, err
	}
	if !found {
		return ModelArtifact{}, errors.New("the model output is empty")
	}
	return a, nil
}
