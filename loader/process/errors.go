package process

import (
	"errors"
	"fmt"
	"strings"

	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/loader/process/internal/callchan"
)

// Errors of the loader and of calls through its adapters. They are wrapped
// with the file, slot or patch concerned; match them with errors.Is.
var (
	ErrClosed          = fmt.Errorf("process: loader closed: %w", hotswap.ErrClosed)
	ErrNotExecutable   = errors.New("process: not an executable file")
	ErrStart           = errors.New("process: plugin failed to start")
	ErrUnsupportedType = callchan.ErrUnsupportedType
	ErrNoSlots         = callchan.ErrNoSlots
	ErrProcessExited   = callchan.ErrProcessExited
	ErrUnavailable     = callchan.ErrUnavailable
	ErrProtocol        = callchan.ErrProtocol
	ErrTooLarge        = callchan.ErrTooLarge
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
