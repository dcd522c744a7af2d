// Package api serves forged's HTTP API on gin: pipelines, runs, live run
// events, task logs and outputs. Every node serves it; the handlers reach
// the node only through the Backend interface declared here.
package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
)

// Config tunes the API server.
type Config struct {
	// MaxBodyBytes bounds request bodies (pipeline specs, submissions).
	MaxBodyBytes int64
	// Logger receives one line per request; nil discards.
	Logger *slog.Logger
}

// DefaultConfig returns the API defaults: 4 MiB bodies.
func DefaultConfig() Config {
	return Config{MaxBodyBytes: 4 << 20}
}

// Server routes the HTTP API to a Backend.
type Server struct {
	cfg     Config
	backend Backend
	engine  *gin.Engine
	log     *slog.Logger
}

func init() { gin.SetMode(gin.ReleaseMode) }

// New builds the API server over backend.
func New(backend Backend, cfg Config) *Server {
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultConfig().MaxBodyBytes
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, backend: backend, engine: gin.New(), log: log}
	s.engine.Use(s.recoverPanics, s.logRequests)
	s.engine.HandleMethodNotAllowed = true
	s.engine.NoRoute(func(c *gin.Context) {
		fail(c, fmt.Errorf("%w: no route %s %s", errNotFound, c.Request.Method, c.Request.URL.Path))
	})
	s.engine.NoMethod(func(c *gin.Context) {
		c.AbortWithStatusJSON(http.StatusMethodNotAllowed, ErrorBody{Error: ErrorDetail{
			Code: "method_not_allowed", Message: c.Request.Method + " is not allowed on " + c.Request.URL.Path}})
	})
	s.routes()
	return s
}

// errNotFound is a route or resource the API does not know.
var errNotFound = errors.New("not found")

func (s *Server) routes() {
	v1 := s.engine.Group("/api/v1", s.consistentReads)
	v1.GET("/health", s.health)
	v1.GET("/ops", s.listOps)
	v1.GET("/cluster", s.getCluster)
	v1.GET("/nodes/:name", s.getNode)

	v1.GET("/pipelines", s.listPipelines)
	v1.PUT("/pipelines/:name", s.putPipeline)
	v1.GET("/pipelines/:name", s.getPipeline)
	v1.POST("/pipelines/:name/runs", s.submitStored)

	v1.POST("/runs", s.submitSpec)
	v1.GET("/runs", s.listRuns)
	v1.GET("/runs/:id", s.getRun)
	v1.POST("/runs/:id/cancel", s.cancelRun)
	v1.GET("/runs/:id/events", s.runEvents)
	v1.GET("/runs/:id/tasks/:task/logs", s.taskLogs)
	v1.GET("/runs/:id/tasks/:task/outputs/:output", s.taskOutput)

	v1.GET("/datasets", s.listDatasets)
	v1.PUT("/datasets/:name", s.putDataset)
	v1.GET("/datasets/:name", s.getDataset)
}

// ServeHTTP makes the server an http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.engine.ServeHTTP(w, r)
}

// consistentReads makes a GET with ?consistent=true wait until this node
// has applied everything the leader committed, so it reads what the leader
// would.
func (s *Server) consistentReads(c *gin.Context) {
	if c.Request.Method == http.MethodGet && c.Query("consistent") == "true" {
		if err := s.backend.ReadBarrier(c.Request.Context()); err != nil {
			fail(c, err)
			return
		}
	}
	c.Next()
}

func (s *Server) recoverPanics(c *gin.Context) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.log.Error("api handler panicked", "path", c.Request.URL.Path, "panic", fmt.Sprint(v))
			fail(c, fmt.Errorf("internal error"))
		}
	}()
	c.Next()
}

func (s *Server) logRequests(c *gin.Context) {
	start := time.Now()
	c.Next()
	// The query string is left out: it is where clients might put secrets.
	s.log.Debug("http request", "method", c.Request.Method, "path", c.Request.URL.Path,
		"status", c.Writer.Status(), "duration", time.Since(start))
}

// readBody reads the whole request body within the size limit.
func (s *Server) readBody(c *gin.Context) ([]byte, error) {
	body := http.MaxBytesReader(c.Writer, c.Request.Body, s.cfg.MaxBodyBytes)
	b, err := io.ReadAll(body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, fmt.Errorf("%w: the limit is %d bytes", ErrTooLarge, s.cfg.MaxBodyBytes)
		}
		return nil, fmt.Errorf("%w: read body: %v", ErrBadRequest, err)
	}
	return b, nil
}

// decodeJSON reads a JSON body into v; an empty body leaves v as it is.
func (s *Server) decodeJSON(c *gin.Context, v any) error {
	b, err := s.readBody(c)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: invalid JSON body: %v", ErrBadRequest, err)
	}
	return nil
}

func (s *Server) health(c *gin.Context) {
	c.JSON(http.StatusOK, s.backend.Health())
}

func (s *Server) listOps(c *gin.Context) {
	c.JSON(http.StatusOK, gin.H{"ops": s.backend.Ops()})
}
