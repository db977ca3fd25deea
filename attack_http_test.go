package hotpatch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hotpatch-go/hotpatch/hotswap"
)

// syncBuffer is a bytes.Buffer safe for a server's error log.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// httpFixture is a runtime with one slot "t.Body" and a patch "p" on
// probation, and h wrapped by Handler behind a real server, over HTTP/1.1
// or HTTP/2 (TLS). served receives once each request's Handler returned,
// so the counts can be read without polling.
type httpFixture struct {
	rt     *Runtime
	srv    *httptest.Server
	errLog *syncBuffer
	served chan struct{}
}

func newHTTPFixture(t *testing.T, h2 bool, h http.Handler) *httpFixture {
	t.Helper()
	rt, err := New(Options{Rollback: hotswap.RollbackPolicy{Failures: 100, Window: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close(context.Background()) })
	MustRegister(rt, "t.Body", func() string { return "baseline" })
	if _, err := rt.Manager().Apply(context.Background(), hotswap.Patch{ID: "p",
		Impls: map[string]any{"t.Body": func() string { return "patched" }}}); err != nil {
		t.Fatal(err)
	}
	f := &httpFixture{rt: rt, errLog: &syncBuffer{}, served: make(chan struct{}, 16)}
	wrapped := rt.Handler("t.Body", h)
	f.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() { f.served <- struct{}{} }()
		wrapped.ServeHTTP(w, r)
	}))
	f.srv.Config.ErrorLog = log.New(f.errLog, "", 0)
	if h2 {
		f.srv.EnableHTTP2 = true
		f.srv.StartTLS()
	} else {
		f.srv.Start()
	}
	t.Cleanup(f.srv.Close)
	return f
}

// get runs one request and returns its status and body, or the error of
// the request or of reading the body.
func (f *httpFixture) get(t *testing.T, ctx context.Context) (int, string, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, "GET", f.srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

// counts waits until the server finished n requests, then returns the
// patch's calls and failures.
func (f *httpFixture) counts(t *testing.T, n int) (calls, failures int64) {
	t.Helper()
	timeout := time.After(20 * time.Second) // a hang detector
	for range n {
		select {
		case <-f.served:
		case <-timeout:
			t.Fatal("the server did not finish its requests")
		}
	}
	pr := f.rt.Manager().Status().Stack[0].Probation
	return pr.Calls, pr.Failures
}

func protocols(t *testing.T, run func(t *testing.T, h2 bool)) {
	for _, h2 := range []bool{false, true} {
		name := "HTTP/1.1"
		if h2 {
			name = "HTTP/2"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			run(t, h2)
		})
	}
}

// TestHandlerPanicAfterWriteAbortsResponse: a handler that panics after
// it started its response must not end the response as if it were whole:
// the client sees a broken response (HTTP/1.1: the connection closes
// before the chunked body ends; HTTP/2: the stream is reset), and the
// panic counts once.
func TestHandlerPanicAfterWriteAbortsResponse(t *testing.T) {
	t.Parallel()
	protocols(t, func(t *testing.T, h2 bool) {
		f := newHTTPFixture(t, h2, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, "partial ")
			http.NewResponseController(w).Flush()
			panic("half-way")
		}))
		code, body, err := f.get(t, context.Background())
		if err == nil {
			t.Fatalf("a response cut by a panic reached the client whole: %d %q", code, body)
		}
		if calls, failures := f.counts(t, 1); calls != 1 || failures != 1 {
			t.Fatalf("%d calls, %d failures, want 1 and 1", calls, failures)
		}
		if s := f.errLog.String(); strings.Contains(s, "panic serving") {
			t.Fatalf("the server logged the panic as unhandled: %s", s)
		}
	})
}

// TestHandlerHijack: the wrapped writer still offers http.Hijacker to a
// handler that asserts it (websocket libraries do); a hijacked request is
// a call, and a panic after the hijack counts without anything written
// on the connection the handler owns.
func TestHandlerHijack(t *testing.T) {
	t.Parallel()
	f := newHTTPFixture(t, false, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hj, ok := w.(http.Hijacker)
		if !ok {
			http.Error(w, "no Hijacker", http.StatusNotImplemented)
			return
		}
		conn, rw, err := hj.Hijack()
		if err != nil {
			t.Errorf("Hijack: %v", err)
			return
		}
		_, _ = rw.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
		_ = rw.Flush()
		_ = conn.Close()
		if r.URL.Query().Has("panic") {
			panic("after the hijack")
		}
	}))
	code, body, err := f.get(t, context.Background())
	if err != nil || code != 200 || body != "ok" {
		t.Fatalf("hijacked request: %d %q %v", code, body, err)
	}
	if calls, failures := f.counts(t, 1); calls != 1 || failures != 0 {
		t.Fatalf("%d calls, %d failures, want 1 and 0", calls, failures)
	}
	req, _ := http.NewRequest("GET", f.srv.URL+"?panic", nil)
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if calls, failures := f.counts(t, 1); calls != 2 || failures != 1 {
		t.Fatalf("%d calls, %d failures, want 2 and 1", calls, failures)
	}
	if s := f.errLog.String(); strings.Contains(s, "hijacked") || strings.Contains(s, "panic serving") {
		t.Fatalf("server log: %s", s)
	}
}

// TestHandlerClientGone: a 5xx written after the client went away (a
// proxy answering 502 for its cancelled upstream call) is no fault of
// the patch: the call counts, the failure does not.
func TestHandlerClientGone(t *testing.T) {
	t.Parallel()
	protocols(t, func(t *testing.T, h2 bool) {
		started := make(chan struct{})
		f := newHTTPFixture(t, h2, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			close(started)
			<-r.Context().Done()
			http.Error(w, "upstream: "+r.Context().Err().Error(), http.StatusBadGateway)
		}))
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			<-started
			cancel()
		}()
		if _, _, err := f.get(t, ctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled request: %v", err)
		}
		if calls, failures := f.counts(t, 1); calls != 1 || failures != 0 {
			t.Fatalf("%d calls, %d failures, want 1 and 0", calls, failures)
		}
	})
}

// TestHandlerOutcomes pins what the Handler documentation says of each
// kind of response, over both protocols.
func TestHandlerOutcomes(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		h        http.HandlerFunc
		failures int64
		wantErr  bool // the client sees a broken response
		code     int
	}{
		{"implicit 200", func(http.ResponseWriter, *http.Request) {}, 0, false, 200},
		{"streaming", func(w http.ResponseWriter, _ *http.Request) {
			for range 3 {
				_, _ = io.WriteString(w, "chunk\n")
				http.NewResponseController(w).Flush()
			}
		}, 0, false, 200},
		{"http.Error 503", func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "down", 503) }, 1, false, 503},
		{"WriteHeader 500 then 200", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(500); w.WriteHeader(200) }, 1, false, 500},
		{"WriteHeader 200 then 500", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(200); w.WriteHeader(500) }, 0, false, 200},
		{"1xx then 502", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(103); w.WriteHeader(502) }, 1, false, 502},
		{"404", func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) }, 0, false, 404},
		{"panic before writing", func(http.ResponseWriter, *http.Request) { panic("early") }, 1, false, 500},
		{"ErrAbortHandler", func(w http.ResponseWriter, _ *http.Request) {
			_, _ = io.WriteString(w, "x")
			http.NewResponseController(w).Flush()
			panic(http.ErrAbortHandler)
		}, 0, true, 0},
	}
	protocols(t, func(t *testing.T, h2 bool) {
		for _, tc := range cases {
			f := newHTTPFixture(t, h2, tc.h)
			code, _, err := f.get(t, context.Background())
			if (err != nil) != tc.wantErr || !tc.wantErr && code != tc.code {
				t.Errorf("%s: %d, %v", tc.name, code, err)
			}
			if calls, failures := f.counts(t, 1); calls != 1 || failures != tc.failures {
				t.Errorf("%s: %d calls, %d failures, want 1 and %d", tc.name, calls, failures, tc.failures)
			}
		}
	})
}

// TestHandlerBadInput: a nil handler is refused when it is wrapped, as
// http.Handle does, not answered with a panic counted against the patch
// on every request; a slot that is not registered is logged as such.
func TestHandlerBadInput(t *testing.T) {
	t.Parallel()
	var logged syncBuffer
	rt, err := New(Options{Logger: slog.New(slog.NewTextHandler(&logged, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(context.Background())
	MustRegister(rt, "t.Body", func() string { return "baseline" })
	func() {
		defer func() {
			if v := recover(); v == nil || !strings.Contains(fmt.Sprint(v), "t.Body") {
				t.Fatalf("Handler(slot, nil) panicked with %v, want a panic naming the slot", v)
			}
		}()
		rt.Handler("t.Body", nil)
	}()
	rt.Handler("t.Bdoy", http.NotFoundHandler())
	if s := logged.String(); !strings.Contains(s, "t.Bdoy") || !strings.Contains(s, "not registered") {
		t.Fatalf("log after a Handler for an unknown slot: %q", s)
	}
}

// TestHandlerHijackHTTP2: over HTTP/2 the Hijacker the handler finds says
// it cannot (http.ErrNotSupported), and the handler answers normally.
func TestHandlerHijackHTTP2(t *testing.T) {
	t.Parallel()
	f := newHTTPFixture(t, true, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hj, ok := w.(http.Hijacker)
		if !ok {
			http.Error(w, "no Hijacker", http.StatusNotImplemented)
			return
		}
		if _, _, err := hj.Hijack(); !errors.Is(err, http.ErrNotSupported) {
			http.Error(w, fmt.Sprint("Hijack over HTTP/2: ", err), http.StatusInternalServerError)
			return
		}
		_, _ = io.WriteString(w, "no hijack")
	}))
	code, body, err := f.get(t, context.Background())
	if err != nil || code != 200 || body != "no hijack" {
		t.Fatalf("%d %q %v", code, body, err)
	}
	if calls, failures := f.counts(t, 1); calls != 1 || failures != 0 {
		t.Fatalf("%d calls, %d failures, want 1 and 0", calls, failures)
	}
}

// TestHandlerSwitchingProtocolsThenPanic: 101 is a final status for
// net/http; a panic after it cuts the connection instead of writing a 500
// after it.
func TestHandlerSwitchingProtocolsThenPanic(t *testing.T) {
	t.Parallel()
	f := newHTTPFixture(t, false, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "Upgrade")
		w.Header().Set("Upgrade", "test")
		w.WriteHeader(http.StatusSwitchingProtocols)
		panic("after the upgrade")
	}))
	conn, err := net.Dial("tcp", f.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second)) // a hang detector
	if _, err := io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: test\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(conn); err != nil {
		t.Fatalf("the connection stayed open after a panic that followed a 101: %v", err)
	}
	if calls, failures := f.counts(t, 1); calls != 1 || failures != 1 {
		t.Fatalf("%d calls, %d failures, want 1 and 1", calls, failures)
	}
	if s := f.errLog.String(); strings.Contains(s, "superfluous") {
		t.Fatalf("server log: %s", s)
	}
}
