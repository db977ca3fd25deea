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
// Once the listener is closed and every caller has come back, every
// connection it accepted is known to its server, and a drain that waits
// for the server's connections misses none.
type listener struct {
	net.Listener

	mu         sync.Mutex // guards the fields below
	inAccept   int        // Accept calls under way
	pending    int        // connections returned whose caller has not called Accept again
	closed     bool
	handedOver bool          // the socket is the new process's: this one no longer accepts
	quiet      chan struct{} // closed once closed, inAccept == 0 and pending == 0
	done       chan struct{} // closed by Close
}

func newListener(ln net.Listener) *listener {
	return &listener{Listener: ln, quiet: make(chan struct{}), done: make(chan struct{})}
}

// handOver stops this process accepting once a new process has taken
// the socket over, so that every connection from then on goes to the new
// process, before this one's drain even begins. The socket stays open in
// the new process. An Accept under way, or a later one, waits for Close
// and then fails as after Close: a server's accept loop does not end on
// its own with an error it would take for a failed listener (and leave
// its connections undrained).
func (l *listener) handOver() {
	l.mu.Lock()
	if l.closed || l.handedOver {
		l.mu.Unlock()
		return
	}
	l.handedOver = true
	l.mu.Unlock()
	_ = l.Listener.Close()
}

func (l *listener) Accept() (net.Conn, error) {
	l.mu.Lock()
	if l.pending > 0 {
		l.pending--
	}
	l.inAccept++
	l.mu.Unlock()
	c, err := l.Listener.Accept()
	if err != nil {
		l.mu.Lock()
		over := l.handedOver
		l.mu.Unlock()
		if over {
			<-l.done
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.inAccept--
	if err == nil {
		l.pending++
	}
	l.check()
	return c, err
}

func (l *listener) Close() error {
	err := l.Listener.Close()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.handedOver && !l.closed {
		err = nil // closed at the hand-over: this is the first Close of the caller's
	}
	if !l.closed {
		l.closed = true
		close(l.done)
	}
	l.check()
	return err
}

// check closes quiet when the listener is done handing connections out;
// the caller holds mu.
func (l *listener) check() {
	if l.closed && l.inAccept == 0 && l.pending == 0 {
		select {
		case <-l.quiet:
		default:
			close(l.quiet)
		}
	}
}

// stopAccepting closes the listeners and waits until their accept loops
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
		if err := ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
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
