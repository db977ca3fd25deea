package process

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/hotpatch-go/hotpatch/loader/process/internal/callchan"
	"github.com/hotpatch-go/hotpatch/loader/process/internal/httpcases"
	"github.com/hotpatch-go/hotpatch/registry"
)

// TestHTTPBridgeStalledUpload: a client sends part of a large body and
// then waits for the answer; the handler answers without reading the body.
// Compiled, the client gets the answer at once; bridged, the host must not
// wait for body bytes that will never come before it finishes the
// response.
func TestHTTPBridgeStalledUpload(t *testing.T) {
	cases := []httpcases.Case{{Name: "refuse", Handler: func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "too big", http.StatusRequestEntityTooLarge)
	}}}
	be := newBridgeEnv(t, cases)
	for _, srv := range []string{be.direct.Listener.Addr().String(), be.bridged.Listener.Addr().String()} {
		c, err := tls.Dial("tcp", srv, &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(20 * time.Second)) // a hang detector
		fmt.Fprintf(c, "POST /h/0 HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n0123456789")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("%s: no answer while the body stalls: %v", srv, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("%s: status %d", srv, resp.StatusCode)
		}
	}
	if n := be.sink.count(); n != 0 {
		t.Errorf("%d failures reported", n)
	}
}

// blockingWriter is a host ResponseWriter whose WriteHeader waits for
// release: a client that does not keep up.
type blockingWriter struct {
	*httptest.ResponseRecorder
	release chan struct{}
}

func (w *blockingWriter) WriteHeader(code int) {
	<-w.release
	w.ResponseRecorder.WriteHeader(code)
}

// TestHTTPBridgeQueuedFrameMemory: a hostile plugin cannot make the host
// hold unbounded memory for one HTTP call by queueing frames the budget
// does not count, read by another call's reader while the call waits for
// its client: flush frames with a body, and 1xx heads beyond a bound, are
// protocol errors.
func TestHTTPBridgeQueuedFrameMemory(t *testing.T) {
	reg, served := limitSlots()
	registry.MustRegister(reg, "h.H", http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	served["h.H"] = http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	slots := slotsOf(t, served)
	codecs := callchan.NewHTTPCodecs()
	headFrame := func(id uint64, status int, h http.Header) []byte {
		return callchan.HeadFrame(&codecs, id, status, h)
	}
	junk := strings.Repeat("x", 60000)
	cases := []struct {
		name   string
		frames func(id uint64) [][]byte
		head   bool // the result carries the final head
	}{
		{"flush frames with a body", func(id uint64) [][]byte {
			out := [][]byte{headFrame(id, 200, nil)}
			for range 200 {
				out = append(out, callchan.FlushFrame(id, []byte(junk)))
			}
			return out
		}, false},
		{"1xx heads", func(id uint64) [][]byte {
			var out [][]byte
			for range 200 {
				out = append(out, headFrame(id, 103, http.Header{"Link": {junk}}))
			}
			return out
		}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sock := rawPlugin(t, func(n int, c net.Conn) {
				calls := make(chan [2]any, 16)
				go callchan.ReadCalls(c, calls)
				var ids []uint64
				for call := range calls {
					ids = append(ids, call[0].(uint64))
					if len(ids) == 2 {
						break
					}
				}
				if len(ids) < 2 {
					return
				}
				stream, echo := ids[0], ids[1] // the stream call is sent first
				for _, f := range tc.frames(stream) {
					if _, err := c.Write(f); err != nil {
						return
					}
				}
				c.Write(callchan.StringResult(echo, "x"))
				status := 0
				if tc.head {
					status = 200
				}
				c.Write(callchan.HTTPResultFrame(&codecs, stream, status))
				for range calls {
				}
			})
			e := newChanEnv(t, reg, sock, slots, 1, nil)
			h := e.impls["h.H"].(http.HandlerFunc)
			echo := e.impls["t.Echo"].(func(string) (string, error))
			w := &blockingWriter{ResponseRecorder: httptest.NewRecorder(), release: make(chan struct{})}
			served := make(chan struct{})
			go func() {
				defer close(served)
				defer func() { recover() }() // an aborted response
				h(w, httptest.NewRequest("GET", "/", nil))
			}()
			// The stream call's first frame blocks it in WriteHeader; this
			// call reads the rest of its frames on the way to its own result.
			for {
				_, n := e.in.conns[0].Pending()
				if n >= 1 {
					break
				}
				runtime.Gosched()
			}
			echo("x")
			close(w.release)
			<-served
			if got := e.sink.count(); got != 1 {
				t.Fatalf("%d failures reported, want 1 protocol error", got)
			}
			if err := e.sink.reports[0]; !errors.Is(err, ErrProtocol) {
				t.Fatalf("reported %v, want a protocol error", err)
			}
		})
	}
}

// TestHTTPBridgeExpectContinue: with "Expect: 100-continue", net/http
// sends "100 Continue" only when the handler reads the body. A handler
// that refuses without reading answers at once and the client never sends
// the body; one that reads gets it.
func TestHTTPBridgeExpectContinue(t *testing.T) {
	cases := []httpcases.Case{
		{Name: "refuse", Handler: func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "no", http.StatusUnauthorized)
		}},
		{Name: "read", Handler: func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			fmt.Fprintf(w, "got %q", b)
		}},
	}
	be := newBridgeEnv(t, cases)
	for _, srv := range []*httptest.Server{be.direct, be.bridged} {
		name := map[bool]string{true: "bridged", false: "compiled"}[srv == be.bridged]
		dial := func() (net.Conn, *bufio.Reader) {
			c, err := tls.Dial("tcp", srv.Listener.Addr().String(), &tls.Config{InsecureSkipVerify: true})
			if err != nil {
				t.Fatal(err)
			}
			c.SetDeadline(time.Now().Add(20 * time.Second)) // a hang detector
			return c, bufio.NewReader(c)
		}
		c, br := dial()
		fmt.Fprintf(c, "POST /h/0 HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 10\r\n\r\n")
		resp, err := http.ReadResponse(br, nil)
		if err != nil || resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s, refusing handler: %v, %v; want 401 without 100 Continue", name, resp.Status, err)
		}
		c.Close()
		c, br = dial()
		fmt.Fprintf(c, "POST /h/1 HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 10\r\n\r\n")
		resp, err = http.ReadResponse(br, nil)
		if err != nil || resp.StatusCode != http.StatusContinue {
			t.Fatalf("%s, reading handler: %v, %v; want 100 Continue", name, resp, err)
		}
		io.WriteString(c, "0123456789")
		resp, err = http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		b, _ := io.ReadAll(resp.Body)
		if string(b) != `got "0123456789"` {
			t.Errorf("%s: body %q", name, b)
		}
		c.Close()
	}
	if n := be.sink.count(); n != 0 {
		t.Errorf("%d failures reported", n)
	}
}

// TestHTTPBridgeMaxBytes: a host middleware's http.MaxBytesReader reaches
// the plugin's handler as *http.MaxBytesError, whether the body travels
// with the request or streams, and the handler answers, not the bridge.
func TestHTTPBridgeMaxBytes(t *testing.T) {
	limit := func(next http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			r.Body = http.MaxBytesReader(w, r.Body, 100)
			next(w, r)
		}
	}
	h := func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			http.Error(w, fmt.Sprintf("limit %d: %v", mbe.Limit, err), http.StatusRequestEntityTooLarge)
			return
		}
		fmt.Fprintf(w, "%d bytes, %v", len(b), err)
	}
	post := func(n int, chunked bool) func(string) *http.Request {
		return func(url string) *http.Request {
			var body io.Reader = strings.NewReader(strings.Repeat("x", n))
			if chunked {
				body = io.MultiReader(body) // no length: chunked
			}
			r, _ := http.NewRequest("POST", url, body)
			return r
		}
	}
	cases := []httpcases.Case{
		{Name: "small over", Req: post(200, false)},
		{Name: "large over", Req: post(200<<10, false)},
		{Name: "chunked over", Req: post(200, true)},
		{Name: "under", Req: post(50, false)},
	}
	reg := registry.New()
	served := map[string]any{}
	for i := range cases {
		name := fmt.Sprintf("h.Case%d", i)
		registry.MustRegister(reg, name, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
		served[name] = http.HandlerFunc(h)
		cases[i].Handler = h
	}
	e := servePlugin(t, reg, served, 2)
	impls := map[string]any{}
	for name, impl := range e.impls {
		impls[name] = limit(impl.(http.HandlerFunc))
	}
	for i := range cases {
		cases[i].Handler = limit(h)
	}
	compareCases(t, newBridgeServers(t, cases, impls, e.sink), cases)
}
