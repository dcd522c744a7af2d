package api

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/forged-dev/forged/consensus"
)

// maxDatasetBytes bounds one dataset upload.
const maxDatasetBytes = 64 << 30

// putDataset stores the request body (CSV, Parquet or an Arrow IPC stream,
// by ?format= or Content-Type) as the dataset's next version.
func (s *Server) putDataset(c *gin.Context) {
	format := c.Query("format")
	if format == "" {
		format = datasetFormat(c.ContentType())
	}
	if format == "" {
		fail(c, fmt.Errorf("%w: say what the body is with ?format=csv|parquet|arrow or a Content-Type of text/csv, application/vnd.apache.parquet or application/vnd.apache.arrow.stream", ErrBadRequest))
		return
	}
	body := http.MaxBytesReader(c.Writer, c.Request.Body, maxDatasetBytes)
	v, err := s.backend.PutDataset(c.Request.Context(), c.Param("name"), format, body)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, publicDataset(*v))
}

// datasetFormat maps a content type to an upload format, or "".
func datasetFormat(contentType string) string {
	switch {
	case strings.Contains(contentType, "csv"):
		return "csv"
	case strings.Contains(contentType, "parquet"):
		return "parquet"
	case strings.Contains(contentType, "arrow"):
		return "arrow"
	}
	return ""
}

func (s *Server) listDatasets(c *gin.Context) {
	all, err := s.backend.Datasets()
	if err != nil {
		fail(c, err)
		return
	}
	out := make([]consensus.DatasetVersion, len(all))
	for i, v := range all {
		out[i] = publicDataset(v)
	}
	c.JSON(http.StatusOK, gin.H{"datasets": out})
}

func (s *Server) getDataset(c *gin.Context) {
	version, err := intQuery(c, "version", 0)
	if err != nil {
		fail(c, err)
		return
	}
	v, err := s.backend.Dataset(c.Param("name"), version)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, publicDataset(*v))
}

// publicDataset leaves the bytes of a small (inline) dataset out.
func publicDataset(v consensus.DatasetVersion) consensus.DatasetVersion {
	v.Output.Inline = nil
	return v
}
