package process

import (
	"context"
	"fmt"
	"net"
	"sync"
	"time"
)

// callConn is one call channel connection on the host's side. Callers
// write request frames under a write lock and wait on their own pendingCall;
// one reader goroutine per connection hands each result to its caller. When
// the connection breaks (the plugin exited), every pending call fails at
// once.
type callConn struct {
	c net.Conn

	wmu sync.Mutex // serializes writes to c

	mu      sync.Mutex // guards next, pending, err
	next    uint64
	pending map[uint64]*pendingCall
	err     error // set once the connection is broken

	done chan struct{} // closed when the reader has exited
	pool sync.Pool     // of *pendingCall
}

// pendingCall is one call waiting for its result. It is reused after the
// result has been consumed.
type pendingCall struct {
	ready   chan struct{} // receives one value when the fields below are set
	req     []byte        // the request frame, reused
	status  byte
	payload []byte // the result body after the status byte, reused
	err     error  // the connection broke before the result came
}

func newCallConn(c net.Conn) *callConn {
	cc := &callConn{c: c, pending: make(map[uint64]*pendingCall), done: make(chan struct{})}
	cc.pool.New = func() any { return &pendingCall{ready: make(chan struct{}, 1)} }
	go cc.read()
	return cc
}

func (cc *callConn) get() *pendingCall {
	pc := cc.pool.Get().(*pendingCall)
	pc.err = nil
	pc.status = 0
	return pc
}

func (cc *callConn) put(pc *pendingCall) {
	if cap(pc.req) > 64<<10 {
		pc.req = nil
	}
	if cap(pc.payload) > 64<<10 {
		pc.payload = nil
	}
	cc.pool.Put(pc)
}

// roundTrip sends the request frame in pc.req (its id is filled in here) and
// waits for the result, for ctx to end, or for the connection to break. With
// a nil error, pc.status and pc.payload hold the result.
func (cc *callConn) roundTrip(ctx context.Context, pc *pendingCall) error {
	cc.mu.Lock()
	if cc.err != nil {
		err := cc.err
		cc.mu.Unlock()
		return err
	}
	cc.next++
	id := cc.next
	cc.pending[id] = pc
	cc.mu.Unlock()

	setFrameID(pc.req, id)
	cc.wmu.Lock()
	_, err := cc.c.Write(pc.req)
	cc.wmu.Unlock()
	if err != nil {
		cc.c.Close() // the reader fails every pending call, this one too
		<-pc.ready
		return pc.err
	}

	var done <-chan struct{}
	if ctx != nil {
		done = ctx.Done()
	}
	select {
	case <-pc.ready:
		return pc.err
	case <-done:
	}
	cc.mu.Lock()
	_, waiting := cc.pending[id]
	delete(cc.pending, id)
	cc.mu.Unlock()
	if !waiting {
		// The result (or the connection's failure) raced the context; it is
		// in pc already.
		<-pc.ready
		return pc.err
	}
	cc.cancel(id)
	return ctx.Err()
}

// cancel tells the plugin that the host stopped waiting for call id.
func (cc *callConn) cancel(id uint64) {
	frame := beginFrame(make([]byte, 0, frameHeader), frameCancel, id)
	_ = endFrame(frame)
	cc.wmu.Lock()
	cc.c.SetWriteDeadline(time.Now().Add(time.Second))
	_, err := cc.c.Write(frame)
	cc.c.SetWriteDeadline(time.Time{})
	cc.wmu.Unlock()
	if err != nil {
		cc.c.Close()
	}
}

// read hands results to callers until the connection breaks.
func (cc *callConn) read() {
	defer close(cc.done)
	fr := newFrameReader(cc.c)
	var err error
	for {
		var typ byte
		var id uint64
		var n int
		typ, id, n, err = fr.next()
		if err != nil {
			break
		}
		if typ != frameResult || n < 1 {
			err = fmt.Errorf("%w: unexpected frame type %d", ErrProtocol, typ)
			break
		}
		cc.mu.Lock()
		pc := cc.pending[id]
		delete(cc.pending, id)
		cc.mu.Unlock()
		if pc == nil { // the caller gave up; skip the result
			if _, err = fr.r.Discard(n); err != nil {
				break
			}
			continue
		}
		var body []byte
		body, err = fr.body(pc.payload[:0], n)
		if err != nil {
			pc.err = fmt.Errorf("%w: %w", ErrProcessExited, err)
			pc.ready <- struct{}{}
			break
		}
		pc.status, pc.payload = body[0], body[1:]
		pc.ready <- struct{}{}
	}
	cc.c.Close()
	cc.fail(fmt.Errorf("%w: %w", ErrProcessExited, err))
}

// fail breaks the connection for every pending and future call.
func (cc *callConn) fail(err error) {
	cc.mu.Lock()
	if cc.err == nil {
		cc.err = err
	}
	for id, pc := range cc.pending {
		pc.err = cc.err
		pc.ready <- struct{}{}
		delete(cc.pending, id)
	}
	cc.mu.Unlock()
}

// close breaks the connection and waits for its reader.
func (cc *callConn) close(err error) {
	cc.mu.Lock()
	if cc.err == nil {
		cc.err = err
	}
	cc.mu.Unlock()
	cc.c.Close()
	<-cc.done
}
