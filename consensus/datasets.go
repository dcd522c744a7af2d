package consensus

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"go.etcd.io/bbolt"

	"github.com/forged-dev/forged/dag"
)

// PutDataset records a new version of a named dataset whose data a node
// already stored (and copied) as Output: the version is the next one.
type PutDataset struct {
	Name string `json:"name"`
	// Output names the stored data: its Node, Replicas, schema and size.
	Output dag.OutputMeta `json:"output"`
	// Format is what was uploaded: csv, parquet or arrow.
	Format string    `json:"format"`
	At     time.Time `json:"at"`
}

// DatasetVersion is one stored version of a dataset. Versions are
// immutable; uploading again makes a new one.
type DatasetVersion struct {
	Name    string `json:"name"`
	Version int    `json:"version"`
	Format  string `json:"format"`
	// Output holds the data's place (Name is the stored output's name,
	// Node and Replicas where it is), schema and size.
	Output    dag.OutputMeta `json:"output"`
	CreatedAt time.Time      `json:"created_at"`
}

func (p processor) putDataset(tx *bbolt.Tx, c *PutDataset) (*Result, error) {
	if rej := validKey("dataset name", c.Name, maxNameLen); rej != nil {
		return rejected(rej), nil
	}
	if c.Output.Name == "" || c.Output.Node == "" {
		return rejected(reject(CodeInvalid, "dataset %s: its stored output and node are required", c.Name)), nil
	}
	latest, err := latestDataset(tx, c.Name)
	if err != nil {
		return nil, err
	}
	v := DatasetVersion{Name: c.Name, Version: 1, Format: c.Format, Output: c.Output, CreatedAt: c.At}
	if latest != nil {
		v.Version = latest.Version + 1
	}
	if err := putJSON(tx.Bucket(bucketDatasets), versionKey(c.Name, v.Version), &v); err != nil {
		return nil, err
	}
	return &Result{Version: v.Version}, nil
}

// latestDataset returns the newest version of a dataset, or nil.
func latestDataset(tx *bbolt.Tx, name string) (*DatasetVersion, error) {
	prefix := append([]byte(name), 0)
	k := seekLast(tx.Bucket(bucketDatasets).Cursor(), prefix)
	if k == nil || !bytes.HasPrefix(k, prefix) {
		return nil, nil
	}
	var v DatasetVersion
	if _, err := getJSON(tx.Bucket(bucketDatasets), k, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// Dataset returns one version of a dataset (0: the latest) from the local
// replica, or an error wrapping ErrNotFound.
func (s *Store) Dataset(name string, version int) (*DatasetVersion, error) {
	var out *DatasetVersion
	err := s.fsm.view(func(tx *bbolt.Tx) error {
		if name == "" || bytes.IndexByte([]byte(name), 0) >= 0 {
			return fmt.Errorf("dataset %q: %w", name, ErrNotFound)
		}
		if version == 0 {
			v, err := latestDataset(tx, name)
			if err != nil {
				return err
			}
			if v == nil {
				return fmt.Errorf("dataset %s: %w", name, ErrNotFound)
			}
			out = v
			return nil
		}
		var v DatasetVersion
		ok, err := getJSON(tx.Bucket(bucketDatasets), versionKey(name, version), &v)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("dataset %s has no version %d: %w", name, version, ErrNotFound)
		}
		out = &v
		return nil
	})
	return out, err
}

// Datasets lists every version of every dataset, by name then version.
func (s *Store) Datasets() ([]DatasetVersion, error) {
	var out []DatasetVersion
	err := s.fsm.view(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketDatasets).ForEach(func(k, raw []byte) error {
			var v DatasetVersion
			if err := json.Unmarshal(raw, &v); err != nil {
				return fmt.Errorf("decode dataset %q: %w", k, err)
			}
			out = append(out, v)
			return nil
		})
	})
	return out, err
}
