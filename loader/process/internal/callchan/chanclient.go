package callchan

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Conn is one call channel connection on the host's side. It holds a
// link (one socket) at a time: when the link breaks on a protocol error,
// the calls on it fail and the next call dials a new one.
//
// There is no reader goroutine: a caller that has sent its request and
// finds nobody reading becomes the reader ("leader") and reads frames until
// one for its own call arrives, handing other callers' frames to them on
// the way; then it passes the reading on to a caller still waiting, if any.
// A lone caller so reads its own answer, with no goroutine switch on the
// way back — this is what keeps a call within a small factor of a raw
// socket round trip. A leader whose context ends is woken by a read
// deadline; the frame reader is resumable, so the next leader goes on where
// it stopped.
//
// Writes take the link's write lock, which a caller waits for only until
// its context ends, and carry a write deadline: a plugin that stops reading
// holds up a caller at most until its deadline, and breaks the link after
// writeStall. Cancel frames never wait for the lock: they are queued and
// written by whoever holds it when it is released.
type Conn struct {
	addr string     // the socket, to redial; "" when unknown
	mem  *MemBudget // bounds result frames held across calls
	pool sync.Pool

	dialMu sync.Mutex // one redial at a time

	mu     sync.Mutex // guards cur, closed, the links' call state and every pendingCall's state
	cur    *link
	closed error // set by close: no more redials
}

// link is one socket of a Conn and the calls on it.
type link struct {
	c       net.Conn
	fr      *frameReader // used by the leader only
	scratch []byte       // the leader's frame body buffer

	wlock    chan struct{} // holds a token while a goroutine writes to c
	ncancels atomic.Int32  // len(cancels), read without mu
	dead     chan struct{} // closed when the link breaks

	// Guarded by Conn.mu:
	next    uint64
	pending map[uint64]*pendingCall
	reading bool     // a leader holds the reading
	err     error    // set once the link is broken
	cancels []uint64 // cancel frames waiting for the write lock

	dlMu  sync.Mutex // guards epoch and the read deadline
	epoch uint64     // counts leaderships, so that a late interrupt is ignored
}

// pendingCall is one call in flight. It is reused after the call returns.
type pendingCall struct {
	wake   chan struct{} // a hint: re-check done and lead
	req    []byte        // the request frame, reused
	id     uint64
	link   *link
	stream bool // an HTTP call: its frames queue up until its result

	// Guarded by Conn.mu:
	done    bool   // the result (or err) is in
	lead    bool   // the reading was handed to this call
	waiting bool   // blocked in wait: may be handed the reading
	status  byte   // the result's status
	payload []byte // the result's body after the status byte
	frame   []byte // the whole body payload is in, kept for reuse
	charge  int    // memory counted for payload
	err     error  // the link broke before the result came
	queue   []streamFrame
	held    int // stream: bytes of queued frames the memory budget does not count
	credit  int // stream: response body bytes the plugin may still send

	enc encoder // the caller's, reused
	dec decoder // the caller's, reused
}

// streamFrame is a frame queued for a stream call.
type streamFrame struct {
	typ    byte
	body   []byte
	charge int
}

// maxQueued bounds the frames queued for one stream call.
const maxQueued = 1024

// maxHeld bounds the bytes of the frames queued for one stream call that
// the memory budget does not count (those under minCharge): the body
// within its window, and heads. Flush and window frames carry next to
// nothing.
const maxHeld = respWindow + 1<<20

// cancelWait bounds the write of queued cancel frames: a plugin that does
// not take them at once is not reading, and a caller whose context ended
// must not wait for it.
const cancelWait = 100 * time.Millisecond

// DroppedError is the error of a call that failed because its link broke
// on another call's frame: the break is reported once, by the call that
// met it, not by every call it took down.
type DroppedError struct{ err error }

func (e *DroppedError) Error() string { return "call connection dropped: " + e.err.Error() }
func (e *DroppedError) Unwrap() error { return e.err }

// NewConn returns the host's side of a call connection dialled as c,
// with a memory budget of its own for result frames.
func NewConn(c net.Conn) *Conn {
	return NewConnMem(c, NewMemBudget(DefaultResultMemory))
}

// NewConnMem is NewConn with the result frames counted against mem,
// which the connections of a loader share.
func NewConnMem(c net.Conn, mem *MemBudget) *Conn {
	cc := &Conn{mem: mem, cur: newLink(c)}
	if ua, ok := c.RemoteAddr().(*net.UnixAddr); ok && ua != nil && ua.Name != "" && ua.Name != "@" {
		cc.addr = ua.Name
	}
	cc.pool.New = func() any { return &pendingCall{wake: make(chan struct{}, 1)} }
	return cc
}

func newLink(c net.Conn) *link {
	return &link{
		c:       c,
		fr:      newFrameReader(c),
		wlock:   make(chan struct{}, 1),
		dead:    make(chan struct{}),
		pending: make(map[uint64]*pendingCall),
	}
}

func (cc *Conn) get() *pendingCall {
	return cc.pool.Get().(*pendingCall)
}

func (cc *Conn) put(pc *pendingCall) {
	cc.mem.release(pc.charge)
	pc.charge = 0
	if cap(pc.req) > 64<<10 {
		pc.req = nil
	}
	if cap(pc.frame) > 64<<10 {
		pc.frame = nil
	}
	pc.payload = nil
	pc.link, pc.stream, pc.queue, pc.held = nil, false, nil, 0
	pc.enc, pc.dec = encoder{}, decoder{}
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
func (cc *Conn) roundTrip(ctx context.Context, pc *pendingCall) error {
	if err := cc.send(ctx, pc); err != nil {
		return err
	}
	return cc.wait(ctx, pc)
}

// send registers pc on the current link (redialling a broken one) and
// writes its request.
func (cc *Conn) send(ctx context.Context, pc *pendingCall) error {
	l, err := cc.lockLink(ctx)
	if err != nil {
		return err
	}
	l.next++
	pc.id = l.next
	pc.link = l
	pc.done, pc.lead, pc.waiting, pc.err = false, false, false, nil
	pc.credit = respWindow
	l.pending[pc.id] = pc
	cc.mu.Unlock()

	setFrameID(pc.req, pc.id)
	if err := cc.write(ctx, l, pc.req); err != nil {
		cc.mu.Lock()
		if l.pending[pc.id] == pc {
			delete(l.pending, pc.id)
		}
		if pc.lead {
			pc.lead = false
			cc.handOffLocked(l)
		}
		cc.mu.Unlock()
		return err
	}
	return nil
}

// lockLink returns the current link with cc.mu held, dialling a new one
// if it broke.
func (cc *Conn) lockLink(ctx context.Context) (*link, error) {
	cc.mu.Lock()
	for {
		l := cc.cur
		if l.err == nil {
			return l, nil
		}
		if cc.closed != nil {
			err := cc.closed
			cc.mu.Unlock()
			return nil, err
		}
		cc.mu.Unlock()
		if err := cc.redial(ctx, l); err != nil {
			return nil, err
		}
		cc.mu.Lock()
	}
}

// redial replaces the broken link old by a new connection.
func (cc *Conn) redial(ctx context.Context, old *link) error {
	cc.dialMu.Lock()
	defer cc.dialMu.Unlock()
	cc.mu.Lock()
	if cc.cur != old || cc.closed != nil {
		cc.mu.Unlock()
		return nil // done by another caller, or closed: look again
	}
	cause := old.err
	cc.mu.Unlock()
	if cc.addr == "" {
		return cause
	}
	if ctx == nil {
		ctx = context.Background()
	}
	dctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(dctx, "unix", cc.addr)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%w: call connection lost (%v); redial: %w", ErrProcessExited, cause, err)
	}
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.closed != nil {
		c.Close()
		return nil
	}
	cc.cur = newLink(c)
	return nil
}

// wait waits until pc's result is in (returning its error) or, for a
// stream call, until a frame is queued for it (returning nil), leading the
// reading when nobody else does. When ctx ends first, the call is
// abandoned and ctx's error returned.
func (cc *Conn) wait(ctx context.Context, pc *pendingCall) error {
	l := pc.link
	var done <-chan struct{}
	if ctx != nil {
		done = ctx.Done()
	}
	for {
		cc.mu.Lock()
		switch {
		case len(pc.queue) > 0:
			pc.waiting = false
			cc.mu.Unlock()
			return nil
		case pc.done:
			pc.waiting = false
			cc.mu.Unlock()
			return pc.err
		case pc.lead || !l.reading:
			pc.lead, pc.waiting = false, false
			l.reading = true
			cc.mu.Unlock()
			if err := cc.lead(ctx, l, pc); err != nil {
				return err
			}
			continue
		}
		pc.waiting = true
		cc.mu.Unlock()
		select {
		case <-pc.wake:
		case <-done:
			cc.mu.Lock()
			pc.waiting = false
			if pc.done || len(pc.queue) > 0 {
				cc.mu.Unlock()
				continue
			}
			cc.mu.Unlock()
			cc.abandon(pc)
			return ctx.Err()
		}
	}
}

// abandon ends a call that the host stops waiting for: it leaves the
// link's pending calls (passing on the reading if it was handed to it), its
// queued frames are dropped, and the plugin is told to cancel it.
func (cc *Conn) abandon(pc *pendingCall) {
	l := pc.link
	cc.mu.Lock()
	live := l.pending[pc.id] == pc
	if live {
		delete(l.pending, pc.id)
	}
	if pc.lead {
		pc.lead = false
		cc.handOffLocked(l)
	}
	q := pc.queue
	pc.queue, pc.held = nil, 0
	cc.mu.Unlock()
	for _, f := range q {
		cc.mem.release(f.charge)
	}
	if live {
		cc.cancel(l, pc.id)
	}
}

// lead reads frames as the leader until one for pc arrives.
func (cc *Conn) lead(ctx context.Context, l *link, pc *pendingCall) error {
	var stop func() bool
	if ctx != nil && ctx.Done() != nil {
		l.dlMu.Lock()
		l.epoch++
		epoch := l.epoch
		l.dlMu.Unlock()
		stop = context.AfterFunc(ctx, func() {
			l.dlMu.Lock()
			if l.epoch == epoch {
				l.c.SetReadDeadline(time.Unix(1, 0)) // wakes the leader's read
			}
			l.dlMu.Unlock()
		})
	}
	endLead := func() {
		if stop != nil && !stop() {
			// The interrupt ran or runs now: make sure it is over, and undo it.
			l.dlMu.Lock()
			l.epoch++
			l.c.SetReadDeadline(time.Time{})
			l.dlMu.Unlock()
		}
	}
	for {
		typ, id, body, charge, err := l.fr.read(l.scratch[:0], ctx, cc.mem)
		if err != nil {
			if ctx != nil && ctx.Err() != nil && (errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, ctx.Err())) {
				endLead()
				cc.mu.Lock()
				cc.handOffLocked(l)
				cc.mu.Unlock()
				cc.abandon(pc)
				return ctx.Err()
			}
			if errors.Is(err, os.ErrDeadlineExceeded) { // a stale interrupt
				l.dlMu.Lock()
				l.c.SetReadDeadline(time.Time{})
				l.dlMu.Unlock()
				continue
			}
			endLead()
			cc.mu.Lock()
			lerr := l.err
			cc.mu.Unlock()
			if lerr != nil {
				// The host broke the link (another call's stuck write, or
				// close): this read only saw the socket closed. The call
				// fails as a victim, or by its own context if that ended.
				cc.broken(l, lerr, nil)
				cc.mu.Lock()
				pc.waiting = false
				perr := pc.err
				cc.mu.Unlock()
				if ctx != nil && ctx.Err() != nil {
					return ctx.Err()
				}
				if d, ok := ctxDeadline(ctx); ok && !time.Now().Before(d) {
					return context.DeadlineExceeded // its timer has not fired yet
				}
				if perr == nil {
					perr = &DroppedError{lerr}
				}
				return perr
			}
			if !errors.Is(err, ErrProtocol) {
				err = fmt.Errorf("%w: %w", ErrProcessExited, err)
			}
			return cc.breakLead(l, pc, err)
		}
		cc.mu.Lock()
		target := l.pending[id]
		var perr error
		switch {
		case target == nil && (id == 0 || id > l.next):
			perr = fmt.Errorf("%w: frame type %d for call %d, never made on this connection", ErrProtocol, typ, id)
		case target == nil: // a call that gave up
			cc.mem.release(charge)
			charge = 0
		case !target.stream:
			if typ != frameResult || len(body) < 1 {
				perr = fmt.Errorf("%w: frame type %d (%d bytes) for a call that expects a result", ErrProtocol, typ, len(body))
				break
			}
			delete(l.pending, id)
			old := target.frame
			target.frame = body
			target.status, target.payload, target.charge = body[0], body[1:], charge
			target.done = true
			body = old[:0]
		default:
			perr = deliverStream(l, target, typ, body, charge)
			body = nil
		}
		if perr != nil {
			cc.mu.Unlock()
			cc.mem.release(charge)
			endLead()
			return cc.breakLead(l, pc, perr)
		}
		if cap(body) <= 64<<10 { // keep a small buffer for the next frame
			l.scratch = body
		} else {
			l.scratch = nil
		}
		if target == pc {
			cc.handOffLocked(l)
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

// deliverStream queues a frame for a stream call, checking it against
// what the plugin may send. The caller holds mu.
func deliverStream(l *link, pc *pendingCall, typ byte, body []byte, charge int) error {
	switch typ {
	case frameResult:
		if len(body) < 1 {
			return fmt.Errorf("%w: empty result frame", ErrProtocol)
		}
		delete(l.pending, pc.id)
		pc.done = true
	case frameBody:
		if pc.credit -= len(body); pc.credit < 0 {
			return fmt.Errorf("%w: plugin sent response body beyond the host's window of %d bytes", ErrProtocol, respWindow)
		}
	case frameFlush:
		if len(body) != 0 {
			return fmt.Errorf("%w: flush frame with a %d-byte body", ErrProtocol, len(body))
		}
	case frameWindow:
		if len(body) > binary.MaxVarintLen64 {
			return fmt.Errorf("%w: window frame with a %d-byte body", ErrProtocol, len(body))
		}
	case frameHead:
	default:
		return fmt.Errorf("%w: unknown frame type %d", ErrProtocol, typ)
	}
	if len(pc.queue) >= maxQueued {
		return fmt.Errorf("%w: plugin sent more than %d frames ahead for one HTTP call", ErrProtocol, maxQueued)
	}
	if charge == 0 {
		if pc.held+len(body) > maxHeld {
			return fmt.Errorf("%w: plugin sent more than %d bytes ahead for one HTTP call", ErrProtocol, maxHeld)
		}
		pc.held += len(body)
	}
	pc.queue = append(pc.queue, streamFrame{typ: typ, body: body, charge: charge})
	return nil
}

func ctxDeadline(ctx context.Context) (time.Time, bool) {
	if ctx == nil {
		return time.Time{}, false
	}
	return ctx.Deadline()
}

// breakLead breaks l on an error the leader met and returns pc's error.
func (cc *Conn) breakLead(l *link, pc *pendingCall, err error) error {
	cc.broken(l, err, pc)
	cc.mu.Lock()
	defer cc.mu.Unlock()
	pc.waiting = false
	if pc.err == nil {
		return err
	}
	return pc.err
}

// handOffLocked passes the reading to a waiting call, or lets it go if
// none waits. The caller holds mu and the reading.
func (cc *Conn) handOffLocked(l *link) {
	for _, w := range l.pending {
		if w.waiting {
			w.lead, w.waiting = true, false
			w.signal()
			return
		}
	}
	l.reading = false
}

// broken fails every call on l with err; finder, the call that met err,
// gets err itself and the others a *DroppedError.
func (cc *Conn) broken(l *link, err error, finder *pendingCall) {
	cc.mu.Lock()
	if l.err == nil {
		l.err = err // before the close, so that a read it ends knows why
		close(l.dead)
	}
	cc.mu.Unlock()
	l.c.Close()
	cc.mu.Lock()
	for id, pc := range l.pending {
		pc.err = l.err
		if pc != finder {
			pc.err = &DroppedError{l.err}
		}
		pc.done = true
		delete(l.pending, id)
		pc.signal()
	}
	l.reading = false
	l.cancels = nil
	l.ncancels.Store(0)
	cc.mu.Unlock()
	cc.mem.release(l.fr.takeCharge()) // a frame half read will not be delivered
}

// write writes frame to l under its write lock, waiting for the lock only
// until ctx ends. A write that makes no progress for writeStall, or that
// ctx's deadline cuts in the middle, breaks the link (the rest of the
// stream would not parse).
func (cc *Conn) write(ctx context.Context, l *link, frame []byte) error {
	select {
	case l.wlock <- struct{}{}:
	default:
		var done <-chan struct{}
		if ctx != nil {
			done = ctx.Done()
		}
		select {
		case l.wlock <- struct{}{}:
		case <-done:
			return ctx.Err()
		case <-l.dead:
			cc.mu.Lock()
			err := l.err
			cc.mu.Unlock()
			return &DroppedError{err}
		}
	}
	err := cc.writeLocked(ctx, l, frame)
	cc.unlockWrite(l)
	return err
}

func (cc *Conn) writeLocked(ctx context.Context, l *link, frame []byte) error {
	sent := 0
	for {
		dl := time.Now().Add(writeStall)
		byCtx := false
		if ctx != nil {
			if d, ok := ctx.Deadline(); ok && d.Before(dl) {
				dl, byCtx = d, true
			}
		}
		l.c.SetWriteDeadline(dl)
		n, err := l.c.Write(frame[sent:])
		sent += n
		if err == nil {
			return nil
		}
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			err = fmt.Errorf("%w: write: %w", ErrProcessExited, err)
			cc.broken(l, err, nil)
			return err
		}
		if byCtx && (ctx.Err() != nil || !time.Now().Before(dl)) {
			// ctx's deadline (its timer may not have fired yet).
			if sent == 0 {
				return context.DeadlineExceeded
			}
			perr := fmt.Errorf("%w: request cut off after %d of %d bytes: the plugin is not reading its call socket", ErrProtocol, sent, len(frame))
			cc.broken(l, perr, nil)
			return fmt.Errorf("%w (%w)", context.DeadlineExceeded, perr)
		}
		if n > 0 {
			continue // slow, not stuck
		}
		perr := fmt.Errorf("%w: the plugin has not read its call socket for %v", ErrProtocol, writeStall)
		cc.broken(l, perr, nil)
		return perr
	}
}

// unlockWrite releases l's write lock, first writing the cancel frames
// queued while it was held.
func (cc *Conn) unlockWrite(l *link) {
	for {
		if l.ncancels.Load() != 0 {
			cc.mu.Lock()
			ids := l.cancels
			l.cancels = nil
			l.ncancels.Store(0)
			cc.mu.Unlock()
			if len(ids) > 0 {
				cc.writeCancels(l, ids)
			}
		}
		<-l.wlock
		if l.ncancels.Load() == 0 {
			return
		}
		select {
		case l.wlock <- struct{}{}:
		default:
			return // the holder writes them
		}
	}
}

func (cc *Conn) writeCancels(l *link, ids []uint64) {
	frames := make([]byte, 0, len(ids)*frameHeader)
	for _, id := range ids {
		frames = binary.LittleEndian.AppendUint32(frames, frameHeader-4)
		frames = append(frames, frameCancel)
		frames = binary.LittleEndian.AppendUint64(frames, id)
	}
	l.c.SetWriteDeadline(time.Now().Add(cancelWait))
	n, err := l.c.Write(frames)
	switch {
	case err == nil:
	case errors.Is(err, os.ErrDeadlineExceeded) && n == 0:
		// The plugin is not reading; a request write will find out.
	case errors.Is(err, os.ErrDeadlineExceeded):
		cc.broken(l, fmt.Errorf("%w: cancel frames cut off: the plugin is not reading its call socket", ErrProtocol), nil)
	default:
		cc.broken(l, fmt.Errorf("%w: write: %w", ErrProcessExited, err), nil)
	}
}

// cancel tells the plugin that the host stopped waiting for call id. It
// never waits for the write lock.
func (cc *Conn) cancel(l *link, id uint64) {
	cc.mu.Lock()
	if l.err != nil {
		cc.mu.Unlock()
		return
	}
	l.cancels = append(l.cancels, id)
	l.ncancels.Store(int32(len(l.cancels)))
	cc.mu.Unlock()
	select {
	case l.wlock <- struct{}{}:
		cc.unlockWrite(l)
	default: // the holder writes it when it releases the lock
	}
}

// close breaks the connection for good: calls in flight fail with err.
func (cc *Conn) Close(err error) {
	cc.mu.Lock()
	if cc.closed == nil {
		cc.closed = err
	}
	l := cc.cur
	cc.mu.Unlock()
	cc.broken(l, err, nil)
}
