package baseline_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hotpatch-go/hotpatch/baseline"
)

// TestHTTPServerDrain: the drain answers a request in flight, and
// returns once the connection has closed.
func TestHTTPServerDrain(t *testing.T) {
	defer baseline.SetIdleGrace(time.Millisecond)() // the client's connection, idle after its response
	inHandler, release := make(chan struct{}), make(chan struct{})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(inHandler)
		<-release
		fmt.Fprint(w, "done")
	})}
	drain := baseline.HTTPServer(srv)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	res := make(chan string, 1)
	go func() {
		resp, err := http.Get("http://" + ln.Addr().String())
		if err != nil {
			res <- err.Error()
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		res <- string(b)
	}()
	<-inHandler
	ln.Close() // as Upgrader.Shutdown does before the hooks
	drained := make(chan error, 1)
	go func() { drained <- drain(context.Background()) }()
	close(release)
	if got := <-res; got != "done" {
		t.Errorf("request in flight: %q, want done", got)
	}
	if err := <-drained; err != nil {
		t.Errorf("drain: %v", err)
	}
	// Serve sees the closed listener, or the Shutdown if that came first.
	if err := <-served; !errors.Is(err, net.ErrClosed) && !errors.Is(err, http.ErrServerClosed) {
		t.Errorf("Serve: %v, want a closed listener or a closed server", err)
	}
}

// TestHTTPServerDrainDeadline: a request that outlives the deadline is
// cut off and the drain says so.
func TestHTTPServerDrainDeadline(t *testing.T) {
	inHandler := make(chan struct{})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(inHandler)
		<-r.Context().Done()
	})}
	drain := baseline.HTTPServer(srv)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	go func() {
		if resp, err := http.Get("http://" + ln.Addr().String()); err == nil {
			resp.Body.Close()
		}
	}()
	<-inHandler
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := drain(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("drain past its deadline: %v, want context.Canceled", err)
	}
}

func TestGraceful(t *testing.T) {
	if err := baseline.Graceful(func() {}, func() { t.Error("forced") })(context.Background()); err != nil {
		t.Errorf("graceful stop: %v", err)
	}
	stopped := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := baseline.Graceful(func() { <-stopped }, func() { close(stopped) })(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("forced stop: %v, want context.Canceled", err)
	}
}

func TestCheckHandler(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ok", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("GET /bad", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "db down", 503) })
	ctx := context.Background()
	if err := baseline.CheckHandler(mux, "/ok")(ctx); err != nil {
		t.Errorf("/ok: %v", err)
	}
	err := baseline.CheckHandler(mux, "/bad")(ctx)
	if err == nil || !strings.Contains(err.Error(), "status 503") || !strings.Contains(err.Error(), "db down") {
		t.Errorf("/bad: %v, want the status and the body", err)
	}
}

func TestRestartErrorMessage(t *testing.T) {
	e := &baseline.RestartError{Binary: "/srv/app", Err: errors.New("child pid=7 exited: exit status 3"), Stderr: "panic: boom\n"}
	want := "baseline: restart with /srv/app failed, the old process keeps serving: child pid=7 exited: exit status 3\nits standard error ended with:\npanic: boom"
	if e.Error() != want {
		t.Errorf("%q\nwant %q", e.Error(), want)
	}
}
