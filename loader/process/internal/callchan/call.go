package callchan

import (
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"time"
)

// Call calls the slot at index idx, of shape sh, with args (without the
// context, which travels as ctx) and returns its results. The error is the
// channel's, never the function's own (that is among the results): an
// [*ArgError], a [*PanicError], [ErrProtocol], [ErrProcessExited], the
// end of ctx, or a [*DroppedError] wrapping one of these.
//
// Neither end switches goroutines on a lone call's path: the caller reads
// its own answer (see the package documentation).
func (cc *Conn) Call(ctx context.Context, idx int, sh *Shape, args []reflect.Value) ([]reflect.Value, error) {
	pc := cc.get()
	defer cc.put(pc)
	e := &pc.enc // pooled with pc: the codecs' indirect calls would make a local escape
	*e = encoder{b: beginFrame(pc.req[:0], frameCall, 0)}
	e.uvarint(uint64(idx))
	e.varint(deadlineOf(ctx))
	for i, c := range sh.inC {
		c.enc(e, args[i])
	}
	pc.req = e.b
	if e.err != nil {
		return nil, &ArgError{e.err}
	}
	if err := endFrame(pc.req); err != nil {
		return nil, &ArgError{err}
	}
	if err := cc.roundTrip(ctx, pc); err != nil {
		return nil, err
	}
	switch pc.status {
	case statusOK:
	case statusPanic:
		return nil, decodePanic(pc.payload)
	default:
		d := newDecoder(pc.payload)
		return nil, fmt.Errorf("%w: plugin refused the call: %s", ErrProtocol, d.string())
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
		return nil, fmt.Errorf("%w: decode results: %w", ErrProtocol, d.err)
	}
	return out, nil
}

// ArgError is a call's own arguments that cannot be sent (too deep,
// cyclic, too large): the caller's fault, not the patch's.
type ArgError struct{ Err error }

func (e *ArgError) Error() string { return "encode arguments: " + e.Err.Error() }
func (e *ArgError) Unwrap() error { return e.Err }

// deadlineOf returns ctx's deadline in Unix nanoseconds, 0 for none.
func deadlineOf(ctx context.Context) int64 {
	if d, ok := ctxDeadline(ctx); ok {
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
	return &PanicError{Value: value, Stack: []byte(stack)}
}
