package baseline

import (
	"net"
	"sync"
)

// listener follows the connections its Accept returned until their
// caller comes back to Accept: a server's accept loop registers a
// connection (http.Server marks it new) before it accepts the next one.
// Once the listener is closed and every caller has come back, every
// connection it accepted is known to its server, and a drain that waits
// for the server's connections misses none.
type listener struct {
	net.Listener

	mu       sync.Mutex // guards the fields below
	inAccept int        // Accept calls under way
	pending  int        // connections returned whose caller has not called Accept again
	closed   bool
	quiet    chan struct{} // closed once closed, inAccept == 0 and pending == 0
}

func newListener(ln net.Listener) *listener {
	return &listener{Listener: ln, quiet: make(chan struct{})}
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
	l.closed = true
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
