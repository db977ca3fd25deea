package admin_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/hotpatch-go/hotpatch/admin"
	"github.com/hotpatch-go/hotpatch/admin/api"
	"github.com/hotpatch-go/hotpatch/hotswap"
)

// TestAttackWrongMethod: an endpoint asked with the wrong method answers
// 405 with Allow, not 404; an unknown path is 404.
func TestAttackWrongMethod(t *testing.T) {
	t.Parallel()
	f := start(t, admin.Options{})
	c := unixClient(f.sock)
	for _, tc := range []struct{ method, path, allow string }{
		{"GET", api.PathPush, "POST"},
		{"PUT", api.PathRevert, "POST"},
		{"POST", api.PathStatus, "GET, HEAD"},
		{"DELETE", api.PathEvents, "GET, HEAD"},
	} {
		req, _ := http.NewRequest(tc.method, "http://admin"+tc.path, nil)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 405 || resp.Header.Get("Allow") != tc.allow || !strings.Contains(string(body), "the method must be") {
			t.Errorf("%s %s: %d Allow=%q %s", tc.method, tc.path, resp.StatusCode, resp.Header.Get("Allow"), body)
		}
	}
	if code, msg := call(t, c, "http://admin", "GET", "/v1/nothing", nil, nil); code != 404 || !strings.Contains(msg, "no endpoint") {
		t.Errorf("unknown path: %d %s", code, msg)
	}
}

// TestAttackRefusedCallsAudited: a mutating call refused for its
// credentials is an audit event (who, what, result), as an accepted one
// is; a token in the query string is not accepted.
func TestAttackRefusedCallsAudited(t *testing.T) {
	t.Parallel()
	auth := newCA(t, "server-ca")
	f := start(t, admin.Options{TCP: "127.0.0.1:0", TLS: &tls.Config{Certificates: []tls.Certificate{auth.issue(t, "server", true)}},
		Tokens: map[string]string{"ci": "ci-token-0123456789"}})
	base := "https://" + f.rt.Admin().Addrs()[0].String()
	c := tlsClient(auth.pool, nil)
	if code, _ := call(t, c, base, "POST", api.PathRevert+"?token=ci-token-0123456789&access_token=ci-token-0123456789", []byte(`{"id":"x"}`), nil); code != 401 {
		t.Errorf("token in the query: %d", code)
	}
	req, _ := http.NewRequest("POST", base+api.PathRestart, nil)
	req.Header.Set("Authorization", "Bearer wrong-token-0123456789")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Errorf("wrong token: %d", resp.StatusCode)
	}
	// The scheme's case does not matter; a token with a space before it
	// is not the token.
	for hdr, want := range map[string]int{"bearer ci-token-0123456789": 200, "BEARER ci-token-0123456789": 200, "Bearer  ci-token-0123456789": 403} {
		req, _ := http.NewRequest("GET", base+api.PathStatus, nil)
		req.Header.Set("Authorization", hdr)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("%q: %d, want %d", hdr, resp.StatusCode, want)
		}
	}
	au := audits(f.rt)
	for _, want := range []string{"unauthenticated 127.0.0.1:", ": revert: refused err=refused: no credentials: no bearer token", ": restart: refused err=refused: bearer token not known"} {
		if !contains(au, want) {
			t.Errorf("no audit %q in %q", want, au)
		}
	}
}

// TestAttackSlowBody: a push whose body never ends is cut at BodyTimeout
// and holds nothing meanwhile: status and another push are served.
func TestAttackSlowBody(t *testing.T) {
	t.Parallel()
	f := start(t, admin.Options{BodyTimeout: 300 * time.Millisecond})
	conn, err := net.Dial("unix", f.sock)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: admin\r\nContent-Length: 100000\r\n\r\nHPATCH", api.PathPush)
	c := unixClient(f.sock)
	if code, msg := call(t, c, "http://admin", "GET", api.PathStatus, nil, nil); code != 200 {
		t.Errorf("status during a slow push: %d %s", code, msg)
	}
	if code, msg := call(t, c, "http://admin", "POST", api.PathPush, script(t, "greet", 1, "hi", key), nil); code != 200 {
		t.Errorf("push during a slow push: %d %s", code, msg)
	}
	_ = conn.SetReadDeadline(time.Now().Add(hang))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode != 400 {
			t.Errorf("slow push: %d", resp.StatusCode)
		}
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("the slow push still holds its connection")
	}
	if !contains(audits(f.rt), "push: refused err=push: reading the body") {
		t.Errorf("audit %q", audits(f.rt))
	}
}

// TestAttackStuckStream: an event stream whose client never reads neither
// slows the manager nor holds Close up.
func TestAttackStuckStream(t *testing.T) {
	t.Parallel()
	d := shortDir(t)
	mgr := newManager(t)
	srv, err := admin.Start(admin.Target{Manager: mgr}, admin.Options{Socket: filepath.Join(d, "s")})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("unix", filepath.Join(d, "s"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: admin\r\n\r\n", api.PathEvents)
	// Read the head only, so that the stream is under way, then never again.
	br := bufio.NewReader(conn)
	if _, err := http.ReadResponse(br, nil); err != nil {
		t.Fatal(err)
	}
	note := strings.Repeat("x", 16<<10)
	for range 2000 { // 32 MiB: far beyond the socket's buffers
		if err := mgr.Record(hotswap.Event{Type: "test", Note: note}); err != nil {
			t.Fatal(err)
		}
	}
	// Wait until the stream's handler is blocked writing to the client.
	deadline := time.Now().Add(hang)
	for !blockedWriting() {
		if time.Now().After(deadline) {
			t.Fatal("the stream's handler never blocked")
		}
		runtime.Gosched()
	}
	ctx, cancel := context.WithTimeout(context.Background(), hang)
	defer cancel()
	if err := srv.Close(ctx); err != nil {
		t.Errorf("close with a stuck stream: %v", err)
	}
}

// TestAttackSocketPathTooLong: a socket path the kernel cannot take is
// refused with an error that says so.
func TestAttackSocketPathTooLong(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), strings.Repeat("s", 120))
	_, err := admin.Start(admin.Target{Manager: newManager(t)}, admin.Options{Socket: p})
	if err == nil || !strings.Contains(err.Error(), "choose a shorter path") {
		t.Fatalf("got %v", err)
	}
}

// blockedWriting says whether a goroutine of an event stream waits for
// its connection to take more bytes.
func blockedWriting() bool {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "admin.(*Server).events") && strings.Contains(g, "waitWrite") {
			return true
		}
	}
	return false
}

// TestAttackBadRequests: revert bodies that are not one {"id"} object,
// and headers over the limit, are refused (400, 431) and change nothing.
func TestAttackBadRequests(t *testing.T) {
	t.Parallel()
	f := start(t, admin.Options{})
	c := unixClient(f.sock)
	if code, msg := call(t, c, "http://admin", "POST", api.PathPush, script(t, "greet", 1, "hi", key), nil); code != 200 {
		t.Fatalf("push: %d %s", code, msg)
	}
	for _, body := range []string{``, `{`, `[]`, `{"id":1}`, `{"id":""}`, `{"id":"greet@1"}{"id":"other@1"}`, `{"id":"greet@1","force":true}`, `{"id":"greet@1"} x`} {
		if code, msg := call(t, c, "http://admin", "POST", api.PathRevert, []byte(body), nil); code != 400 || !strings.Contains(msg, `the body must be {"id": "PATCH-ID"}`) {
			t.Errorf("revert %q: %d %s", body, code, msg)
		}
	}
	if got := f.greet.Load()("x"); got != "hi x" {
		t.Errorf("serving %q after bad reverts", got)
	}
	req, _ := http.NewRequest("GET", "http://admin"+api.PathStatus, nil)
	req.Header.Set("X-Big", strings.Repeat("a", 128<<10))
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("huge header: %d", resp.StatusCode)
	}
}
