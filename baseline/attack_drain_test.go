package baseline_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hotpatch-go/hotpatch/baseline"
)

// TestHTTPServerDrainNextRequestOnIdleConn: a client that keeps its
// connection busy, as wrk or a browser does, sends its next request on a
// connection that was idle for an instant when the drain began. That
// request is answered, with "Connection: close", rather than the
// connection being closed under it (a request lost for every client that
// does not retry, and for any POST).
func TestHTTPServerDrainNextRequestOnIdleConn(t *testing.T) {
	defer baseline.SetIdleGrace(time.Minute)() // only a hang detector here
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	})}
	drain := baseline.HTTPServer(srv)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	const n = 16
	conns := make([]net.Conn, n)
	readers := make([]*bufio.Reader, n)
	for i := range conns {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(time.Minute)) // hang detector
		conns[i], readers[i] = c, bufio.NewReader(c)
		if resp := roundTrip(t, c, readers[i]); resp.Close {
			t.Fatalf("conn %d: closed before the drain", i)
		}
	}
	probe, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer probe.Close()
	probe.SetDeadline(time.Now().Add(time.Minute))
	// Every connection is idle now; the drain begins, and each client
	// sends its next request.
	ln.Close() // as Upgrader.Shutdown does before the hooks
	drained := make(chan error, 1)
	go func() { drained <- drain(context.Background()) }()
	// A probe of its own sends requests until one is answered with
	// "Connection: close": the drain has begun.
	for pr := bufio.NewReader(probe); ; {
		resp := roundTrip(t, probe, pr)
		if resp == nil {
			t.Fatal("the probe's request was not answered")
		}
		if resp.Close {
			break
		}
	}
	for i, c := range conns {
		resp := roundTrip(t, c, readers[i])
		if resp == nil {
			t.Errorf("conn %d: the request sent as the drain began was not answered", i)
			continue
		}
		if !resp.Close {
			t.Errorf("conn %d: answered without Connection: close during a drain", i)
		}
	}
	if err := <-drained; err != nil {
		t.Errorf("drain: %v", err)
	}
	<-served
}

// TestHTTPServerDrainClosesIdle: a connection that stays idle is closed
// after the grace, and the drain ends.
func TestHTTPServerDrainClosesIdle(t *testing.T) {
	defer baseline.SetIdleGrace(time.Millisecond)()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	})}
	drain := baseline.HTTPServer(srv)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Minute))
	r := bufio.NewReader(c)
	roundTrip(t, c, r)
	ln.Close()
	if err := drain(context.Background()); err != nil {
		t.Errorf("drain: %v", err)
	}
	if _, err := r.ReadByte(); err != io.EOF && (err == nil || !strings.Contains(err.Error(), "reset")) {
		t.Errorf("idle connection after the drain: read %v, want it closed", err)
	}
}

// roundTrip sends a GET on c and reads the response; nil if the
// connection failed.
func roundTrip(t *testing.T, c net.Conn, r *bufio.Reader) *http.Response {
	t.Helper()
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Logf("write: %v", err)
		return nil
	}
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Logf("read: %v", err)
		return nil
	}
	defer resp.Body.Close()
	if b, _ := io.ReadAll(resp.Body); string(b) != "ok" {
		t.Errorf("body %q, want ok", b)
	}
	return resp
}
