package admin_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hotpatch-go/hotpatch/admin"
	"github.com/hotpatch-go/hotpatch/admin/api"
)

func ed25519Key(seed byte) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, 32))
}

// writeTrust writes the trust file of key.
func writeTrust(t *testing.T, path string) {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
}

// ca is a test certificate authority.
type ca struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newCA(t *testing.T, name string) *ca {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(c)
	return &ca{cert: c, key: k, pool: pool}
}

// issue makes a leaf certificate for a server (127.0.0.1) or a client.
func (a *ca) issue(t *testing.T, cn string, server bool) tls.Certificate {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.DNSNames = []string{"localhost"}
	} else {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.cert, &k.PublicKey, a.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: k}
}

func tlsClient(pool *x509.CertPool, cert *tls.Certificate) *http.Client {
	tc := &tls.Config{RootCAs: pool, ServerName: "localhost"}
	if cert != nil {
		tc.Certificates = []tls.Certificate{*cert}
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: tc}}
}

// TestTCPRefusedWithoutCredentials: TCP without TLS, without a token or a
// client CA, or with a short token, does not start.
func TestTCPRefusedWithoutCredentials(t *testing.T) {
	t.Parallel()
	srvCert := newCA(t, "ca").issue(t, "server", true)
	withCert := &tls.Config{Certificates: []tls.Certificate{srvCert}}
	for _, o := range []admin.Options{
		{TCP: "127.0.0.1:0", Tokens: map[string]string{"ci": "0123456789abcdef0123"}},
		{TCP: "127.0.0.1:0", TLS: withCert},
		{TCP: "127.0.0.1:0", TLS: withCert, Tokens: map[string]string{"ci": "short"}},
	} {
		if _, err := admin.Start(admin.Target{Manager: nil}, o); err == nil {
			t.Errorf("%+v started", o)
		}
		mgr := newManager(t)
		if _, err := admin.Start(admin.Target{Manager: mgr}, o); !errors.Is(err, admin.ErrInsecureTCP) {
			t.Errorf("%+v: %v", o, err)
		}
	}
}

// TestTCPToken: no token gets 401, a wrong one 403, both logged; a known
// one is served and the audit names it; a refused push leaves the
// serving version.
func TestTCPToken(t *testing.T) {
	t.Parallel()
	auth := newCA(t, "server-ca")
	f := start(t, admin.Options{TCP: "127.0.0.1:0", TLS: &tls.Config{Certificates: []tls.Certificate{auth.issue(t, "server", true)}},
		Tokens: map[string]string{"ci": "ci-token-0123456789", "alice": "alice-token-0123456789"}})
	base := "https://" + f.rt.Admin().Addrs()[0].String()
	c := tlsClient(auth.pool, nil)
	do := func(tok, method, path string, body []byte) (int, string) {
		req, _ := http.NewRequest(method, base+path, bytes.NewReader(body))
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		return resp.StatusCode, b.String()
	}
	push := script(t, "greet", 1, "hi", key)
	if code, body := do("", "POST", api.PathPush, push); code != 401 || !strings.Contains(body, "no bearer token") {
		t.Errorf("no token: %d %s", code, body)
	}
	if code, body := do("alice-token-0123456788", "POST", api.PathPush, push); code != 403 || !strings.Contains(body, "not known") {
		t.Errorf("wrong token: %d %s", code, body)
	}
	if got := f.greet.Load()("x"); got != "hello x" {
		t.Errorf("serving %q after refusals", got)
	}
	logs := f.logs.String()
	if strings.Count(logs, "request refused") != 2 || strings.Contains(logs, "alice-token") {
		t.Errorf("refusals not logged as they should be:\n%s", logs)
	}
	if code, body := do("alice-token-0123456789", "POST", api.PathPush, push); code != 200 {
		t.Fatalf("push: %d %s", code, body)
	}
	if !contains(audits(f.rt), "token alice: push greet@1: ok") {
		t.Errorf("audit %q", audits(f.rt))
	}
}

// TestTCPClientCert: a client certificate from another CA, or none, is
// refused and logged; one from the trusted CA is served, and the audit
// names its subject.
func TestTCPClientCert(t *testing.T) {
	t.Parallel()
	auth, clients, stranger := newCA(t, "server-ca"), newCA(t, "client-ca"), newCA(t, "other-ca")
	f := start(t, admin.Options{TCP: "127.0.0.1:0", TLS: &tls.Config{Certificates: []tls.Certificate{auth.issue(t, "server", true)}},
		ClientCAs: clients.pool})
	base := "https://" + f.rt.Admin().Addrs()[0].String()
	push := script(t, "greet", 1, "hi", key)
	bad := stranger.issue(t, "mallory", false)
	if code, msg := call(t, tlsClient(auth.pool, &bad), base, "POST", api.PathPush, push, nil); code != 403 || !strings.Contains(msg, "client certificate refused") {
		t.Errorf("other CA: %d %s", code, msg)
	}
	if code, msg := call(t, tlsClient(auth.pool, nil), base, "GET", api.PathStatus, nil, nil); code != 401 {
		t.Errorf("no certificate: %d %s", code, msg)
	}
	if got := f.greet.Load()("x"); got != "hello x" {
		t.Errorf("serving %q after refusals", got)
	}
	if logs := f.logs.String(); !strings.Contains(logs, "CN=mallory") {
		t.Errorf("refusal not logged with the subject:\n%s", logs)
	}
	good := clients.issue(t, "alice", false)
	if code, msg := call(t, tlsClient(auth.pool, &good), base, "POST", api.PathPush, push, nil); code != 200 {
		t.Fatalf("push: %d %s", code, msg)
	}
	if !contains(audits(f.rt), "cert CN=alice: push greet@1: ok") {
		t.Errorf("audit %q", audits(f.rt))
	}
}
