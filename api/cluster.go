package api

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
)

// getCluster serves GET /api/v1/cluster: the cluster as this node sees it.
func (s *Server) getCluster(c *gin.Context) {
	c.JSON(http.StatusOK, s.backend.Cluster())
}

// getNode serves GET /api/v1/nodes/:name: one member of the cluster. An
// unknown name is a 404 whose message lists the names that do exist, so a
// typo is easy to spot.
func (s *Server) getNode(c *gin.Context) {
	name := c.Param("name")
	info := s.backend.Cluster()
	names := make([]string, 0, len(info.Members))
	for _, m := range info.Members {
		if m.Name == name {
			c.JSON(http.StatusOK, gin.H{"member": m})
			return
		}
		names = append(names, m.Name)
	}
	known := "none"
	if len(names) > 0 {
		known = strings.Join(names, ", ")
	}
	fail(c, fmt.Errorf("%w: no node %q in the cluster (members: %s)", errNotFound, name, known))
}
