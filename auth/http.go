package auth

import (
	"encoding/json"
	"errors"
	"net/http"
)

// Status is the HTTP status for an error of Check: 401 for a missing or
// unknown token, 403 for too weak a role, 0 for nil.
func Status(err error) int {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, ErrForbidden):
		return http.StatusForbidden
	}
	return http.StatusUnauthorized
}

// Code is the API error code for an error of Check.
func Code(err error) string {
	if errors.Is(err, ErrForbidden) {
		return "forbidden"
	}
	return "unauthorized"
}

// Require wraps h so that it only runs for callers whose token grants at
// least need; others get 401 or 403 with the API's JSON error body.
func (t *Tokens) Require(need Role, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := t.Check(r.Header.Get("Authorization"), need); err != nil {
			WriteError(w, err)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// WriteError answers an error of Check: its status, a WWW-Authenticate
// challenge on 401, and {"error": {"code", "message"}}.
func WriteError(w http.ResponseWriter, err error) {
	status := Status(err)
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="forged"`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": Code(err), "message": err.Error()}})
}
