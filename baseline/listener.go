package baseline

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"
)

// acceptGrace bounds the wait of [stopAccepting] for an accept loop to
// come back to Accept after the last connection it got; a variable for
// the tests.
var acceptGrace = time.Second

// listener follows the connections its Accept returned until their
// caller comes back to Accept: a server's accept loop registers a
// connection (http.Server marks it new) before it accepts the next one.
// Once the socket is closed and every caller has come back, every
// connection it accepted is known to its server, and a drain that waits
// for the server's connections misses none.
//
// The socket is closed by the process's side (the hand-over, Shutdown)
// before the server's own graceful stop runs in a drain hook. Accept
// then waits, and fails only once the server closed the listener itself
// (http.Server.Shutdown, grpc.Server.GracefulStop do) or the drain hooks
// have returned: a server's accept loop does not end early with an error
// it would take for a failed listener (http.Server.Serve would return
// that error rather than http.ErrServerClosed, grpc.Server.Serve a non-nil
// error, and the usual `log.Fatal(srv.Serve(ln))` would end the process
// in the middle of its drain).
type listener struct {
	net.Listener

	mu       sync.Mutex    // guards the fields below
	inAccept int           // Accept calls in the socket's Accept
	pending  int           // connections returned whose caller has not called Accept again
	stopped  bool          // the socket is closed: by stop or by Close
	closed   bool          // Close was called (by the server)
	quiet    chan struct{} // closed once stopped, inAccept == 0 and pending == 0
	done     chan struct{} // closed by Close or release: Accept fails from then on
}

func newListener(ln net.Listener) *listener {
	return &listener{Listener: ln, quiet: make(chan struct{}), done: make(chan struct{})}
}

// stop closes the socket in this process: at the hand-over (it lives on
// in the new process, which accepts every connection from then on) or at
// Shutdown. An Accept under way, or a later one, waits for Close or
// release and then fails as after Close.
func (l *listener) stop() error {
	l.mu.Lock()
	if l.stopped {
		l.mu.Unlock()
		return nil
	}
	l.stopped = true
	l.mu.Unlock()
	err := l.Listener.Close()
	l.mu.Lock()
	l.check()
	l.mu.Unlock()
	return err
}

// release lets the Accept calls that wait since stop fail: the drain
// hooks have returned.
func (l *listener) release() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closeDone()
}

func (l *listener) Accept() (net.Conn, error) {
	l.mu.Lock()
	if l.pending > 0 {
		l.pending--
	}
	l.inAccept++
	l.mu.Unlock()
	c, err := l.Listener.Accept()
	l.mu.Lock()
	l.inAccept--
	if err == nil {
		l.pending++
	}
	stopped := l.stopped
	l.check()
	l.mu.Unlock()
	if err != nil && stopped {
		<-l.done
	}
	return c, err
}

// Close closes the listener for its server: Accept fails from now on.
// The first Close after stop returns nil, as the server's first Close.
func (l *listener) Close() error {
	l.mu.Lock()
	wasStopped, wasClosed := l.stopped, l.closed
	l.stopped, l.closed = true, true
	l.mu.Unlock()
	err := l.Listener.Close()
	if wasStopped && !wasClosed {
		err = nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closeDone()
	l.check()
	return err
}

// closeDone closes done once; the caller holds mu.
func (l *listener) closeDone() {
	select {
	case <-l.done:
	default:
		close(l.done)
	}
}

// check closes quiet when the listener is done handing connections out;
// the caller holds mu.
func (l *listener) check() {
	if l.stopped && l.inAccept == 0 && l.pending == 0 {
		select {
		case <-l.quiet:
		default:
			close(l.quiet)
		}
	}
}

// stopAccepting closes the sockets and waits until their accept loops
// have registered every connection they accepted, so that a drain hook
// that waits for its server's connections misses none. An Accept under
// way returns at once; a loop that got a connection and has not come
// back within acceptGrace is taken to have registered it: it is a wrapper
// that waits for a free slot before it calls Accept again
// (netutil.LimitListener, full of kept-alive connections that only the
// drain hooks will close), or a server that serves one connection at a
// time. Waiting for it longer would hold the hooks up until ctx ends,
// and they would then cut every connection.
func stopAccepting(ctx context.Context, listeners []*listener) []error {
	var errs []error
	for _, ln := range listeners {
		if err := ln.stop(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	t := time.NewTimer(acceptGrace)
	defer t.Stop()
	for _, ln := range listeners {
		select {
		case <-ln.quiet:
		case <-t.C:
			return errs
		case <-ctx.Done():
			return errs
		}
	}
	return errs
}
