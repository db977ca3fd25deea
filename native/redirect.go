package native

import (
	"fmt"
	"reflect"
	"runtime"
	"unsafe"
)

// A Redirection is a function whose entry has been rewritten to jump to a
// replacement. It is created by [Redirect] and undone by
// [Redirection.Restore]. Its methods are safe for concurrent use.
type Redirection struct {
	target, replacement fn
	site                *site // platform state; nil on unsupported platforms
}

// Redirect rewrites the machine code at the entry of target, a Go function,
// so that every call made through that entry runs replacement instead, until
// [Redirection.Restore]. target and replacement must be non-nil func values
// of identical types. replacement may be any func value: a declared
// function, a method expression or a closure (its captured variables are
// passed as a Go closure call passes them). target should be a declared
// function or a method expression: the entry of a method value (x.M) is a
// compiler-generated wrapper, not M.
//
// Call sites where the compiler inlined target keep running the original
// code; see the package documentation ("Inlining") for how to build
// targets that stay out of line, and [Redirection.DirectCalls] to detect a
// target that has no out-of-line call left.
//
// Redirect refuses, with an error wrapping the sentinel named, a target or
// replacement that is not a func ([ErrNotFunc]), types that differ
// ([ErrTypeMismatch]), a replacement that is the target itself
// ([ErrSameFunc]), a function of the Go runtime or reflect
// ([ErrRuntimeFunc]), a target shorter than the jump ([ErrTooShort]), a target
// already redirected through this package ([ErrAlreadyRedirected]; restore
// it first: redirections do not stack), a target whose entry someone else
// rewrote ([ErrEntryModified]), and an entry that cannot be written with one
// atomic store ([ErrUnaligned]). It fails with [ErrNoTrampoline] or
// [ErrNotParked] when the write cannot be done safely, and with
// [ErrNotSupported] on platforms other than linux/amd64 and linux/arm64.
func Redirect(target, replacement any) (*Redirection, error) {
	t, err := funcOf(target, "target")
	if err != nil {
		return nil, err
	}
	r, err := funcOf(replacement, "replacement")
	if err != nil {
		return nil, err
	}
	if t.typ != r.typ {
		return nil, fmt.Errorf("%w: target %s is %v, replacement %s is %v", ErrTypeMismatch, t.name, t.typ, r.name, r.typ)
	}
	if t.code == r.code {
		return nil, fmt.Errorf("%w: %s", ErrSameFunc, t.name)
	}
	return redirect(t, r)
}

// Restore writes the target's original entry back: calls run the original
// code again. It refuses with [ErrEntryModified], leaving the code as it
// is, when the entry no longer holds the jump Redirect wrote. Restoring a
// restored Redirection does nothing and returns nil.
func (r *Redirection) Restore() error {
	if r == nil {
		return nil
	}
	return restore(r)
}

// String describes r for logs: "native.Redirection(pkg.F => pkg.G)".
func (r *Redirection) String() string {
	return "native.Redirection(" + r.target.name + " => " + r.replacement.name + ")"
}

// fn is a func value taken apart.
type fn struct {
	v    any            // the func value itself, kept to keep its funcval alive
	typ  reflect.Type   // its type
	code uintptr        // entry of its code
	fv   unsafe.Pointer // its funcval: what a closure call passes in the context register
	name string         // function name for messages
}

func funcOf(v any, role string) (fn, error) {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Func || rv.IsNil() {
		return fn{}, fmt.Errorf("%w: %s is %T", ErrNotFunc, role, v)
	}
	f := fn{v: v, typ: rv.Type(), code: rv.Pointer()}
	// A func is pointer-shaped, so an interface holding one stores the
	// funcval pointer itself in its data word.
	f.fv = (*[2]unsafe.Pointer)(unsafe.Pointer(&v))[1]
	f.name = fmt.Sprintf("%#x", f.code)
	if rf := runtime.FuncForPC(f.code); rf != nil {
		f.name = rf.Name()
	}
	return f, nil
}

// ptr turns an address outside the Go heap (machine code, pages this
// package maps) into a pointer, without the conversion patterns vet and
// checkptr flag for heap pointers.
func ptr(addr uintptr) unsafe.Pointer { return *(*unsafe.Pointer)(unsafe.Pointer(&addr)) }
