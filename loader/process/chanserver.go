package process

import (
	"context"
	"errors"
	"fmt"
	"net"
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
	s  *server
	c  net.Conn
	fr *frameReader // used by the reading worker only

	wmu sync.Mutex // serializes writes to c

	token chan struct{} // hands the reading from worker to idle worker
	quit  chan struct{} // closed when the connection ends
	idle  atomic.Int32  // workers waiting for the token

	cmu     sync.Mutex                    // guards cancels
	cancels map[uint64]context.CancelFunc // calls with a context, by id
}

// maxIdleWorkers bounds the workers a connection keeps waiting.
const maxIdleWorkers = 16

func newServerConn(s *server, c net.Conn) *serverConn {
	return &serverConn{
		s:       s,
		c:       c,
		fr:      newFrameReader(c),
		token:   make(chan struct{}),
		quit:    make(chan struct{}),
		cancels: make(map[uint64]context.CancelFunc),
	}
}

// work is a worker's life. It starts as the reader. The caller has counted
// it in s.workers.
func (sc *serverConn) work() {
	defer sc.s.workers.Done()
	for {
		id, body, ok := sc.readCall()
		if !ok {
			return
		}
		select {
		case sc.token <- struct{}{}: // an idle worker reads next
		default:
			sc.s.workers.Add(1)
			go sc.work()
		}
		sc.handle(id, body)
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

// readCall reads frames until a call, handling cancels on the way. It
// returns false when the connection has ended.
func (sc *serverConn) readCall() (id uint64, body []byte, ok bool) {
	for {
		typ, id, body, err := sc.fr.read(nil) // the body is owned by the call
		if err != nil {
			sc.end()
			return 0, nil, false
		}
		switch typ {
		case frameCall:
			return id, body, true
		case frameCancel:
			sc.cmu.Lock()
			cancel := sc.cancels[id]
			delete(sc.cancels, id)
			sc.cmu.Unlock()
			if cancel != nil {
				cancel()
			}
		default:
			sc.end()
			return 0, nil, false
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
func (sc *serverConn) handle(id uint64, body []byte) {
	d := decoder{b: body}
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

	e := encoder{b: beginFrame(make([]byte, 0, 64), frameResult, id)}
	e.b = append(e.b, statusOK)
	var perr *panicked
	if sl.shape.http {
		perr = sc.handleHTTP(ctx, sl, &d, &e)
	} else {
		perr = sc.handleFunc(ctx, sl, &d, &e)
	}
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
}

// call runs fn, recovering a panic.
func call(fn reflect.Value, args []reflect.Value, variadic bool) (out []reflect.Value, p *panicked) {
	defer func() {
		if v := recover(); v != nil {
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

func (sc *serverConn) handleHTTP(ctx context.Context, sl *servedSlot, d *decoder, e *encoder) *panicked {
	var hr httpRequest
	sc.s.httpC.req.dec(d, reflect.ValueOf(&hr).Elem())
	if d.err != nil {
		return nil
	}
	r, err := hr.toRequest(ctx)
	if err != nil {
		d.fail(err)
		return nil
	}
	w := newRecorder()
	if _, p := call(sl.fn, []reflect.Value{reflect.ValueOf(w), reflect.ValueOf(r)}, false); p != nil {
		return p
	}
	resp := w.response()
	sc.s.httpC.resp.enc(e, reflect.ValueOf(&resp).Elem())
	return nil
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
