package api

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// The UI is served from the binary: / goes to it, every /ui/ path gets
// the page, the static files their types, and nothing else leaks out.
func TestUIIsServed(t *testing.T) {
	s, _ := newTestServer()
	if rec := do(s, "GET", "/", ""); rec.Code != http.StatusFound || rec.Header().Get("Location") != "/ui/" {
		t.Fatalf("/: %d to %q", rec.Code, rec.Header().Get("Location"))
	}
	for _, p := range []string{"/ui/", "/ui/runs/r1", "/ui/cluster", "/ui/compare?runs=a,b"} {
		rec := do(s, "GET", p, "")
		if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `<script src="/ui/static/app.js">`) {
			t.Fatalf("%s: %d %.100s", p, rec.Code, rec.Body.String())
		}
	}
	for p, ctype := range map[string]string{"/ui/static/app.js": "text/javascript", "/ui/static/style.css": "text/css",
		"/ui/static/favicon.svg": "image/svg+xml", "/favicon.ico": "image/svg+xml"} {
		if rec := do(s, "GET", p, ""); rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), ctype) {
			t.Fatalf("%s: %d %s", p, rec.Code, rec.Header().Get("Content-Type"))
		}
	}
	// Every script and stylesheet the page names is served.
	page := do(s, "GET", "/ui/", "").Body.String()
	refs := regexp.MustCompile(`(?:src|href)="(/ui/static/[^"]+)"`).FindAllStringSubmatch(page, -1)
	if len(refs) < 5 {
		t.Fatalf("the page names %d static files: %v", len(refs), refs)
	}
	for _, m := range refs {
		if rec := do(s, "GET", m[1], ""); rec.Code != http.StatusOK || rec.Body.Len() == 0 {
			t.Errorf("%s: %d, %d bytes", m[1], rec.Code, rec.Body.Len())
		}
	}
	for _, p := range []string{"/ui/static/nope.js", "/ui/static/../ui.go", "/ui/static/"} {
		if rec := do(s, "GET", p, ""); rec.Code != http.StatusNotFound {
			t.Fatalf("%s: %d", p, rec.Code)
		}
	}
}
