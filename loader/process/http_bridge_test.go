package process

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hotpatch-go/hotpatch/registry"
)

// httpCase is one handler run both compiled and through the bridge.
type httpCase struct {
	name    string
	handler http.HandlerFunc
	req     func(url string) *http.Request // nil: GET url
	strip   bool                           // serve under http.StripPrefix("/p")
}

func get(url string) *http.Request {
	r, _ := http.NewRequest("GET", url, nil)
	return r
}

var httpCases = []httpCase{
	{name: "small", handler: func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") }},
	{name: "status and headers", handler: func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-A", "1")
		w.Header().Add("X-A", "2")
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, "made")
	}},
	{name: "header after body", handler: func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "a")
		w.Header().Set("X-Late", "1")
	}},
	{name: "declared trailer", handler: func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-T")
		io.WriteString(w, "body")
		w.Header().Set("X-T", "v")
	}},
	{name: "prefix trailer", handler: func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "body")
		w.Header().Set(http.TrailerPrefix+"X-P", "p")
	}},
	{name: "middleware header", handler: func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "mw="+w.Header().Get("X-Mw"))
		w.Header().Del("X-Mw-Del")
	}},
	{name: "tls", handler: func(w http.ResponseWriter, r *http.Request) {
		t := r.TLS
		fmt.Fprintf(w, "%v %x %x %v %v %q %q %d %d", t != nil, t.Version, t.CipherSuite, t.HandshakeComplete,
			t.DidResume, t.ServerName, t.NegotiatedProtocol, len(t.PeerCertificates), t.CurveID)
	}},
	{name: "chunked request with trailers", handler: func(w http.ResponseWriter, r *http.Request) {
		declared := fmt.Sprint(reflect.ValueOf(r.Trailer).MapKeys())
		before := r.Trailer.Get("X-Rt")
		b, err := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%d %q %d %v %s %q %q", r.ContentLength, r.TransferEncoding, len(b), err, declared, before, r.Trailer.Get("X-Rt"))
	}, req: func(url string) *http.Request {
		r, _ := http.NewRequest("POST", url, io.MultiReader(strings.NewReader("part1,"), strings.NewReader("part2")))
		r.Trailer = http.Header{"X-Rt": {"rv"}}
		return r
	}},
	{name: "close", handler: func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, r.Close) },
		req: func(url string) *http.Request { r := get(url); r.Close = true; return r }},
	{name: "abort before writing", handler: func(w http.ResponseWriter, r *http.Request) { panic(http.ErrAbortHandler) }},
	{name: "abort after writing", handler: func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "partial")
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	}},
	{name: "big at once", handler: func(w http.ResponseWriter, r *http.Request) { w.Write(bytes.Repeat([]byte("0123456789"), 300_000)) }},
	{name: "big in pieces", handler: func(w http.ResponseWriter, r *http.Request) {
		for i := range 100 {
			w.Write(bytes.Repeat([]byte{byte('a' + i%26)}, 40_000))
		}
	}},
	{name: "large upload", handler: func(w http.ResponseWriter, r *http.Request) {
		h := sha256.New()
		n, err := io.Copy(h, r.Body)
		fmt.Fprintf(w, "%d %d %v %x", r.ContentLength, n, err, h.Sum(nil))
	}, req: func(url string) *http.Request {
		r, _ := http.NewRequest("PUT", url, bytes.NewReader(bytes.Repeat([]byte("upload"), 500_000)))
		return r
	}},
	{name: "small upload", handler: func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%d %q %v", r.ContentLength, b, err)
	}, req: func(url string) *http.Request {
		r, _ := http.NewRequest("POST", url, strings.NewReader("a=1&b=2"))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return r
	}},
	{name: "form", handler: func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%q %q", r.FormValue("a"), r.FormValue("q"))
	}, req: func(url string) *http.Request {
		r, _ := http.NewRequest("POST", url+"?q=z", strings.NewReader("a=1&b=2"))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return r
	}},
	{name: "sniffed type", handler: func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "<html><body>x</body></html>") }},
	{name: "empty", handler: func(w http.ResponseWriter, r *http.Request) {}},
	{name: "head", handler: func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "abc") },
		req: func(url string) *http.Request { r, _ := http.NewRequest("HEAD", url, nil); return r }},
	{name: "no content with body", handler: func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
		if _, err := io.WriteString(w, "x"); !errors.Is(err, http.ErrBodyNotAllowed) {
			panic(err)
		}
	}},
	{name: "superfluous WriteHeader", handler: func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusAccepted)
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, "x")
	}},
	{name: "informational", handler: func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</a.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Set("X-After", "1")
		io.WriteString(w, "x")
	}},
	{name: "flush then more", handler: func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "a")
		w.(http.Flusher).Flush()
		io.WriteString(w, "b")
	}},
	{name: "rewritten URL", strip: true, handler: func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%q %q %q", r.URL.Path, r.URL.RawQuery, r.RequestURI)
	}, req: func(url string) *http.Request { return get(strings.Replace(url, "/h/", "/p/h/", 1) + "?x=%2F&y") }},
	{name: "request fields", handler: func(w http.ResponseWriter, r *http.Request) {
		host, _, _ := strings.Cut(r.Host, ":") // the two servers' ports differ
		fmt.Fprintf(w, "%s %s %q %v %q %q", r.Method, r.Proto, host, r.RemoteAddr != "", r.Header.Get("X-In"), r.UserAgent())
	}, req: func(url string) *http.Request {
		r, _ := http.NewRequest("PATCH", url, nil)
		r.Header.Set("X-In", "in")
		return r
	}},
}

// middleware is what a host puts in front of its handlers.
func middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Mw", "set")
		w.Header().Set("X-Mw-Del", "x")
		next.ServeHTTP(w, r)
	})
}

// response is what a client sees, for comparison.
type response struct {
	Status  int
	Header  http.Header
	Body    string
	Trailer http.Header
	Err     bool
}

func fetch(t *testing.T, c *http.Client, r *http.Request) response {
	t.Helper()
	resp, err := c.Do(r)
	if err != nil {
		return response{Err: true}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	h := resp.Header.Clone()
	h.Del("Date")
	out := response{Status: resp.StatusCode, Header: h, Body: string(b), Trailer: resp.Trailer, Err: err != nil}
	if len(out.Body) > 200 {
		out.Body = fmt.Sprintf("%d bytes %x", len(b), sha256.Sum256(b))
	}
	return out
}

// bridgeEnv serves the cases compiled and bridged, each behind the same
// middleware, on TLS test servers.
type bridgeEnv struct {
	direct, bridged *httptest.Server
	chan_           *chanEnv
}

func newBridgeEnv(t *testing.T, cases []httpCase) *bridgeEnv {
	reg := registry.New()
	served := map[string]any{}
	for i, c := range cases {
		name := fmt.Sprintf("h.Case%d", i)
		registry.MustRegister(reg, name, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
		served[name] = c.handler
	}
	e := servePlugin(t, reg, served, 2)
	direct, bridged := http.NewServeMux(), http.NewServeMux()
	for i, c := range cases {
		path := fmt.Sprintf("/h/%d", i)
		var d, b http.Handler = c.handler, e.impls[fmt.Sprintf("h.Case%d", i)].(http.HandlerFunc)
		if c.strip {
			direct.Handle("/p"+path, middleware(http.StripPrefix("/p", d)))
			bridged.Handle("/p"+path, middleware(http.StripPrefix("/p", b)))
			continue
		}
		direct.Handle(path, middleware(d))
		bridged.Handle(path, middleware(b))
	}
	quiet := func(s *httptest.Server) *httptest.Server {
		s.Config.ErrorLog = log.New(io.Discard, "", 0)
		s.StartTLS()
		t.Cleanup(s.Close)
		return s
	}
	return &bridgeEnv{
		direct:  quiet(httptest.NewUnstartedServer(direct)),
		bridged: quiet(httptest.NewUnstartedServer(bridged)),
		chan_:   e,
	}
}

// TestHTTPBridgeFaithful runs each handler compiled and as a process
// patch behind the same middleware, and compares what net/http's client
// sees.
func TestHTTPBridgeFaithful(t *testing.T) {
	be := newBridgeEnv(t, httpCases)
	for i, c := range httpCases {
		t.Run(c.name, func(t *testing.T) {
			mk := c.req
			if mk == nil {
				mk = get
			}
			want := fetch(t, be.direct.Client(), mk(fmt.Sprintf("%s/h/%d", be.direct.URL, i)))
			got := fetch(t, be.bridged.Client(), mk(fmt.Sprintf("%s/h/%d", be.bridged.URL, i)))
			if !reflect.DeepEqual(got, want) {
				t.Errorf("bridged:\n%+v\ncompiled:\n%+v", got, want)
			}
		})
	}
	if n := be.chan_.sink.count(); n != 0 {
		t.Errorf("%d failures reported, want none (an abort is not a failure)", n)
	}
}

// TestHTTPBridgeStreams: a flushed event reaches the client while the
// handler is still running (server-sent events), and a response over one
// frame (64 MiB) arrives whole.
func TestHTTPBridgeStreams(t *testing.T) {
	next := make(chan struct{})
	cases := []httpCase{
		{name: "sse", handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			for i := range 3 {
				fmt.Fprintf(w, "data: %d\n\n", i)
				w.(http.Flusher).Flush()
				select {
				case <-next: // the client has the event
				case <-r.Context().Done():
					return
				}
			}
		}},
		{name: "huge", handler: func(w http.ResponseWriter, r *http.Request) {
			w.Write(make([]byte, maxFrame+(1<<20)))
		}},
	}
	be := newBridgeEnv(t, cases)
	for _, srv := range []*httptest.Server{be.direct, be.bridged} {
		start := time.Now()
		resp, err := srv.Client().Get(srv.URL + "/h/0")
		if err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(resp.Body)
		for i := range 3 {
			line, err := br.ReadString('\n')
			if err != nil || line != fmt.Sprintf("data: %d\n", i) {
				t.Fatalf("event %d: %q, %v", i, line, err)
			}
			if i == 0 {
				t.Logf("%s: first event after %v", map[bool]string{true: "bridged", false: "compiled"}[srv == be.bridged], time.Since(start))
			}
			br.ReadString('\n')
			next <- struct{}{} // only now may the handler go on
		}
		resp.Body.Close()
	}
	resp, err := be.bridged.Client().Get(be.bridged.URL + "/h/1")
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || n != maxFrame+(1<<20) {
		t.Fatalf("huge response: status %d, %d bytes, %v", resp.StatusCode, n, err)
	}
}

// TestHTTPBridgePanic: a handler that panics before writing answers 502
// and counts against the patch; one that panics after writing aborts the
// response.
func TestHTTPBridgePanic(t *testing.T) {
	cases := []httpCase{
		{name: "before", handler: func(w http.ResponseWriter, r *http.Request) { panic("boom") }},
		{name: "after", handler: func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "partial")
			w.(http.Flusher).Flush()
			panic("boom")
		}},
	}
	be := newBridgeEnv(t, cases)
	c := be.bridged.Client()
	if r := fetch(t, c, get(be.bridged.URL+"/h/0")); r.Status != http.StatusBadGateway {
		t.Errorf("panic before writing: %+v, want 502", r)
	}
	if r := fetch(t, c, get(be.bridged.URL+"/h/1")); !r.Err {
		t.Errorf("panic after writing: %+v, want an aborted response", r)
	}
	if n := be.chan_.sink.count(); n != 2 {
		t.Errorf("%d failures reported, want 2", n)
	}
}
