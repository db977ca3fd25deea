package admin_test

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hotpatch-go/hotpatch/admin"
	"github.com/hotpatch-go/hotpatch/admin/api"
)

// TestAttackStreamsLeak: 100 event streams at once all get their events;
// once their clients go, their goroutines end.
func TestAttackStreamsLeak(t *testing.T) {
	f := start(t, admin.Options{})
	c := unixClient(f.sock)
	call(t, c, "http://admin", "GET", api.PathStatus, nil, nil)
	before := runtime.NumGoroutine()
	var bodies []io.ReadCloser
	var readers []*bufio.Reader
	for range 100 {
		resp, err := c.Get("http://admin" + api.PathEvents)
		if err != nil {
			t.Fatal(err)
		}
		bodies = append(bodies, resp.Body)
		readers = append(readers, bufio.NewReader(resp.Body))
	}
	for _, r := range readers {
		if l, err := r.ReadString('\n'); err != nil || l != ": hotpatch events\n" {
			t.Fatalf("stream began with %q, %v", l, err)
		}
	}
	if code, msg := call(t, c, "http://admin", "POST", api.PathPush, script(t, "greet", 1, "hi", key), nil); code != 200 {
		t.Fatalf("push: %d %s", code, msg)
	}
	var wg sync.WaitGroup
	for i, r := range readers {
		wg.Go(func() {
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					t.Errorf("stream %d: %v", i, err)
					return
				}
				if strings.Contains(l, `"patch_id":"greet@1"`) {
					return
				}
			}
		})
	}
	wg.Wait()
	for _, b := range bodies { // mid-stream
		b.Close()
	}
	c.CloseIdleConnections()
	deadline := time.Now().Add(hang)
	for runtime.NumGoroutine() > before+5 {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines, %d before the streams:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		runtime.Gosched()
	}
}

// TestAttackChunkedOversize: a chunked body (no length told) beyond
// MaxPush gets 413 and leaves the serving version.
func TestAttackChunkedOversize(t *testing.T) {
	t.Parallel()
	f := start(t, admin.Options{MaxPush: 1 << 10})
	req, _ := http.NewRequest("POST", "http://admin"+api.PathPush, io.MultiReader(bytes.NewReader(script(t, "greet", 1, "hi", key)), bytes.NewReader(make([]byte, 4<<10))))
	req.ContentLength = -1
	resp, err := unixClient(f.sock).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 413 {
		t.Errorf("chunked oversize: %d", resp.StatusCode)
	}
	if got := f.greet.Load()("x"); got != "hello x" {
		t.Errorf("serving %q", got)
	}
}

// TestAttackPushRevertRace: pushes and reverts of the same ID at once
// answer 200, 404 or 409, never 500, and the stack ends as the last
// answers say.
func TestAttackPushRevertRace(t *testing.T) {
	t.Parallel()
	f := start(t, admin.Options{})
	c := unixClient(f.sock)
	body := script(t, "greet", 1, "hi", key)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 5 {
				if code, msg := call(t, c, "http://admin", "POST", api.PathPush, body, nil); code != 200 && code != 409 {
					t.Errorf("push: %d %s", code, msg)
				}
			}
		})
		wg.Go(func() {
			for range 5 {
				if code, msg := call(t, c, "http://admin", "POST", api.PathRevert, []byte(`{"id":"greet@1"}`), nil); code != 200 && code != 404 {
					t.Errorf("revert: %d %s", code, msg)
				}
			}
		})
	}
	wg.Wait()
	st := f.rt.Manager().Status()
	want := "hello x"
	if len(st.Stack) == 1 {
		want = "hi x"
	}
	if len(st.Stack) > 1 {
		t.Fatalf("stack %+v", st.Stack)
	}
	if got := f.greet.Load()("x"); got != want {
		t.Errorf("serving %q with stack %+v", got, st.Stack)
	}
	if code, msg := call(t, c, "http://admin", "POST", api.PathRevert, []byte(`{"id":"nope@1"}`), nil); code != 404 || !strings.Contains(msg, "nope@1") {
		t.Errorf("unknown ID: %d %s", code, msg)
	}
}

// TestAttackClientCertShapes: an expired certificate of the right CA, and
// one without the client-auth key usage, are refused (403, named).
func TestAttackClientCertShapes(t *testing.T) {
	t.Parallel()
	auth, clients := newCA(t, "server-ca"), newCA(t, "client-ca")
	f := start(t, admin.Options{TCP: "127.0.0.1:0", TLS: &tls.Config{Certificates: []tls.Certificate{auth.issue(t, "server", true)}},
		ClientCAs: clients.pool})
	base := "https://" + f.rt.Admin().Addrs()[0].String()
	leaf := func(cn string, notAfter time.Time, eku x509.ExtKeyUsage) tls.Certificate {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
			NotBefore: time.Now().Add(-2 * time.Hour), NotAfter: notAfter, KeyUsage: x509.KeyUsageDigitalSignature,
			ExtKeyUsage: []x509.ExtKeyUsage{eku}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, clients.cert, &k.PublicKey, clients.key)
		if err != nil {
			t.Fatal(err)
		}
		return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: k}
	}
	for _, tc := range []struct {
		cert tls.Certificate
		want string
	}{
		{leaf("old", time.Now().Add(-time.Hour), x509.ExtKeyUsageClientAuth), "expired"},
		{leaf("srv", time.Now().Add(time.Hour), x509.ExtKeyUsageServerAuth), "key usage"},
	} {
		if code, msg := call(t, tlsClient(auth.pool, &tc.cert), base, "POST", api.PathRevert, []byte(`{"id":"x@1"}`), nil); code != 403 || !strings.Contains(msg, tc.want) {
			t.Errorf("%s: %d %s", tc.want, code, msg)
		}
	}
	if au := audits(f.rt); !contains(au, "cert CN=old: revert: refused") || !contains(au, "cert CN=srv: revert: refused") {
		t.Errorf("audit %q", au)
	}
}
