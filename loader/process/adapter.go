package process

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"time"

	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/loader/process/internal/callchan"
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
	shape *callchan.Shape
	httpC callchan.HTTPCodecs
}

func (a *adapter) makeFunc(t reflect.Type) reflect.Value {
	if a.shape.HTTP() {
		a.httpC = callchan.NewHTTPCodecs()
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
	var ctx context.Context
	wire := args
	if a.shape.Context() {
		ctx, _ = args[0].Interface().(context.Context)
		wire = args[1:]
		if ctx != nil && ctx.Err() != nil {
			return a.fail(in, ctx.Err())
		}
	}
	out, err := in.conn().Call(ctx, a.idx, a.shape, wire)
	if err != nil {
		return a.fail(in, err)
	}
	return out
}

// serveHTTP forwards one HTTP request and streams the response back. The
// request's body is read first (up to a size that travels inline), so
// that the slot's current implementation can serve it if this version has
// no process any more.
func (a *adapter) serveHTTP(w http.ResponseWriter, r *http.Request) {
	hr, err := callchan.CaptureRequest(w, r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	in := a.v.acquire()
	if in == nil {
		if fn, ok := a.current(); ok {
			hr.Restore(r)
			fn.Call([]reflect.Value{reflect.ValueOf(&w).Elem(), reflect.ValueOf(r)})
			return
		}
		http.Error(w, http.StatusText(http.StatusServiceUnavailable), http.StatusServiceUnavailable)
		return
	}
	defer in.release()
	in.conn().ServeHTTP(w, r, &hr, a.idx, &a.httpC, func(err error, answer bool) {
		if answer {
			a.httpFail(w, in, err)
			return
		}
		a.note(in, a.callError(err))
	})
}

// callError is err, met by a call through the slot, as a *CallError. A
// panic in the plugin becomes a *hotswap.PanicError, as a panic in the
// host's own code would be.
func (a *adapter) callError(err error) *CallError {
	var pe *callchan.PanicError
	if errors.As(err, &pe) {
		err = &hotswap.PanicError{Value: "plugin: " + pe.Value, Stack: pe.Stack}
	}
	return &CallError{Slot: a.slot, PatchID: a.v.id, Err: err}
}

// fail turns a failure into the func's results, or a panic for funcs
// without an error result. A panic in the plugin or a protocol error is
// reported to the manager; the end of the caller's context is not, and an
// exited process was reported once by the supervisor.
func (a *adapter) fail(in *instance, err error) []reflect.Value {
	ce := a.callError(err)
	a.note(in, ce)
	return failValues(a.shape.Type(), ce)
}

// note reports a failed call to the manager when it is the patch's
// failure: a panic in the plugin (which also asks for the process to be
// replaced) or a protocol error, counted once by the call that met it
// (calls that fell with the same connection carry a *callchan.DroppedError). The
// end of the caller's context, the caller's own arguments and an exited
// process (reported once by the supervisor) are not reported.
func (a *adapter) note(in *instance, ce *CallError) {
	err := ce.Err
	var (
		pe *hotswap.PanicError
		de *callchan.DroppedError
		ae *callchan.ArgError
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
	if n == 0 || t.Out(n-1) != reflect.TypeFor[error]() {
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
	if a.shape.Type().IsVariadic() {
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
	ce := a.callError(err)
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
