package auth

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const (
	admin  = "admin-0123456789abcdef"
	submit = "submit-0123456789abcdef"
	read   = "read-0123456789abcdef"
)

func TestParseAndRoles(t *testing.T) {
	tk, err := Parse(strings.NewReader("# cluster tokens\n\n" + read + " read\n" + admin + "   ADMIN\n" + submit + " submit, other-token-0123456789 admin\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !tk.Enabled() || tk.Internal() != admin {
		t.Fatalf("enabled %v, internal is the first admin token: %v", tk.Enabled(), tk.Internal() == admin)
	}
	for token, want := range map[string]Role{admin: RoleAdmin, submit: RoleSubmit, read: RoleRead,
		"other-token-0123456789": RoleAdmin, "": RoleNone, "nope": RoleNone, read + "x": RoleNone, read[:len(read)-1]: RoleNone} {
		if got := tk.Role(token); got != want {
			t.Errorf("Role(%q) = %v, want %v", token, got, want)
		}
	}
	if s := tk.String(); strings.Contains(s, admin) || s != "4 tokens" {
		t.Fatalf("String() = %q", s)
	}

	var none *Tokens
	if none.Enabled() || none.Role("") != RoleAdmin || none.Check("", RoleAdmin) != nil || none.Internal() != "" {
		t.Fatal("no tokens must let everyone do everything")
	}
}

func TestParseErrorsNeverShowTheToken(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"short read", "at least 16"},
		{admin + " root", "unknown role"},
		{admin, "want \"TOKEN ROLE\""},
		{admin + " admin extra", "want \"TOKEN ROLE\""},
		{read + " read", "no admin token"},
		{admin + " admin\n" + admin + " read", "line 2: the token is listed twice"},
		{"# only a comment\n", "no tokens"},
	} {
		_, err := Parse(strings.NewReader(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q) = %v, want an error with %q", tc.in, err, tc.want)
			continue
		}
		for _, secret := range []string{admin, read} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error %q shows a token", err)
			}
		}
	}
}

func TestCheck(t *testing.T) {
	tk, err := Parse(strings.NewReader(admin + " admin\n" + read + " read"))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		header string
		need   Role
		want   error
		status int
	}{
		{"", RoleNone, nil, 0},
		{"", RoleRead, ErrUnauthenticated, 401},
		{"Basic " + read, RoleRead, ErrUnauthenticated, 401},
		{"Bearer nope-nope-nope-nope", RoleRead, ErrUnauthenticated, 401},
		{"Bearer " + read, RoleRead, nil, 0},
		{"bearer  " + read + " ", RoleRead, nil, 0},
		{"Bearer " + read, RoleSubmit, ErrForbidden, 403},
		{"Bearer " + admin, RoleAdmin, nil, 0},
	}
	for _, c := range cases {
		err := tk.Check(c.header, c.need)
		if (c.want == nil) != (err == nil) || (c.want != nil && !errors.Is(err, c.want)) || Status(err) != c.status {
			t.Errorf("Check(%q, %v) = %v (status %d), want %v (%d)", c.header, c.need, err, Status(err), c.want, c.status)
		}
	}

	h := tk.Require(RoleAdmin, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) }))
	for header, want := range map[string]int{"": 401, "Bearer " + read: 403, "Bearer " + admin: http.StatusTeapot} {
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set("Authorization", header)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != want || (want == 401) != (rec.Header().Get("WWW-Authenticate") != "") {
			t.Errorf("Require with %q: %d, want %d", header, rec.Code, want)
		}
		if want < 500 && want != http.StatusTeapot && !strings.Contains(rec.Body.String(), `"code":`) {
			t.Errorf("error body %q", rec.Body.String())
		}
	}
}

func TestLoad(t *testing.T) {
	t.Setenv(EnvTokens, "")
	if tk, err := Load(""); tk != nil || err != nil {
		t.Fatalf("Load with nothing = %v, %v", tk, err)
	}
	t.Setenv(EnvTokens, admin+" admin, "+read+" read")
	tk, err := Load("")
	if err != nil || tk.Role(read) != RoleRead {
		t.Fatalf("Load from env = %v, %v", tk, err)
	}
	// A file wins over the environment.
	path := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(path, []byte(submit+" admin\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if tk, err := Load(path); err != nil || tk.Role(submit) != RoleAdmin || tk.Role(read) != RoleNone {
		t.Fatalf("Load(file) = %v, %v", tk, err)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Fatal("a missing tokens file must be an error")
	}
	t.Setenv(EnvTokens, "x read")
	if _, err := Load(""); err == nil || !strings.Contains(err.Error(), EnvTokens) {
		t.Fatalf("bad env tokens: %v", err)
	}
}
