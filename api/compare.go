package api

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/forged-dev/forged/dag"
)

// maxCompared bounds the runs one comparison takes.
const maxCompared = 100

// compare sets the runs ?runs=a,b,c side by side: params, metrics with
// the best value of each, outputs' rows and schema changes.
func (s *Server) compare(c *gin.Context) {
	var ids []string
	for _, id := range strings.Split(c.Query("runs"), ",") {
		if id = strings.TrimSpace(id); id != "" {
			ids = append(ids, id)
		}
	}
	if len(ids) < 1 || len(ids) > maxCompared {
		fail(c, fmt.Errorf("%w: give 1 to %d run IDs as ?runs=a,b,c", ErrBadRequest, maxCompared))
		return
	}
	runs := make([]*dag.Run, len(ids))
	for i, id := range ids {
		r, err := s.backend.Run(id)
		if err != nil {
			fail(c, err)
			return
		}
		runs[i] = r
	}
	c.JSON(http.StatusOK, dag.Compare(runs))
}
