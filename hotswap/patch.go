package hotswap

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"time"
)

// Kind says how a patch's code was delivered.
type Kind string

// The kinds of patch.
const (
	KindScript  Kind = "script"  // Go source interpreted by yaegi
	KindNative  Kind = "native"  // a Go plugin .so built against the running baseline
	KindProcess Kind = "process" // a hashicorp/go-plugin subprocess
	KindManual  Kind = "manual"  // implementations handed over in code
)

func (k Kind) valid() bool {
	switch k {
	case KindScript, KindNative, KindProcess, KindManual:
		return true
	}
	return false
}

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
}

// Applied reports a successful [Manager.Apply].
type Applied struct {
	ID         string
	Generation uint64    // the generation of the swap
	Slots      []string  // the slots the patch provides, sorted
	At         time.Time // when the swap happened
}

// Errors of the manager. Errors returned by Apply and Revert wrap one of these
// (several, joined, when a patch has several problems) with the patch ID and
// slot name.
var (
	ErrClosed          = errors.New("hotswap: manager closed")
	ErrRegistryInUse   = errors.New("hotswap: registry is already managed by another manager")
	ErrNoID            = errors.New("hotswap: patch has no ID")
	ErrBadKind         = errors.New("hotswap: unknown patch kind")
	ErrEmptyPatch      = errors.New("hotswap: patch has no implementations")
	ErrDuplicateID     = errors.New("hotswap: a patch with this ID is already applied")
	ErrUnknownSlot     = errors.New("hotswap: no such slot")
	ErrNilImpl         = errors.New("hotswap: nil implementation")
	ErrTypeMismatch    = errors.New("hotswap: implementation type differs from slot type")
	ErrVetoed          = errors.New("hotswap: patch vetoed by its Validate hook")
	ErrUnknownPatch    = errors.New("hotswap: no applied patch with this ID")
	ErrBaselineChanged = errors.New("hotswap: patch was built against another baseline")
	ErrReentrant       = errors.New("hotswap: re-entrant call from a hook would wait for itself")
	ErrRetireAbandoned = errors.New("hotswap: Retire hook did not return after its context ended; abandoned")
)

// TypeMismatchError reports an implementation whose type is not the slot's.
// It matches [ErrTypeMismatch] with errors.Is.
type TypeMismatchError struct {
	Slot string
	Want reflect.Type // the slot's type
	Got  reflect.Type // the implementation's dynamic type
}

func (e *TypeMismatchError) Error() string {
	msg := fmt.Sprintf("hotswap: slot %s: implementation has type %v, slot has type %v", e.Slot, e.Got, e.Want)
	if e.Got != nil && e.Want != nil && e.Got.String() == e.Want.String() {
		msg += fmt.Sprintf(" (same name, different packages: %q vs %q)", e.Got.PkgPath(), e.Want.PkgPath())
	} else if e.Got != nil && e.Want != nil && e.Got.Kind() == reflect.Func && e.Got.ConvertibleTo(e.Want) {
		msg += " (same shape, but the types must be identical: use the slot's type, not a named or unnamed equivalent)"
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

func (e *PanicError) Error() string {
	return fmt.Sprintf("panic: %v", e.Value)
}

// Unwrap returns the panic value if it is an error.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}
