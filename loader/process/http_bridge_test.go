package process

import (
	"bufio"
	"crypto/sha256"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"

	"github.com/hotpatch-go/hotpatch/loader/process/internal/callchan"
	"github.com/hotpatch-go/hotpatch/loader/process/internal/httpcases"
	"github.com/hotpatch-go/hotpatch/registry"
)

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
	sink            *reportSink
}

// newBridgeEnv serves cases through a plugin server in the test process.
func newBridgeEnv(t *testing.T, cases []httpcases.Case) *bridgeEnv {
	reg := registry.New()
	served := map[string]any{}
	for i, c := range cases {
		name := fmt.Sprintf("h.Case%d", i)
		registry.MustRegister(reg, name, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
		served[name] = c.Handler
	}
	e := servePlugin(t, reg, served, 2)
	return newBridgeServers(t, cases, e.impls, e.sink)
}

// newBridgeServers serves cases compiled and through impls (slot h.CaseN
// for case N).
func newBridgeServers(t *testing.T, cases []httpcases.Case, impls map[string]any, sink *reportSink) *bridgeEnv {
	direct, bridged := http.NewServeMux(), http.NewServeMux()
	for i, c := range cases {
		path := fmt.Sprintf("/h/%d", i)
		var d, b http.Handler = c.Handler, impls[fmt.Sprintf("h.Case%d", i)].(http.HandlerFunc)
		if c.Strip {
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
		sink:    sink,
	}
}

// compareCases fetches every case from both servers and compares.
func compareCases(t *testing.T, be *bridgeEnv, cases []httpcases.Case) {
	for i, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			mk := c.Req
			if mk == nil {
				mk = httpcases.Get
			}
			want := fetch(t, be.direct.Client(), mk(fmt.Sprintf("%s/h/%d", be.direct.URL, i)))
			got := fetch(t, be.bridged.Client(), mk(fmt.Sprintf("%s/h/%d", be.bridged.URL, i)))
			if !reflect.DeepEqual(got, want) {
				t.Errorf("bridged:\n%+v\ncompiled:\n%+v", got, want)
			}
		})
	}
	if n := be.sink.count(); n != 0 {
		t.Errorf("%d failures reported, want none (an abort is not a failure)", n)
	}
}

// TestHTTPBridgeFaithful runs each handler compiled and as a process
// patch behind the same middleware, and compares what net/http's client
// sees.
func TestHTTPBridgeFaithful(t *testing.T) {
	compareCases(t, newBridgeEnv(t, httpcases.Cases), httpcases.Cases)
}

// TestHTTPBridgeStreams: a flushed event reaches the client while the
// handler is still running (server-sent events), and a response over one
// frame (64 MiB) arrives whole.
func TestHTTPBridgeStreams(t *testing.T) {
	next := make(chan struct{})
	cases := []httpcases.Case{
		{Name: "sse", Handler: func(w http.ResponseWriter, r *http.Request) {
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
		{Name: "huge", Handler: func(w http.ResponseWriter, r *http.Request) {
			w.Write(make([]byte, callchan.MaxFrame+(1<<20)))
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
	if err != nil || resp.StatusCode != 200 || n != callchan.MaxFrame+(1<<20) {
		t.Fatalf("huge response: status %d, %d bytes, %v", resp.StatusCode, n, err)
	}
}

// TestHTTPBridgePanic: a handler that panics before writing answers 502
// and counts against the patch; one that panics after writing aborts the
// response.
func TestHTTPBridgePanic(t *testing.T) {
	cases := []httpcases.Case{
		{Name: "before", Handler: func(w http.ResponseWriter, r *http.Request) { panic("boom") }},
		{Name: "after", Handler: func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "partial")
			w.(http.Flusher).Flush()
			panic("boom")
		}},
	}
	be := newBridgeEnv(t, cases)
	c := be.bridged.Client()
	if r := fetch(t, c, httpcases.Get(be.bridged.URL+"/h/0")); r.Status != http.StatusBadGateway {
		t.Errorf("panic before writing: %+v, want 502", r)
	}
	if r := fetch(t, c, httpcases.Get(be.bridged.URL+"/h/1")); !r.Err {
		t.Errorf("panic after writing: %+v, want an aborted response", r)
	}
	if n := be.sink.count(); n != 2 {
		t.Errorf("%d failures reported, want 2", n)
	}
}
