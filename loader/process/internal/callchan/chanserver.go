package callchan

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"reflect"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

// serverConn is one call channel connection on the plugin's side.
//
// Its goroutines ("workers") take turns: one reads; when it meets a call,
// it hands the reading to an idle worker (or starts one) and runs the call
// itself, so that the call does not wait for another goroutine to be
// scheduled; afterwards it waits to read again. Reusing workers keeps their
// grown stacks: a fresh goroutine per call would grow its stack on every
// reflect call. Each call writes its result under the write lock; many run
// at once, and a slow one holds up nothing.
type serverConn struct {
	s  *Server
	c  net.Conn
	fr *frameReader // used by the reading worker only

	wmu sync.Mutex // serializes writes to c

	token chan struct{} // hands the reading from worker to idle worker
	quit  chan struct{} // closed when the connection ends
	idle  atomic.Int32  // workers waiting for the token

	cmu     sync.Mutex                    // guards cancels and streams
	cancels map[uint64]context.CancelFunc // calls with a context, by id
	streams map[uint64]*plugStream        // HTTP calls in flight, by id
}

// maxIdleWorkers bounds the workers a connection keeps waiting.
const maxIdleWorkers = 16

func newServerConn(s *Server, c net.Conn) *serverConn {
	return &serverConn{
		s:       s,
		c:       c,
		fr:      newFrameReader(c),
		token:   make(chan struct{}),
		quit:    make(chan struct{}),
		cancels: make(map[uint64]context.CancelFunc),
		streams: make(map[uint64]*plugStream),
	}
}

// work is a worker's life. It starts as the reader. The caller has counted
// it in s.workers.
func (sc *serverConn) work() {
	defer sc.s.workers.Done()
	for {
		id, body, st, ok := sc.readCall()
		if !ok {
			return
		}
		select {
		case sc.token <- struct{}{}: // an idle worker reads next
		default:
			sc.s.workers.Add(1)
			go sc.work()
		}
		sc.handle(id, body, st)
		if sc.idle.Add(1) > maxIdleWorkers {
			sc.idle.Add(-1)
			return
		}
		select {
		case <-sc.token:
			sc.idle.Add(-1)
		case <-sc.quit:
			return
		}
	}
}

// readCall reads frames until a call, handling cancels and HTTP body
// frames on the way. The stream of an HTTP call is registered here, before
// the next frame is read, so that its body frames find it. It returns false
// when the connection has ended, or on a protocol error (which ends it).
func (sc *serverConn) readCall() (id uint64, body []byte, st *plugStream, ok bool) {
	for {
		typ, id, body, _, err := sc.fr.read(nil, nil, nil) // the body is owned by the call
		if err != nil {
			sc.end()
			return 0, nil, nil, false
		}
		switch typ {
		case frameCall:
			d := newDecoder(body)
			if idx := d.uvarint(); d.err == nil && idx < uint64(len(sc.s.slots)) && sc.s.slots[idx].shape.http {
				st = newPlugStream(sc, id)
				sc.cmu.Lock()
				sc.streams[id] = st
				sc.cmu.Unlock()
			}
			return id, body, st, true
		case frameCancel:
			sc.cmu.Lock()
			cancel := sc.cancels[id]
			delete(sc.cancels, id)
			sc.cmu.Unlock()
			if cancel != nil {
				cancel()
			}
		case frameBody, frameEnd, frameWindow:
			sc.cmu.Lock()
			st := sc.streams[id]
			sc.cmu.Unlock()
			if st != nil && !st.frame(typ, body, sc.s.httpC.reqEnd) {
				sc.end()
				return 0, nil, nil, false
			}
		default:
			sc.end()
			return 0, nil, nil, false
		}
	}
}

// end closes the connection after its last read, cancels its calls and
// releases its idle workers.
func (sc *serverConn) end() {
	sc.c.Close()
	sc.cancelAll()
	close(sc.quit)
	sc.s.mu.Lock()
	delete(sc.s.conns, sc)
	sc.s.mu.Unlock()
}

// cancelAll cancels every call in flight: the host is gone.
func (sc *serverConn) cancelAll() {
	sc.cmu.Lock()
	for id, cancel := range sc.cancels {
		cancel()
		delete(sc.cancels, id)
	}
	sc.cmu.Unlock()
}

// handle runs one call and writes its result.
func (sc *serverConn) handle(id uint64, body []byte, st *plugStream) {
	d := newDecoder(body)
	idx := d.uvarint()
	deadline := d.varint()
	if d.err != nil || idx >= uint64(len(sc.s.slots)) {
		sc.writeStatus(id, statusBadCall, fmt.Sprintf("bad call header (slot %d of %d)", idx, len(sc.s.slots)))
		return
	}
	sl := sc.s.slots[idx]
	ctx := sc.s.base
	if sl.shape.ctx || sl.shape.http {
		var cancel context.CancelFunc
		if deadline != 0 {
			ctx, cancel = context.WithDeadline(ctx, time.Unix(0, deadline))
		} else {
			ctx, cancel = context.WithCancel(ctx)
		}
		sc.cmu.Lock()
		sc.cancels[id] = cancel
		sc.cmu.Unlock()
		defer func() {
			sc.cmu.Lock()
			delete(sc.cancels, id)
			sc.cmu.Unlock()
			cancel()
		}()
	}

	if st != nil {
		defer func() {
			sc.cmu.Lock()
			delete(sc.streams, id)
			sc.cmu.Unlock()
		}()
		sc.handleHTTP(ctx, id, sl, st, &d)
		return
	}
	e := encoder{b: beginFrame(make([]byte, 0, 64), frameResult, id)}
	e.b = append(e.b, statusOK)
	perr := sc.handleFunc(ctx, sl, &d, &e)
	switch {
	case perr != nil:
		sc.writeStatus(id, statusPanic, perr.value, perr.stack)
		return
	case d.err != nil:
		sc.writeStatus(id, statusBadCall, "decode arguments: "+d.err.Error())
		return
	case e.err != nil:
		sc.writeStatus(id, statusBadCall, "encode results: "+e.err.Error())
		return
	}
	if err := endFrame(e.b); err != nil {
		sc.writeStatus(id, statusBadCall, err.Error())
		return
	}
	sc.write(e.b)
}

// panicked is a panic recovered from a slot function.
type panicked struct {
	value string
	stack string
	abort bool // the value is http.ErrAbortHandler
}

// call runs fn, recovering a panic.
func call(fn reflect.Value, args []reflect.Value, variadic bool) (out []reflect.Value, p *panicked) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				p = &panicked{value: fmt.Sprint(v), abort: true}
				return
			}
			p = &panicked{value: fmt.Sprint(v), stack: string(debug.Stack())}
		}
	}()
	if variadic {
		return fn.CallSlice(args), nil
	}
	return fn.Call(args), nil
}

func (sc *serverConn) handleFunc(ctx context.Context, sl *servedSlot, d *decoder, e *encoder) *panicked {
	sh := sl.shape
	args := make([]reflect.Value, 0, len(sh.in)+1)
	if sh.ctx {
		args = append(args, reflect.ValueOf(&ctx).Elem())
	}
	for i, t := range sh.in {
		v := reflect.New(t).Elem()
		sh.inC[i].dec(d, v)
		args = append(args, v)
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail(errors.New("trailing bytes after arguments"))
	}
	if d.err != nil {
		return nil
	}
	out, p := call(sl.fn, args, sh.typ.IsVariadic())
	if p != nil {
		return p
	}
	for i := range sh.out {
		sh.outC[i].enc(e, out[i])
	}
	if sh.err {
		err, _ := out[len(out)-1].Interface().(error)
		encodeError(e, err)
	}
	return nil
}

// handleHTTP serves one HTTP call: its response streams back in head,
// body and flush frames, and its result frame ends it.
func (sc *serverConn) handleHTTP(ctx context.Context, id uint64, sl *servedSlot, st *plugStream, d *decoder) {
	var hr HTTPRequest
	sc.s.httpC.req.dec(d, reflect.ValueOf(&hr).Elem())
	if d.err == nil && len(d.b) != 0 {
		d.fail(errors.New("trailing bytes after the request"))
	}
	if d.err != nil {
		sc.writeStatus(id, statusBadCall, "decode request: "+d.err.Error())
		return
	}
	r, err := hr.toRequest(ctx, st)
	if err != nil {
		sc.writeStatus(id, statusBadCall, err.Error())
		return
	}
	w := newPlugWriter(st, ctx, &sc.s.httpC, hr.RespHeader)
	if _, p := call(sl.fn, []reflect.Value{reflect.ValueOf(w), reflect.ValueOf(r)}, false); p != nil {
		if p.abort {
			sc.writeStatus(id, statusAbort)
		} else {
			sc.writeStatus(id, statusPanic, p.value, p.stack)
		}
		return
	}
	end := w.end()
	e := encoder{b: beginFrame(w.frame[:0], frameResult, id)}
	e.b = append(e.b, statusOK)
	sc.s.httpC.end.enc(&e, reflect.ValueOf(&end).Elem())
	if e.err == nil {
		e.err = endFrame(e.b)
	}
	if e.err != nil {
		sc.writeStatus(id, statusBadCall, "encode response: "+e.err.Error())
		return
	}
	sc.write(e.b)
}

// writeStatus writes a result frame with a non-OK status and string fields.
func (sc *serverConn) writeStatus(id uint64, status byte, fields ...string) {
	e := encoder{b: beginFrame(nil, frameResult, id)}
	e.b = append(e.b, status)
	for _, f := range fields {
		if len(f) > 64<<10 {
			f = f[:64<<10]
		}
		e.string(f)
	}
	if endFrame(e.b) == nil {
		sc.write(e.b)
	}
}

func (sc *serverConn) write(frame []byte) {
	sc.wmu.Lock()
	_, err := sc.c.Write(frame)
	sc.wmu.Unlock()
	if err != nil {
		sc.c.Close() // the reader sees it and ends the connection
	}
}
