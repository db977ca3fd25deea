package process

import (
	"context"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hotpatch-go/hotpatch/loader/process/internal/httpcases"
)

// TestHTTPBridgeFaithfulHTTP2 compares the cases as TestHTTPBridgeFaithful
// does, with both servers and the client speaking HTTP/2.
func TestHTTPBridgeFaithfulHTTP2(t *testing.T) {
	be := newBridgeEnv(t, httpcases.Cases)
	for _, s := range []**httptest.Server{&be.direct, &be.bridged} {
		h2 := httptest.NewUnstartedServer((*s).Config.Handler)
		h2.EnableHTTP2 = true
		h2.Config.ErrorLog = log.New(io.Discard, "", 0)
		h2.StartTLS()
		t.Cleanup(h2.Close)
		*s = h2
	}
	resp, err := be.bridged.Client().Get(be.bridged.URL + "/h/0")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.ProtoMajor != 2 {
		t.Fatalf("the client spoke %s", resp.Proto)
	}
	compareCases(t, be, httpcases.Cases)
}

// TestHTTPBridgeClientGone: a client that goes away in the middle of a
// streamed response ends the plugin's r.Context() and the handler's writes
// fail, as compiled, within a hang detector; nothing is reported and the
// next request is served. The host used to stop reading the call's frames
// at once: the plugin's writes (within its window, over the socket's
// buffer) then blocked for good, holding its connection's write lock.
func TestHTTPBridgeClientGone(t *testing.T) {
	type result struct{ ctxErr, writeErr error }
	out := make(chan result, 1)
	started := make(chan struct{}, 1)
	cases := []httpcases.Case{{Name: "stream", Handler: func(w http.ResponseWriter, r *http.Request) {
		if r.URL.RawQuery == "short" {
			io.WriteString(w, "ok")
			return
		}
		buf := make([]byte, 1000)
		var err error
		for i := 0; i < 1e6 && err == nil; i++ { // 1 GB: more than any buffer
			_, err = w.Write(buf)
			if i == 10 {
				w.(http.Flusher).Flush()
				started <- struct{}{}
			}
		}
		select {
		case <-r.Context().Done():
		case <-time.After(20 * time.Second): // a hang detector
		}
		out <- result{r.Context().Err(), err}
	}}}
	be := newBridgeEnv(t, cases)
	for _, s := range []*httptest.Server{be.direct, be.bridged} {
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, "GET", s.URL+"/h/0", nil)
		resp, err := s.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		<-started
		cancel()
		resp.Body.Close()
		select {
		case r := <-out:
			if r.ctxErr == nil || r.writeErr == nil {
				t.Errorf("%s: handler's context %v, its write %v: want both ended", s.URL, r.ctxErr, r.writeErr)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("%s: the handler still runs after its client went away", s.URL)
		}
		if r := fetch(t, s.Client(), httpcases.Get(s.URL+"/h/0?short")); r.Body != "ok" {
			t.Errorf("%s: next request: %+v", s.URL, r)
		}
	}
	if n := be.sink.count(); n != 0 {
		t.Errorf("%d failures reported, want none", n)
	}
}

// TestHTTPBridgeWriteAfterReturn: a goroutine the handler left behind
// writes after it returned. The write fails (net/http gives no promise
// here; it must not hang nor disturb the connection) and the response
// as written before the return is what the client gets. It used to send
// frames for the finished call until the socket was full, and then wait
// for good with the connection's write lock held.
func TestHTTPBridgeWriteAfterReturn(t *testing.T) {
	late := make(chan error, 1)
	returned := make(chan struct{})
	cases := []httpcases.Case{{Name: "late", Handler: func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
		go func() {
			<-returned
			_, err := w.Write(make([]byte, 4<<20))
			w.(http.Flusher).Flush()
			late <- err
		}()
	}}}
	be := newBridgeEnv(t, cases)
	for i := range 2 {
		if r := fetch(t, be.bridged.Client(), httpcases.Get(be.bridged.URL+"/h/0")); r.Body != "ok" || r.Status != 200 {
			t.Fatalf("request %d: %+v", i, r)
		}
		returned <- struct{}{}
		select {
		case err := <-late:
			if err == nil {
				t.Errorf("a write after the handler returned succeeded")
			}
		case <-time.After(20 * time.Second): // a hang detector
			t.Fatal("a write after the handler returned hangs")
		}
	}
	if n := be.sink.count(); n != 0 {
		t.Errorf("%d failures reported, want none", n)
	}
}

// TestHTTPBridgeDeadlineAnswer: a handler that answers its context's end
// (a middleware gave up on it while the client waits) is heard by the
// client, as compiled; the bridge used to take the end of the context for
// a client gone and answered an empty 200. Under http.TimeoutHandler both
// answer the timeout message. Neither is reported.
func TestHTTPBridgeDeadlineAnswer(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	cases := []httpcases.Case{{Name: "deadline", Handler: func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
			if r.URL.RawQuery == "quiet" {
				<-release // a handler that does not return by its deadline
				return
			}
			http.Error(w, "gave up: "+r.Context().Err().Error(), http.StatusServiceUnavailable)
		case <-time.After(20 * time.Second): // a hang detector
			io.WriteString(w, "not cancelled")
		}
	}}}
	be := newBridgeEnv(t, cases)
	var got [2][2]response
	for i, s := range []*httptest.Server{be.direct, be.bridged} {
		h := s.Config.Handler
		mux := http.NewServeMux()
		mux.Handle("/deadline/", http.StripPrefix("/deadline", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ctx, cancel := context.WithCancel(r.Context()) // a middleware that gives up
			defer cancel()
			time.AfterFunc(100*time.Millisecond, cancel)
			h.ServeHTTP(w, r.WithContext(ctx))
		})))
		mux.Handle("/timeout/", http.StripPrefix("/timeout", http.TimeoutHandler(h, 100*time.Millisecond, "timed out")))
		front := httptest.NewServer(mux)
		defer front.Close()
		got[i][0] = fetch(t, front.Client(), httpcases.Get(front.URL+"/deadline/h/0"))
		got[i][1] = fetch(t, front.Client(), httpcases.Get(front.URL+"/timeout/h/0?quiet"))
	}
	for k, name := range []string{"cancelled by a middleware", "TimeoutHandler"} {
		if !reflect.DeepEqual(got[1][k], got[0][k]) {
			t.Errorf("%s: bridged:\n%+v\ncompiled:\n%+v", name, got[1][k], got[0][k])
		}
	}
	if n := be.sink.count(); n != 0 {
		t.Errorf("%d failures reported, want none", n)
	}
}

// TestHTTPBridgeHijackRefused: a WebSocket upgrade reaches the plugin's
// handler, whose Hijack is refused with an error that says why (wrapping
// http.ErrNotSupported); the handler's answer reaches the client, not a
// hang or a 502, and nothing is reported.
func TestHTTPBridgeHijackRefused(t *testing.T) {
	cases := []httpcases.Case{{Name: "upgrade", Handler: func(w http.ResponseWriter, r *http.Request) {
		if _, ok := w.(http.Hijacker); !ok {
			http.Error(w, "not a Hijacker", http.StatusInternalServerError)
			return
		}
		_, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			return
		}
		status := http.StatusInternalServerError
		if errors.Is(err, http.ErrNotSupported) {
			status = http.StatusNotImplemented
		}
		http.Error(w, err.Error(), status)
	}}}
	be := newBridgeEnv(t, cases)
	req := httpcases.Get(be.bridged.URL + "/h/0")
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	r := fetch(t, be.bridged.Client(), req)
	if r.Status != http.StatusNotImplemented || !strings.Contains(r.Body, "Hijack is not bridged") {
		t.Errorf("upgrade: %+v, want 501 saying Hijack is not bridged", r)
	}
	if n := be.sink.count(); n != 0 {
		t.Errorf("%d failures reported, want none", n)
	}
}
