package baseline

import (
	"context"
	"errors"
	"net"
	"net/http"
	"testing"
	"time"
)

// TestServeEndsAsAfterItsOwnStop: the sockets are closed (at the
// hand-over, then at Shutdown) before the server's graceful stop runs in
// a drain hook. http.Server.Serve must still end with
// http.ErrServerClosed, as after its own Shutdown: the usual
// `if err := srv.Serve(ln); err != http.ErrServerClosed { log.Fatal(err) }`
// ended the old process in the middle of its drain, cutting the requests
// in flight, when Serve returned "use of closed network connection".
func TestServeEndsAsAfterItsOwnStop(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := newListener(inner)
	srv := &http.Server{Handler: http.NotFoundHandler()}
	drain := HTTPServer(srv)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	if resp, err := http.Get("http://" + inner.Addr().String()); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // hang detector
	defer cancel()
	_ = ln.stop() // the hand-over
	if errs := stopAccepting(ctx, []*listener{ln}); len(errs) > 0 {
		t.Fatalf("stopAccepting: %v", errs)
	}
	if c, err := net.Dial("tcp", inner.Addr().String()); err == nil {
		c.Close()
		t.Error("the socket still accepts after stopAccepting")
	}
	if err := drain(ctx); err != nil {
		t.Errorf("drain: %v", err)
	}
	ln.release()
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		t.Errorf("Serve returned %v, want http.ErrServerClosed", err)
	}
	if err := ln.Close(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("a second Close: %v, want net.ErrClosed", err)
	}
}

// TestAcceptLoopOfItsOwnEnds: a server of the application's own whose
// drain hook does not close the listener has its accept loop end once
// the hooks have returned, with net.ErrClosed.
func TestAcceptLoopOfItsOwnEnds(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := newListener(inner)
	loop := make(chan error, 1)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				loop <- err
				return
			}
			c.Close()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // hang detector
	defer cancel()
	stopAccepting(ctx, []*listener{ln})
	ln.release()
	select {
	case err := <-loop:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("Accept after release: %v, want net.ErrClosed", err)
		}
	case <-ctx.Done():
		t.Fatal("the accept loop still waits after release")
	}
	if err := ln.Close(); err != nil {
		t.Errorf("the server's first Close after the stop: %v, want nil", err)
	}
}
