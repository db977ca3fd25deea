package process

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"
)

// callConn is one call channel connection on the host's side.
//
// There is no reader goroutine: a caller that has sent its request and
// finds nobody reading becomes the reader ("leader") and reads frames until
// its own result arrives, handing other callers' results to them on the
// way; then it passes the reading on to a caller still waiting, if any. A
// lone caller so reads its own answer, with no goroutine switch on the way
// back — this is what keeps a call within a small factor of a raw socket
// round trip. A leader whose context ends is woken by a read deadline; the
// frame reader is resumable, so the next leader goes on where it stopped.
//
// When the connection breaks (the plugin exited), every pending call fails
// at once.
type callConn struct {
	c  net.Conn
	fr *frameReader // used by the leader only

	wmu sync.Mutex // serializes writes to c

	mu      sync.Mutex // guards the fields below and every pendingCall's state
	next    uint64
	pending map[uint64]*pendingCall
	reading bool  // a leader holds the reading
	err     error // set once the connection is broken

	dlMu  sync.Mutex // guards epoch and the read deadline
	epoch uint64     // counts leaderships, so that a late interrupt is ignored

	scratch []byte // the leader's frame body buffer
	pool    sync.Pool
}

// pendingCall is one call in flight. It is reused after the call returns.
type pendingCall struct {
	wake chan struct{} // a hint: re-check done and lead
	req  []byte        // the request frame, reused
	id   uint64

	// Guarded by callConn.mu:
	done    bool   // the result (or err) is in
	lead    bool   // the reading was handed to this call
	status  byte   // the result's status
	payload []byte // the result's body after the status byte, reused
	err     error  // the connection broke before the result came
}

func newCallConn(c net.Conn) *callConn {
	cc := &callConn{c: c, fr: newFrameReader(c), pending: make(map[uint64]*pendingCall)}
	cc.pool.New = func() any { return &pendingCall{wake: make(chan struct{}, 1)} }
	return cc
}

func (cc *callConn) get() *pendingCall {
	return cc.pool.Get().(*pendingCall)
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

func (pc *pendingCall) signal() {
	select {
	case pc.wake <- struct{}{}:
	default:
	}
}

// roundTrip sends the request frame in pc.req (its id is filled in here) and
// waits for the result, for ctx to end, or for the connection to break.
// With a nil error, pc.status and pc.payload hold the result.
func (cc *callConn) roundTrip(ctx context.Context, pc *pendingCall) error {
	cc.mu.Lock()
	if cc.err != nil {
		err := cc.err
		cc.mu.Unlock()
		return err
	}
	cc.next++
	pc.id = cc.next
	pc.done, pc.lead, pc.err = false, false, nil
	cc.pending[pc.id] = pc
	cc.mu.Unlock()

	setFrameID(pc.req, pc.id)
	cc.wmu.Lock()
	_, err := cc.c.Write(pc.req)
	cc.wmu.Unlock()
	if err != nil {
		cc.broken(fmt.Errorf("%w: %w", ErrProcessExited, err))
	}

	var done <-chan struct{}
	if ctx != nil {
		done = ctx.Done()
	}
	for {
		cc.mu.Lock()
		switch {
		case pc.done:
			cc.mu.Unlock()
			return pc.err
		case pc.lead || !cc.reading:
			pc.lead = false
			cc.reading = true
			cc.mu.Unlock()
			return cc.lead(ctx, pc)
		}
		cc.mu.Unlock()
		select {
		case <-pc.wake:
		case <-done:
			cc.mu.Lock()
			if pc.done {
				cc.mu.Unlock()
				return pc.err
			}
			delete(cc.pending, pc.id)
			if pc.lead { // the reading was just handed to us: pass it on
				pc.lead = false
				cc.handOffLocked()
			}
			cc.mu.Unlock()
			cc.cancel(pc.id)
			return ctx.Err()
		}
	}
}

// lead reads frames as the leader until pc's result arrives.
func (cc *callConn) lead(ctx context.Context, pc *pendingCall) error {
	var stop func() bool
	if ctx != nil && ctx.Done() != nil {
		cc.dlMu.Lock()
		cc.epoch++
		epoch := cc.epoch
		cc.dlMu.Unlock()
		stop = context.AfterFunc(ctx, func() {
			cc.dlMu.Lock()
			if cc.epoch == epoch {
				cc.c.SetReadDeadline(time.Unix(1, 0)) // wakes the leader's read
			}
			cc.dlMu.Unlock()
		})
	}
	endLead := func() {
		if stop != nil && !stop() {
			// The interrupt ran or runs now: make sure it is over, and undo it.
			cc.dlMu.Lock()
			cc.epoch++
			cc.c.SetReadDeadline(time.Time{})
			cc.dlMu.Unlock()
		}
	}
	for {
		typ, id, body, err := cc.fr.read(cc.scratch[:0])
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) && ctx != nil && ctx.Err() != nil {
				endLead()
				cc.mu.Lock()
				if pc.done { // cannot happen: only the leader delivers
					cc.mu.Unlock()
					return pc.err
				}
				delete(cc.pending, pc.id)
				cc.handOffLocked()
				cc.mu.Unlock()
				cc.cancel(pc.id)
				return ctx.Err()
			}
			if errors.Is(err, os.ErrDeadlineExceeded) { // a stale interrupt
				cc.dlMu.Lock()
				cc.c.SetReadDeadline(time.Time{})
				cc.dlMu.Unlock()
				continue
			}
			endLead()
			cc.broken(fmt.Errorf("%w: %w", ErrProcessExited, err))
			cc.mu.Lock()
			defer cc.mu.Unlock()
			return pc.err
		}
		if cap(body) <= 64<<10 { // keep a small buffer for the next frame
			cc.scratch = body
		} else {
			cc.scratch = nil
		}
		if typ != frameResult || len(body) < 1 {
			endLead()
			cc.broken(fmt.Errorf("%w: unexpected frame type %d", ErrProtocol, typ))
			cc.mu.Lock()
			defer cc.mu.Unlock()
			return pc.err
		}
		cc.mu.Lock()
		target := cc.pending[id]
		if target != nil {
			delete(cc.pending, id)
			target.status = body[0]
			target.payload = append(target.payload[:0], body[1:]...)
			target.done = true
		}
		if target == pc {
			cc.handOffLocked()
			cc.mu.Unlock()
			endLead()
			return nil
		}
		cc.mu.Unlock()
		if target != nil {
			target.signal()
		}
	}
}

// handOffLocked passes the reading to a waiting call, or lets it go if
// none waits. The caller holds mu and the reading.
func (cc *callConn) handOffLocked() {
	for _, w := range cc.pending {
		w.lead = true
		w.signal()
		return
	}
	cc.reading = false
}

// broken fails every pending and future call with err.
func (cc *callConn) broken(err error) {
	cc.c.Close()
	cc.mu.Lock()
	if cc.err == nil {
		cc.err = err
	}
	for id, pc := range cc.pending {
		pc.err = cc.err
		pc.done = true
		delete(cc.pending, id)
		pc.signal()
	}
	cc.reading = false
	cc.mu.Unlock()
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
		cc.broken(fmt.Errorf("%w: %w", ErrProcessExited, err))
	}
}

// close breaks the connection: calls in flight fail with err.
func (cc *callConn) close(err error) { cc.broken(err) }
