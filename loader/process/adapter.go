package process

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"reflect"
	"time"

	"github.com/hotpatch-go/hotpatch/hotswap"
)

// adapter forwards calls through one slot to the version's current process.
// Its func (made with reflect.MakeFunc) has the slot's exact type.
//
// Failures that are not the function's own error — the process exited or
// was unavailable, the function panicked, the call channel broke — are
// *CallError values: returned as the error result when the func has one,
// otherwise raised as a panic (net/http recovers such panics per request).
// An HTTP handler answers them with 502 Bad Gateway instead. A caller's
// context that ends first ends the call with the context's error, wrapped
// in a *CallError.
type adapter struct {
	v     *version
	slot  string
	idx   int // the slot's index on the call channel
	shape *funcShape
	httpC httpCodecs
}

func (a *adapter) makeFunc(t reflect.Type) reflect.Value {
	if a.shape.http {
		a.httpC = newHTTPCodecs()
		return reflect.MakeFunc(t, func(args []reflect.Value) []reflect.Value {
			w, _ := args[0].Interface().(http.ResponseWriter)
			r, _ := args[1].Interface().(*http.Request)
			a.serveHTTP(w, r)
			return nil
		})
	}
	return reflect.MakeFunc(t, a.call)
}

func (a *adapter) call(args []reflect.Value) []reflect.Value {
	in := a.v.acquire()
	if in == nil {
		return a.fallback(args)
	}
	defer in.release()
	sh := a.shape
	var ctx context.Context
	wire := args
	if sh.ctx {
		ctx, _ = args[0].Interface().(context.Context)
		wire = args[1:]
		if ctx != nil && ctx.Err() != nil {
			return a.fail(in, ctx.Err())
		}
	}
	cc := in.conn()
	pc := cc.get()
	defer cc.put(pc)
	e := &pc.enc // pooled with pc: the codecs' indirect calls would make a local escape
	*e = encoder{b: beginFrame(pc.req[:0], frameCall, 0)}
	e.uvarint(uint64(a.idx))
	e.varint(deadlineOf(ctx))
	for i, c := range sh.inC {
		c.enc(e, wire[i])
	}
	pc.req = e.b
	if e.err != nil {
		return a.fail(in, &argError{e.err})
	}
	if err := endFrame(pc.req); err != nil {
		return a.fail(in, &argError{err})
	}
	if err := cc.roundTrip(ctx, pc); err != nil {
		return a.fail(in, err)
	}
	switch pc.status {
	case statusOK:
	case statusPanic:
		return a.fail(in, decodePanic(pc.payload))
	default:
		d := newDecoder(pc.payload)
		return a.fail(in, fmt.Errorf("%w: plugin refused the call: %s", ErrProtocol, d.string()))
	}
	t := sh.typ
	out := make([]reflect.Value, t.NumOut())
	d := &pc.dec
	*d = newDecoder(pc.payload)
	for i, c := range sh.outC {
		out[i] = reflect.New(sh.out[i]).Elem()
		c.dec(d, out[i])
	}
	if sh.err {
		err := decodeError(d)
		out[len(out)-1] = reflect.ValueOf(&err).Elem()
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail(errors.New("trailing bytes after results"))
	}
	if d.err != nil {
		return a.fail(in, fmt.Errorf("%w: decode results: %w", ErrProtocol, d.err))
	}
	return out
}

// argError is a call's own arguments that cannot be sent (too deep,
// cyclic, too large): the caller's fault, not the patch's, so not reported.
type argError struct{ err error }

func (e *argError) Error() string { return "encode arguments: " + e.err.Error() }
func (e *argError) Unwrap() error { return e.err }

// deadlineOf returns ctx's deadline in Unix nanoseconds, 0 for none.
func deadlineOf(ctx context.Context) int64 {
	if ctx == nil {
		return 0
	}
	if d, ok := ctx.Deadline(); ok {
		return wireDeadline(d)
	}
	return 0
}

// wireDeadline returns d in Unix nanoseconds for the wire. Unix
// nanoseconds end in 2262: a later deadline travels as none (0), which it
// is for any call; one before 1970 travels as 1, long past.
func wireDeadline(d time.Time) int64 {
	if d.After(maxWireTime) {
		return 0
	}
	if !d.After(time.Unix(0, 0)) {
		return 1
	}
	return d.UnixNano()
}

var maxWireTime = time.Unix(0, math.MaxInt64)

func decodePanic(payload []byte) error {
	d := newDecoder(payload)
	value := d.string()
	stack := d.string()
	return &hotswap.PanicError{Value: "plugin: " + value, Stack: []byte(stack)}
}

// fail turns a failure into the func's results, or a panic for funcs
// without an error result. A panic in the plugin or a protocol error is
// reported to the manager; the end of the caller's context is not, and an
// exited process was reported once by the supervisor.
func (a *adapter) fail(in *instance, err error) []reflect.Value {
	ce := &CallError{Slot: a.slot, PatchID: a.v.id, Err: err}
	a.note(in, ce)
	return failValues(a.shape.typ, ce)
}

// note reports a failed call to the manager when it is the patch's
// failure: a panic in the plugin (which also asks for the process to be
// replaced) or a protocol error, counted once by the call that met it
// (calls that fell with the same connection carry a *droppedError). The
// end of the caller's context, the caller's own arguments and an exited
// process (reported once by the supervisor) are not reported.
func (a *adapter) note(in *instance, ce *CallError) {
	err := ce.Err
	var (
		pe *hotswap.PanicError
		de *droppedError
		ae *argError
	)
	switch {
	case errors.As(err, &pe):
		if in != nil {
			in.notePanic(err)
		}
		a.v.l.report(a.v, a.slot, ce)
	case errors.As(err, &de), errors.As(err, &ae):
	case errors.Is(err, ErrProtocol):
		a.v.l.report(a.v, a.slot, ce)
	case errors.Is(err, ErrProcessExited) && !errors.Is(err, ErrUnavailable) && in != nil && runsOn(in.runner()):
		// The connection closed but the process did not exit: the
		// plugin dropped it. That is the patch's failure, not an exit the
		// supervisor reports.
		ce.Err = fmt.Errorf("%w: the plugin closed its call connection and still runs (%v)", ErrProtocol, err)
		a.v.l.report(a.v, a.slot, ce)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, ErrProcessExited), errors.Is(err, ErrUnavailable):
	default:
		a.v.l.report(a.v, a.slot, ce)
	}
}

// failValues returns zero results and err for a func type t whose last
// result is an error, and panics with err otherwise.
func failValues(t reflect.Type, err error) []reflect.Value {
	n := t.NumOut()
	if n == 0 || t.Out(n-1) != errorType {
		panic(err)
	}
	out := make([]reflect.Value, n)
	for i := range out {
		out[i] = reflect.Zero(t.Out(i))
	}
	out[n-1] = reflect.ValueOf(&err).Elem()
	return out
}

// fallback serves a call that came after the version lost its process
// (retired, rolled back, or giving up): a caller loaded the slot before a
// swap and called it after. The slot's current implementation serves it if
// it is another patch's or the baseline; otherwise the call fails with
// ErrUnavailable.
func (a *adapter) fallback(args []reflect.Value) []reflect.Value {
	fn, ok := a.current()
	if !ok {
		return a.fail(nil, ErrUnavailable)
	}
	if a.shape.typ.IsVariadic() {
		return fn.CallSlice(args)
	}
	return fn.Call(args)
}

// current returns the slot's current implementation unless it is this
// version's.
func (a *adapter) current() (reflect.Value, bool) {
	s, ok := a.v.host.Slot(a.slot)
	if !ok || a.v.serves(s) {
		return reflect.Value{}, false
	}
	return reflect.ValueOf(s.Impl()), true
}

// httpFail answers a failed HTTP call with 502 Bad Gateway (or nothing, if
// the client went away) and reports it like fail does.
func (a *adapter) httpFail(w http.ResponseWriter, in *instance, err error) {
	ce := &CallError{Slot: a.slot, PatchID: a.v.id, Err: err}
	a.note(in, ce)
	status := http.StatusBadGateway
	if errors.Is(err, context.DeadlineExceeded) {
		status = http.StatusGatewayTimeout
	}
	http.Error(w, http.StatusText(status), status)
}

// exitGrace is how long a call that lost its connection waits to learn
// whether the process exited: its socket closes before the exit is seen.
const exitGrace = time.Second

// runsOn reports whether the process of r is still running after
// exitGrace; false without a process.
func runsOn(r *procRunner) bool {
	if r == nil {
		return false
	}
	t := time.NewTimer(exitGrace)
	defer t.Stop()
	select {
	case <-r.exited:
		return false
	case <-t.C:
		return true
	}
}
