package process

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/hotpatch-go/hotpatch/hotswap"
)

// Errors of the loader and of calls through its adapters. They are wrapped
// with the file, slot or patch concerned; match them with errors.Is.
var (
	ErrClosed          = fmt.Errorf("process: loader closed: %w", hotswap.ErrClosed)
	ErrNotExecutable   = errors.New("process: not an executable file")
	ErrStart           = errors.New("process: plugin failed to start")
	ErrUnsupportedType = errors.New("process: type cannot cross a process boundary")
	ErrNoSlots         = errors.New("process: plugin serves no slots")
	ErrProcessExited   = errors.New("process: plugin process exited")
	ErrUnavailable     = errors.New("process: no plugin process serving (restarting or retired)")
	ErrProtocol        = errors.New("process: call channel protocol error")
	ErrTooLarge        = errors.New("process: message too large")
)

// StartError reports a plugin executable that could not be brought up:
// it did not start, did not complete the handshake in time, failed the
// health check, or serves slots that do not fit the registry. Stderr holds
// the last lines the process wrote to its standard error, which usually say
// why. It matches [ErrStart] with errors.Is, as well as the cause.
type StartError struct {
	Path   string // the executable
	Err    error  // the cause
	Stderr string // the tail of the process's standard error, if any
}

func (e *StartError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "process: start %s: %v", e.Path, e.Err)
	if s := strings.TrimSpace(e.Stderr); s != "" {
		b.WriteString("\nstderr (last lines):\n")
		b.WriteString(s)
	}
	return b.String()
}

// Unwrap returns ErrStart and the cause.
func (e *StartError) Unwrap() []error { return []error{ErrStart, e.Err} }

// CallError reports a call through a slot that did not reach the plugin's
// function or whose answer did not come back: the process exited, was
// unavailable, or the function panicked. A slot func with a trailing error
// result returns it; a slot func without one panics with it (net/http
// recovers such panics per request).
type CallError struct {
	Slot    string
	PatchID string
	Err     error // ErrProcessExited, ErrUnavailable, ErrProtocol, a *hotswap.PanicError, ...
}

func (e *CallError) Error() string {
	return fmt.Sprintf("process: call %s (patch %s): %v", e.Slot, e.PatchID, e.Err)
}

// Unwrap returns the cause.
func (e *CallError) Unwrap() error { return e.Err }

// Accounted marks a CallError as accounted for by the loader
// ([hotswap.Accounted]): the call that raised it reported it to the host
// if it was the patch's failure (a panic in the plugin, a protocol error),
// the supervisor reported a crash once for all the calls it broke, and the
// end of the caller's context is not a failure. A middleware's
// [hotswap.Manager.Recovered] does not count it again.
func (e *CallError) Accounted() {}

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
