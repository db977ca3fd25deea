package baseline

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"golang.org/x/net/netutil"
)

// TestStopAcceptingLimitListener: an application that wraps the listener
// in netutil.LimitListener, every slot of which a client holds with a
// kept-alive connection, has its accept loop waiting for a free slot, not
// back at Accept. Its connections are registered all the same, and the
// drain must begin: it tells the client "Connection: close" and ends once
// the client has gone. The wait for the accept loop held the drain hooks
// up until the drain's deadline (30 s), which then cut every connection.
func TestStopAcceptingLimitListener(t *testing.T) {
	defer func(g time.Duration) { acceptGrace = g }(acceptGrace)
	acceptGrace = 10 * time.Millisecond
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := newListener(inner)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	})}
	drain := HTTPServer(srv)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(netutil.LimitListener(ln, 1)) }()

	c, err := net.Dial("tcp", inner.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const hang = 20 * time.Second // below the drain's deadline: only a hang detector
	c.SetDeadline(time.Now().Add(hang))
	// The client sends request after request on its connection until it
	// is told to close it, as wrk or a proxy's pool does.
	closed := make(chan int, 1)
	answered := make(chan struct{})
	go func() {
		r := bufio.NewReader(c)
		for n := 1; ; n++ {
			if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
				closed <- -n
				return
			}
			resp, err := http.ReadResponse(r, nil)
			if err != nil {
				closed <- -n
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if n == 1 {
				close(answered)
			}
			if resp.Close {
				closed <- n
				return
			}
		}
	}()
	<-answered // the connection holds the only slot

	ctx, cancel := context.WithTimeout(context.Background(), hang)
	defer cancel()
	if errs := stopAccepting(ctx, []*listener{ln}); len(errs) > 0 {
		t.Fatalf("stopAccepting: %v", errs)
	}
	if ctx.Err() != nil {
		t.Fatal("stopAccepting waited for the accept loop until the drain's deadline")
	}
	if err := drain(ctx); err != nil {
		t.Errorf("drain: %v", err)
	}
	if n := <-closed; n < 0 {
		t.Errorf("request %d on the kept-alive connection failed: the drain cut the connection instead of closing it after a response", -n)
	}
	<-served
}
