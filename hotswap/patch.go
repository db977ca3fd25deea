package hotswap

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"time"
)

// Kind says how a patch's code was delivered. Kinds are open: the four
// below are the framework's, and a loader of an application's own names its
// own (see [Loader]).
type Kind string

// The kinds of patch the framework knows.
const (
	KindScript  Kind = "script"  // Go source interpreted by yaegi
	KindNative  Kind = "native"  // a Go plugin .so built against the running baseline
	KindProcess Kind = "process" // a subprocess serving the slots over a call channel
	KindManual  Kind = "manual"  // implementations handed over in code
)

// Patch is a set of new implementations for one or more slots, applied all
// or nothing. A Patch is handed to [Manager.Apply] by value; the manager
// keeps its own copy of Impls.
type Patch struct {
	// ID names the patch; it must be unique among the applied patches.
	ID string
	// Kind is how the code was delivered; "" means KindManual.
	Kind Kind
	// Source says where the patch came from, for humans: a file, a URL, a
	// user name.
	Source string
	// Baseline is the fingerprint of the baseline the patch was built
	// against, or "" when the patch does not depend on one.
	Baseline string
	// Impls maps slot names to implementations. Each implementation's
	// dynamic type must equal the slot's func type exactly.
	Impls map[string]any
	// Replaces optionally names an applied patch that this one replaces in
	// the same swap: the old patch is removed from the stack and retired, and
	// its slots that this patch does not provide are recomputed. No moment
	// serves the baseline by accident.
	Replaces string
	// Validate, if set, runs before the swap; an error vetoes the patch.
	Validate func(ctx context.Context) error
	// Retire, if set, runs once after the patch left the stack and no slot
	// uses it any more, off the caller's path: release interpreters,
	// subprocesses and the like here, after draining in-flight calls.
	Retire func(ctx context.Context) error

	// host is the host [Manager.Load] gave the loader that made the
	// patch: once the patch is applied, it counts that loader's failure
	// reports against it.
	host *loadHost
	// begun is when Apply (or the Load before it) began, for Took.
	begun time.Time
}

// Applied reports a successful [Manager.Apply].
type Applied struct {
	ID         string
	Generation uint64    // the generation of the swap
	Slots      []string  // the slots the patch provides, sorted
	At         time.Time // when the swap happened
}

// Errors of the manager and of the loader contract. Errors returned by
// Apply, Revert and RollBack wrap one of the first group (several, joined,
// when a patch has several problems) with the patch ID and slot name.
// Loaders of every kind wrap ErrUnknownSlot, [*TypeMismatchError],
// ErrClosed and ErrBaselineChanged for those meanings, so errors.Is and
// errors.As match them whichever loader produced them.
var (
	ErrClosed          = errors.New("hotswap: closed")
	ErrNoID            = errors.New("hotswap: patch has no ID")
	ErrEmptyPatch      = errors.New("hotswap: patch has no implementations")
	ErrDuplicateID     = errors.New("hotswap: a patch with this ID is already applied")
	ErrUnknownSlot     = errors.New("hotswap: no such slot")
	ErrNilImpl         = errors.New("hotswap: nil implementation")
	ErrTypeMismatch    = errors.New("hotswap: implementation type differs from slot type")
	ErrVetoed          = errors.New("hotswap: patch vetoed by its Validate hook")
	ErrUnknownPatch    = errors.New("hotswap: no applied patch with this ID")
	ErrReentrant       = errors.New("hotswap: re-entrant call from a hook would wait for itself")
	ErrRetireAbandoned = errors.New("hotswap: Retire hook did not return after its context ended; abandoned")

	// ErrRegistryInUse is returned by [New] for a registry that another
	// manager, not closed yet, manages.
	ErrRegistryInUse = errors.New("hotswap: registry is already managed by another manager")
	// ErrNoRegistry is returned by [New] without a registry.
	ErrNoRegistry = errors.New("hotswap: no registry")
	// ErrDuplicateLoader is returned by [Manager.Attach] for a loader
	// already attached.
	ErrDuplicateLoader = errors.New("hotswap: loader already attached")
	// ErrReservedEvent is returned by [Manager.Record] for an event type
	// that only the manager records.
	ErrReservedEvent = errors.New("hotswap: only the manager records events of this type")
	// ErrNoEventType is returned by [Manager.Record] for an event without
	// a Type.
	ErrNoEventType = errors.New("hotswap: event has no type")
	// ErrBaselineChanged is wrapped by a loader's refusal of a patch built
	// against another baseline than the running binary (the native
	// loader's BaselineError matches it). The manager itself does not
	// check baselines: Apply and Revert never return it.
	ErrBaselineChanged = errors.New("hotswap: patch was built against another baseline")
)

// TypeMismatchError reports an implementation whose type is not the slot's.
// It matches [ErrTypeMismatch] with errors.Is. Every loader refuses a
// mismatch with it.
type TypeMismatchError struct {
	Slot string
	Want reflect.Type // the slot's type
	Got  reflect.Type // the implementation's dynamic type; nil when it is known by name only
	// GotName is the implementation's type as Go spells it, when Got is
	// nil: the code lives in another process, whose types this one cannot
	// hold.
	GotName string
}

func (e *TypeMismatchError) Error() string {
	got := e.GotName
	if e.Got != nil {
		got = e.Got.String()
	}
	msg := fmt.Sprintf("hotswap: slot %s: implementation has type %s, slot has type %v", e.Slot, got, e.Want)
	if e.Got != nil && e.Want != nil && e.Got.String() == e.Want.String() {
		msg += fmt.Sprintf(" (same name, different packages: %q vs %q)", e.Got.PkgPath(), e.Want.PkgPath())
	} else if e.Got != nil && e.Want != nil && e.Got.Kind() == reflect.Func && e.Got.ConvertibleTo(e.Want) {
		msg += " (same shape, but the types must be identical: use the slot's type, not a named or unnamed equivalent)"
	} else if e.Got == nil && e.Want != nil && e.GotName == e.Want.String() {
		msg += " (same spelling, different declarations: a named type differs in package or fields)"
	}
	return msg
}

// Unwrap makes errors.Is(err, ErrTypeMismatch) true.
func (e *TypeMismatchError) Unwrap() error { return ErrTypeMismatch }

// PanicError is a panic recovered from a hook (Validate, Retire) or from
// patch code run at a boundary that can report it.
type PanicError struct {
	Value any    // the value passed to panic
	Stack []byte // the goroutine's stack at the panic
}

func (e *PanicError) Error() (s string) {
	// A value whose Error or String method panics, and whose panic value
	// does the same, makes fmt panic in turn; the message then names the
	// value's type, so that a middleware logging it does not panic.
	defer func() {
		if recover() != nil {
			s = fmt.Sprintf("panic: a value of type %T (its Error or String method panicked)", e.Value)
		}
	}()
	return fmt.Sprintf("panic: %v", e.Value)
}

// Unwrap returns the panic value if it is an error.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}
