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
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/forged-dev/forged/auth"
)

// Config tunes the API server.
type Config struct {
	// MaxBodyBytes bounds request bodies (pipeline specs, submissions).
	MaxBodyBytes int64
	// Logger receives one line per request; nil discards.
	Logger *slog.Logger
	// Tokens, when enabled, are required on every route but health, with
	// the role each route needs; nil lets everyone do everything.
	Tokens *auth.Tokens
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
	table   []Route
	layouts layoutCache
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
	s.uiRoutes()
	v1 := s.engine.Group("/api/v1")
	// Health stays open: load balancers and liveness probes call it.
	s.handle(v1, "GET", "/health", auth.RoleNone, s.health)
	s.handle(v1, "GET", "/ops", auth.RoleRead, s.listOps)
	s.handle(v1, "GET", "/cluster", auth.RoleRead, s.getCluster)
	s.handle(v1, "GET", "/nodes/:name", auth.RoleRead, s.getNode)

	s.handle(v1, "GET", "/pipelines", auth.RoleRead, s.listPipelines)
	s.handle(v1, "PUT", "/pipelines/:name", auth.RoleSubmit, s.putPipeline)
	s.handle(v1, "GET", "/pipelines/:name", auth.RoleRead, s.getPipeline)
	s.handle(v1, "GET", "/pipelines/:name/dag.svg", auth.RoleRead, s.pipelineSVG)
	s.handle(v1, "POST", "/pipelines/:name/runs", auth.RoleSubmit, s.submitStored)

	s.handle(v1, "POST", "/runs", auth.RoleSubmit, s.submitSpec)
	s.handle(v1, "GET", "/runs", auth.RoleRead, s.listRuns)
	s.handle(v1, "GET", "/runs/:id", auth.RoleRead, s.getRun)
	s.handle(v1, "GET", "/runs/:id/dag.svg", auth.RoleRead, s.runSVG)
	s.handle(v1, "POST", "/runs/:id/cancel", auth.RoleSubmit, s.cancelRun)
	s.handle(v1, "POST", "/runs/:id/retry", auth.RoleSubmit, s.retryRun)
	s.handle(v1, "DELETE", "/runs/:id", auth.RoleAdmin, s.deleteRun)
	s.handle(v1, "PUT", "/runs/:id/tags", auth.RoleSubmit, s.setTags)
	s.handle(v1, "GET", "/compare", auth.RoleRead, s.compare)
	s.handle(v1, "POST", "/experiments", auth.RoleSubmit, s.submitExperiment)
	s.handle(v1, "GET", "/experiments/:id", auth.RoleRead, s.getExperiment)
	s.handle(v1, "GET", "/runs/:id/events", auth.RoleRead, s.runEvents)
	s.handle(v1, "GET", "/runs/:id/tasks/:task/logs", auth.RoleRead, s.taskLogs)
	s.handle(v1, "GET", "/runs/:id/tasks/:task/outputs/:output", auth.RoleRead, s.taskOutput)

	s.handle(v1, "GET", "/datasets", auth.RoleRead, s.listDatasets)
	s.handle(v1, "PUT", "/datasets/:name", auth.RoleSubmit, s.putDataset)
	s.handle(v1, "GET", "/datasets/:name", auth.RoleRead, s.getDataset)

	s.handle(v1, "GET", "/models", auth.RoleRead, s.listModels)
	s.handle(v1, "GET", "/models/:name", auth.RoleRead, s.getModel)
	s.handle(v1, "POST", "/models/:name/versions", auth.RoleSubmit, s.registerModel)
	s.handle(v1, "PUT", "/models/:name/aliases/:alias", auth.RoleSubmit, s.setAlias)
	s.handle(v1, "DELETE", "/models/:name/aliases/:alias", auth.RoleSubmit, s.deleteAlias)
	// Scoring reads: a read token may predict.
	s.handle(v1, "POST", "/models/:name/predict", auth.RoleRead, s.predict)
	s.handle(v1, "POST", "/models/:name/versions/:version/predict", auth.RoleRead, s.predict)
}

// Route is one route of the API and the role it needs when tokens are
// configured.
type Route struct {
	Method string
	Path   string // with gin's :param segments
	Role   auth.Role
}

// Routes lists every route the server serves, with its role.
func (s *Server) Routes() []Route { return s.table }

// handle registers a route behind the token check for role.
func (s *Server) handle(g *gin.RouterGroup, method, path string, role auth.Role, h gin.HandlerFunc) {
	s.table = append(s.table, Route{Method: method, Path: strings.TrimSuffix(g.BasePath(), "/") + path, Role: role})
	g.Handle(method, path, s.require(role), s.consistentReads, h)
}

// require lets a request through only if its token grants role.
func (s *Server) require(role auth.Role) gin.HandlerFunc {
	return func(c *gin.Context) {
		if err := s.cfg.Tokens.Check(c.GetHeader("Authorization"), role); err != nil {
			if auth.Status(err) == http.StatusUnauthorized {
				c.Header("WWW-Authenticate", `Bearer realm="forged"`)
			}
			fail(c, err)
			return
		}
		c.Next()
	}
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
