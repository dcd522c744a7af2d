package e2e

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/forged-dev/forged/internal/tlstest"
)

// Three agents started with certificates from one CA and a gossip key
// file form a cluster served over HTTPS. The CLI refuses the nodes until
// it is given the CA (--tls-ca or FORGED_TLS_CA), or told not to verify;
// with it, it lists the members (advertised with https URLs), submits a
// run through one node and reads an output through another over HTTPS and
// over Flight with TLS. Neither key reaches the agents' output.
func TestTLSClusterWithTheCLI(t *testing.T) {
	ca := tlstest.NewCA(t, "e2e CA")
	certs := t.TempDir()
	gossipKey := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0x6b}, 32))
	keyFile := filepath.Join(certs, "gossip.key")
	if err := os.WriteFile(keyFile, []byte(gossipKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	files := make([]tlstest.Files, 3)
	for i := range files {
		files[i] = ca.WriteFiles(t, certs, []string{"n1", "n2", "n3"}[i])
	}
	c := startClusterWith(t, func(i int) []string {
		return []string{"--tls-cert", files[i].Cert, "--tls-key", files[i].Key, "--tls-ca", files[i].CA,
			"--gossip-key-file", keyFile, "--data-root", filepath.Join(repoRoot, "examples")}
	})
	caFile := files[0].CA
	a := c.agents[1]
	if !strings.HasPrefix(a.URL, "https://127.0.0.1:") {
		t.Fatalf("agent listens on %s, want https", a.URL)
	}

	_, stderr, code := forged(t, "status", "--addr", a.URL)
	if code == 0 || !strings.Contains(stderr, "certificate") {
		t.Fatalf("status without the CA: exit %d, %s", code, stderr)
	}
	if _, stderr, code = forged(t, "status", "--addr", a.URL, "--tls-ca", caFile); code != 0 {
		t.Fatalf("status with --tls-ca: exit %d, %s", code, stderr)
	}
	if _, stderr, code = forgedEnv(t, []string{"FORGED_TLS_CA=" + caFile}, "status", "--addr", a.URL); code != 0 {
		t.Fatalf("status with FORGED_TLS_CA: exit %d, %s", code, stderr)
	}
	if _, stderr, code = forged(t, "status", "--addr", a.URL, "--insecure-skip-verify"); code != 0 {
		t.Fatalf("status with --insecure-skip-verify: exit %d, %s", code, stderr)
	}
	if _, stderr, code = forged(t, "status", "--addr", a.URL, "--tls-ca", filepath.Join(certs, "n1.key")); code == 0 || !strings.Contains(stderr, "no PEM certificate") {
		t.Fatalf("status with a key as the CA: exit %d, %s", code, stderr)
	}

	stdout, stderr, code := forged(t, "members", "--json", "--addr", a.URL, "--tls-ca", caFile)
	if code != 0 {
		t.Fatalf("members: exit %d, %s", code, stderr)
	}
	var info struct {
		Members []struct {
			Name, Status, URL string
			HTTPAddr          string `json:"http_addr"`
		}
	}
	if err := json.Unmarshal([]byte(stdout), &info); err != nil {
		t.Fatalf("members JSON: %v\n%s", err, stdout)
	}
	members := info.Members
	if len(members) != 3 {
		t.Fatalf("members: %s", stdout)
	}
	for _, m := range members {
		if m.Status != "alive" || m.URL != "https://"+m.HTTPAddr {
			t.Fatalf("member %+v: want alive with an https URL", m)
		}
	}

	stdout, stderr, code = forged(t, "submit", "examples/etl.yaml", "--wait", "--json", "--addr", a.URL, "--tls-ca", caFile)
	if code != 0 {
		t.Fatalf("submit over HTTPS: exit %d, %s", code, stderr)
	}
	run := decodeRun(t, stdout)
	for _, via := range []string{"http", "flight"} {
		stdout, stderr, code = forged(t, "output", run.ID, "columns", "--addr", c.agents[2].URL, "--tls-ca", caFile, "--via", via)
		if code != 0 || !strings.HasPrefix(stdout, "order_id,") {
			t.Fatalf("output via %s over TLS: exit %d, %s", via, code, stderr)
		}
	}

	for _, ag := range c.agents {
		out := ag.out.String()
		if strings.Contains(out, gossipKey) || strings.Contains(out, "PRIVATE KEY") {
			t.Fatalf("agent %s's output shows a key", ag.name)
		}
	}
}

// An agent refuses to start on bad TLS or gossip key settings, saying
// which, without quoting the key.
func TestTLSAgentStartupErrors(t *testing.T) {
	ca := tlstest.NewCA(t, "e2e CA")
	dir := t.TempDir()
	f := ca.WriteFiles(t, dir, "n1")
	badKey := filepath.Join(dir, "short.key")
	secret := base64.StdEncoding.EncodeToString([]byte("only-twelve!"))
	os.WriteFile(badKey, []byte(secret), 0o600)
	agent := func(extra ...string) []string {
		return append([]string{"agent", "--name", "bad", "--data-dir", t.TempDir(), "--http", "127.0.0.1:0",
			"--raft-port", "0", "--gossip-port", "0", "--flight-port", "0"}, extra...)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{agent("--tls-cert", f.Cert, "--tls-ca", f.CA), "--tls-key"},
		{agent("--tls-cert", f.Cert, "--tls-key", f.Key), "--tls-ca"},
		{agent("--tls-cert", f.Cert, "--tls-key", f.CA, "--tls-ca", f.CA), "load certificate"},
		{agent("--tls-cert", f.Cert, "--tls-key", f.Key, "--tls-ca", filepath.Join(dir, "missing.crt")), "read CA file"},
		{agent("--gossip-key-file", badKey), "12 bytes; want 16, 24 or 32"},
		{agent("--gossip-key-file", filepath.Join(dir, "missing.key")), "gossip key file"},
	} {
		_, stderr, code := forged(t, tc.args...)
		if code == 0 || !strings.Contains(stderr, tc.want) || strings.Contains(stderr, secret) {
			t.Errorf("forged %s: exit %d, %s; want an error saying %q", strings.Join(tc.args[5:], " "), code, stderr, tc.want)
		}
	}
}
