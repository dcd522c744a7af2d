package api

import (
	"embed"
	"io/fs"
	"net/http"
	"path"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/forged-dev/forged/auth"
)

// uiFiles is the web UI: one page and its script and style, served from
// the binary; nothing is fetched from elsewhere.
//
//go:embed ui
var uiFiles embed.FS

// uiStatic are the UI's files, by name.
var uiStatic = func() fs.FS {
	sub, err := fs.Sub(uiFiles, "ui")
	if err != nil {
		panic(err)
	}
	return sub
}()

// serveUI answers /ui/...: the static files under /ui/static/, and the
// page (which draws the view the path names) for every other path. The
// files hold no data: the page reads the API, with the user's token.
func (s *Server) serveUI(c *gin.Context) {
	p := strings.TrimPrefix(c.Param("path"), "/")
	if name, ok := strings.CutPrefix(p, "static/"); ok {
		if strings.Contains(name, "/") || name == "" {
			fail(c, errNotFound)
			return
		}
		b, err := fs.ReadFile(uiStatic, name)
		if err != nil {
			fail(c, errNotFound)
			return
		}
		ctype := "text/plain; charset=utf-8"
		switch path.Ext(name) {
		case ".js":
			ctype = "text/javascript; charset=utf-8"
		case ".css":
			ctype = "text/css; charset=utf-8"
		case ".svg":
			ctype = "image/svg+xml"
		}
		c.Data(http.StatusOK, ctype, b)
		return
	}
	b, err := fs.ReadFile(uiStatic, "index.html")
	if err != nil {
		fail(c, err)
		return
	}
	c.Data(http.StatusOK, "text/html; charset=utf-8", b)
}

// uiRoutes serves the UI and sends / to it.
func (s *Server) uiRoutes() {
	root := s.engine.Group("")
	s.handle(root, "GET", "/", auth.RoleNone, func(c *gin.Context) { c.Redirect(http.StatusFound, "/ui/") })
	s.handle(root, "GET", "/ui", auth.RoleNone, func(c *gin.Context) { c.Redirect(http.StatusFound, "/ui/") })
	s.handle(root, "GET", "/ui/*path", auth.RoleNone, s.serveUI)
	// Browsers ask for /favicon.ico on any page of the node, the API's
	// included.
	s.handle(root, "GET", "/favicon.ico", auth.RoleNone, func(c *gin.Context) {
		b, _ := fs.ReadFile(uiStatic, "favicon.svg")
		c.Data(http.StatusOK, "image/svg+xml", b)
	})
}
