// Package auth holds the API tokens of a forged cluster and the roles they
// grant. The HTTP API, the Arrow Flight server and the nodes' internal
// calls all check tokens through it.
//
// Tokens come from a file (or the FORGED_TOKENS variable) with one
// "TOKEN ROLE" pair per line. Without tokens, every caller may do
// everything; that is the default for a node bound to 127.0.0.1.
package auth

import (
	"bufio"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// Role is what a token may do; each role includes the ones below it.
type Role int

const (
	// RoleNone is no valid token.
	RoleNone Role = iota
	// RoleRead reads runs, pipelines, outputs, datasets and metrics.
	RoleRead
	// RoleSubmit also submits and cancels runs, stores pipelines and
	// uploads datasets.
	RoleSubmit
	// RoleAdmin may do anything, including the nodes' calls to one
	// another (forwarded writes, output copies).
	RoleAdmin
)

var roleNames = map[Role]string{RoleNone: "none", RoleRead: "read", RoleSubmit: "submit", RoleAdmin: "admin"}

// String is the role's name as written in a tokens file.
func (r Role) String() string {
	if s, ok := roleNames[r]; ok {
		return s
	}
	return fmt.Sprintf("role(%d)", int(r))
}

// ParseRole reads a role name: read, submit or admin.
func ParseRole(s string) (Role, error) {
	for r, name := range roleNames {
		if r != RoleNone && strings.EqualFold(s, name) {
			return r, nil
		}
	}
	return RoleNone, fmt.Errorf("unknown role %q: want read, submit or admin", s)
}

// MinTokenLength is the shortest token accepted: shorter ones are too
// easy to guess.
const MinTokenLength = 16

// EnvTokens is the environment variable that may hold the tokens, in the
// file's format (lines, or pairs separated by commas).
const EnvTokens = "FORGED_TOKENS"

// Tokens is a set of tokens and their roles. The zero value and nil hold
// no tokens, and then every caller is an admin.
type Tokens struct {
	entries  []tokenEntry
	internal string
}

type tokenEntry struct {
	digest [sha256.Size]byte
	role   Role
}

// Parse reads "TOKEN ROLE" pairs, one per line or separated by commas;
// blank lines and lines starting with # are skipped. Errors name the line,
// never the token. At least one token must be an admin: nodes use the
// first admin token to call one another.
func Parse(r io.Reader) (*Tokens, error) {
	t := &Tokens{}
	seen := map[[sha256.Size]byte]bool{}
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() {
		line++
		for _, item := range strings.Split(sc.Text(), ",") {
			item = strings.TrimSpace(item)
			if item == "" || strings.HasPrefix(item, "#") {
				continue
			}
			fields := strings.Fields(item)
			if len(fields) != 2 {
				return nil, fmt.Errorf("tokens line %d: want \"TOKEN ROLE\", got %d fields", line, len(fields))
			}
			token := fields[0]
			if len(token) < MinTokenLength {
				return nil, fmt.Errorf("tokens line %d: a token needs at least %d characters", line, MinTokenLength)
			}
			role, err := ParseRole(fields[1])
			if err != nil {
				return nil, fmt.Errorf("tokens line %d: %w", line, err)
			}
			d := sha256.Sum256([]byte(token))
			if seen[d] {
				return nil, fmt.Errorf("tokens line %d: the token is listed twice", line)
			}
			seen[d] = true
			t.entries = append(t.entries, tokenEntry{digest: d, role: role})
			if role == RoleAdmin && t.internal == "" {
				t.internal = token
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read tokens: %w", err)
	}
	if len(t.entries) == 0 {
		return nil, errors.New("no tokens given")
	}
	if t.internal == "" {
		return nil, errors.New("no admin token: nodes call one another with the first admin token, so one is needed")
	}
	return t, nil
}

// Load reads tokens from the file at path when it is not empty, else from
// the FORGED_TOKENS environment variable when that is set; with neither,
// it returns nil (no tokens).
func Load(path string) (*Tokens, error) {
	if path != "" {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("tokens file: %w", err)
		}
		defer f.Close()
		t, err := Parse(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return t, nil
	}
	if v, ok := os.LookupEnv(EnvTokens); ok && strings.TrimSpace(v) != "" {
		t, err := Parse(strings.NewReader(v))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", EnvTokens, err)
		}
		return t, nil
	}
	return nil, nil
}

// Enabled says whether tokens are configured (and so required).
func (t *Tokens) Enabled() bool { return t != nil && len(t.entries) > 0 }

// Role is the role token grants: RoleNone for an unknown token, RoleAdmin
// for anyone when tokens are not enabled. It compares the token's digest
// with every entry in constant time, so the time taken tells nothing
// about which token, or how much of one, matched.
func (t *Tokens) Role(token string) Role {
	if !t.Enabled() {
		return RoleAdmin
	}
	d := sha256.Sum256([]byte(token))
	role := RoleNone
	for _, e := range t.entries {
		eq := subtle.ConstantTimeCompare(d[:], e.digest[:])
		role = Role(subtle.ConstantTimeSelect(eq, int(e.role), int(role)))
	}
	return role
}

// Internal is the token nodes present to one another: the first admin
// token, or "" when tokens are not enabled.
func (t *Tokens) Internal() string {
	if t == nil {
		return ""
	}
	return t.internal
}

// String never shows a token.
func (t *Tokens) String() string {
	if !t.Enabled() {
		return "no tokens"
	}
	return fmt.Sprintf("%d tokens", len(t.entries))
}

// BearerToken returns the token of an "Authorization: Bearer TOKEN"
// header value.
func BearerToken(header string) (string, bool) {
	const prefix = "bearer "
	if len(header) <= len(prefix) || !strings.EqualFold(header[:len(prefix)], prefix) {
		return "", false
	}
	token := strings.TrimSpace(header[len(prefix):])
	return token, token != ""
}

// ErrUnauthenticated is a call without a valid token where one is needed.
var ErrUnauthenticated = errors.New("a valid token is needed: send \"Authorization: Bearer TOKEN\"")

// ErrForbidden is a call whose token's role is too weak.
var ErrForbidden = errors.New("the token's role does not allow this")

// Check says whether the Authorization header value grants at least need:
// nil if so, else an error wrapping ErrUnauthenticated or ErrForbidden.
// RoleNone needs nothing.
func (t *Tokens) Check(header string, need Role) error {
	if need == RoleNone || !t.Enabled() {
		return nil
	}
	token, ok := BearerToken(header)
	if !ok {
		return ErrUnauthenticated
	}
	got := t.Role(token)
	if got == RoleNone {
		return ErrUnauthenticated
	}
	if got < need {
		return fmt.Errorf("%w: it needs the %s role, the token has %s", ErrForbidden, need, got)
	}
	return nil
}
