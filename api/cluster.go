package api

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
)

func (s *Server) getCluster(c *gin.Context) {
	c.JSON(http.StatusOK, s.backend.Cluster())
}

func (s *Server) getNode(c *gin.Context) {
	name := c.Param("name")
	info := s.backend.Cluster()
	var names []string
	for _, m := range info.Members {
		if m.Name == name {
			c.JSON(http.StatusOK, gin.H{"member": m, "leader": info.Leader == m.Name})
			return
		}
		names = append(names, m.Name)
	}
	fail(c, fmt.Errorf("%w: no node %q in the cluster (members: %s)", errNotFound, name, strings.Join(names, ", ")))
}
