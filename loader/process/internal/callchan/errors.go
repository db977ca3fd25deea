package callchan

import (
	"context"
	"errors"
	"fmt"
)

// Errors of the call channel. The host's loader re-exports them under the
// same names (process.ErrProtocol is ErrProtocol), so errors.Is matches
// whichever package a caller names.
var (
	ErrProcessExited   = errors.New("process: plugin process exited")
	ErrUnavailable     = errors.New("process: no plugin process serving (restarting or retired)")
	ErrProtocol        = errors.New("process: call channel protocol error")
	ErrTooLarge        = errors.New("process: message too large")
	ErrNoSlots         = errors.New("process: plugin serves no slots")
	ErrUnsupportedType = errors.New("process: type cannot cross a process boundary")
	ErrClosed          = errors.New("process: call channel server closed")
	ErrBadName         = errors.New("process: malformed slot name (want dotted identifiers such as billing.Price)")
)

// PanicError is a panic in the plugin's function, with the plugin's
// stack, as the host receives it.
type PanicError struct {
	Value string
	Stack []byte
}

func (e *PanicError) Error() string { return "plugin panic: " + e.Value }

// remoteError is an error value returned by the plugin's function. Its
// message crosses the boundary, and whether it was a context's error, so
// that errors.Is(err, context.DeadlineExceeded) holds on both sides.
type remoteError struct {
	msg string
	is  error // context.Canceled, context.DeadlineExceeded or nil
}

func (e *remoteError) Error() string { return e.msg }
func (e *remoteError) Unwrap() error { return e.is }

// Error kinds on the wire, after a func's results.
const (
	errNone     byte = 0
	errPlain    byte = 1
	errCanceled byte = 2
	errDeadline byte = 3
)

func encodeError(e *encoder, err error) {
	switch {
	case err == nil:
		e.b = append(e.b, errNone)
		return
	case errors.Is(err, context.DeadlineExceeded):
		e.b = append(e.b, errDeadline)
	case errors.Is(err, context.Canceled):
		e.b = append(e.b, errCanceled)
	default:
		e.b = append(e.b, errPlain)
	}
	e.string(err.Error())
}

func decodeError(d *decoder) error {
	p := d.take(1)
	if p == nil || p[0] == errNone {
		return nil
	}
	re := &remoteError{msg: d.string()}
	switch p[0] {
	case errPlain:
	case errCanceled:
		re.is = context.Canceled
	case errDeadline:
		re.is = context.DeadlineExceeded
	default:
		d.fail(fmt.Errorf("bad error kind %d", p[0]))
		return nil
	}
	return re
}
