package api

import (
	"strings"
	"testing"

	"github.com/forged-dev/forged/auth"
)

// Every route the engine serves is in the table of roles, so that none
// escapes the token check (and the node's table test covers it).
func TestEveryRouteHasARole(t *testing.T) {
	s := New(nil, Config{})
	listed := map[string]auth.Role{}
	for _, r := range s.Routes() {
		listed[r.Method+" "+r.Path] = r.Role
	}
	served := s.engine.Routes()
	if len(served) != len(listed) {
		t.Fatalf("the engine serves %d routes, the table lists %d", len(served), len(listed))
	}
	for _, r := range served {
		role, ok := listed[r.Method+" "+r.Path]
		if !ok {
			t.Fatalf("%s %s has no role", r.Method, r.Path)
		}
		ui := r.Path == "/" || r.Path == "/favicon.ico" || strings.HasPrefix(r.Path, "/ui") // static files, no data
		if role == auth.RoleNone && r.Path != "/api/v1/health" && !ui {
			t.Fatalf("%s %s is open to anyone", r.Method, r.Path)
		}
	}
}
