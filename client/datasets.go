package client

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/forged-dev/forged/dag"
)

// DatasetVersion is one stored version of a dataset.
type DatasetVersion struct {
	Name    string `json:"name"`
	Version int    `json:"version"`
	Format  string `json:"format"`
	// Output describes the stored data: rows, bytes, schema and the nodes
	// that hold it.
	Output    dag.OutputMeta `json:"output"`
	CreatedAt time.Time      `json:"created_at"`
}

// PutDataset uploads body (format csv, parquet or arrow: an Arrow IPC
// stream) as the next version of the named dataset, streaming it.
func (c *Client) PutDataset(ctx context.Context, name, format string, body io.Reader) (*DatasetVersion, error) {
	path := "/api/v1/datasets/" + url.PathEscape(name) + "?format=" + url.QueryEscape(format)
	resp, err := c.do(ctx, http.MethodPut, path, body, "application/octet-stream", nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var v DatasetVersion
	return &v, json.NewDecoder(resp.Body).Decode(&v)
}

// Datasets lists every version of every dataset.
func (c *Client) Datasets(ctx context.Context) ([]DatasetVersion, error) {
	var out struct {
		Datasets []DatasetVersion `json:"datasets"`
	}
	return out.Datasets, c.getJSON(ctx, "/api/v1/datasets", &out)
}
