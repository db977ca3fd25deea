package redirect

import (
	"fmt"
	"reflect"
	"runtime"
	"strings"
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
// passed as a Go closure call passes them). target must be a declared
// function, a method expression or a closure (whose code every closure of
// the same function literal shares): the entry of a method value (x.M) is
// a compiler-generated wrapper, not M, and is refused.
//
// Call sites where the compiler inlined target keep running the original
// code; see the package documentation ("Inlining") for how to build
// targets that stay out of line, and [Redirection.DirectCalls] to detect a
// target that has no out-of-line call left.
//
// Redirect refuses, with an error wrapping the sentinel named, a target or
// replacement that is not a func ([ErrNotFunc]), types that differ
// ([ErrTypeMismatch]), a replacement that is the target itself or is
// redirected back to it ([ErrSameFunc]), a function of the Go runtime or reflect,
// or of sync, syscall or golang.org/x/sys/unix, which the write calls
// ([ErrRuntimeFunc]), an instantiation of a generic function or method
// ([ErrGenericFunc]), a method value ([ErrMethodValue]) or another
// compiler-generated wrapper ([ErrWrapper]), a target shorter than the
// jump ([ErrTooShort]), a target already redirected through this package
// ([ErrAlreadyRedirected]; restore it first: redirections do not stack), a
// target whose entry someone else rewrote ([ErrEntryModified]), and an
// entry that cannot be written with one atomic store ([ErrUnaligned]). It
// fails with [ErrNoRoomForJump], [ErrNoTrampoline] or [ErrNotParked] when
// the write cannot be done safely, and with [ErrNotSupported] on platforms
// other than linux/amd64 and linux/arm64.
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
	if err := checkRuntime(t.name); err != nil {
		return nil, err
	}
	if err := checkWrapper(t); err != nil {
		return nil, err
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

// String describes r for logs: "redirect.Redirection(pkg.F => pkg.G)".
func (r *Redirection) String() string {
	return "redirect.Redirection(" + r.target.name + " => " + r.replacement.name + ")"
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

// checkWrapper refuses targets whose entry is not where the calls of the
// function the caller means arrive:
//   - an instantiation of a generic function or method (gmax[int]): its
//     func value's code is a wrapper that passes a dictionary to the body
//     shared by every instantiation of the same shape
//     (gmax[go.shape.int]), and direct calls go straight to that body;
//   - a method value (x.M): its code is the compiler's "M-fm" wrapper,
//     which only calls made through that func value reach;
//   - any other compiler-generated wrapper, such as (*T).M for a method
//     declared on T, or an interface method expression: direct calls of
//     the method do not pass through it.
//
// The runtime names an instantiation "pkg.F[...]" and reports
// "<autogenerated>" as the file of a wrapper.
func checkWrapper(t fn) error {
	rf := runtime.FuncForPC(t.code)
	if rf == nil {
		return nil
	}
	if strings.Contains(t.name, "[") {
		return fmt.Errorf("%w: %s: direct calls run the body shared by every instantiation of its shape, not the entry of this func value; redirect a non-generic function that calls it, or register it as a slot", ErrGenericFunc, t.name)
	}
	if strings.HasSuffix(t.name, "-fm") {
		m := strings.TrimSuffix(t.name, "-fm")
		return fmt.Errorf("%w: %s is the wrapper of a method value (x.M), which only calls through that value reach; redirect the method expression %s instead (written (*T).M or T.M)", ErrMethodValue, t.name, m)
	}
	if file, _ := rf.FileLine(t.code); file == "<autogenerated>" && isPlainFunc(t.name) {
		return fmt.Errorf("%w: %s is the wrapper through which Go code calls an assembly function, which this package does not redirect; redirect a Go function that calls it", ErrWrapper, t.name)
	}
	if file, _ := rf.FileLine(t.code); file == "<autogenerated>" {
		return fmt.Errorf("%w: %s is a wrapper the compiler generated (such as (*T).M for a method declared on T, or an interface's method expression), which direct calls of the method do not pass through; redirect the method as declared (T.M for a value receiver)", ErrWrapper, t.name)
	}
	return nil
}

// isPlainFunc reports whether name ("pkg/path.F", "pkg/path.T.M",
// "pkg/path.(*T).M") names a function declared at package level, not a
// method: the only such functions whose code the compiler generates are
// the ABI wrappers of assembly functions.
func isPlainFunc(name string) bool {
	base := name[strings.LastIndexByte(name, '/')+1:]
	_, rest, _ := strings.Cut(base, ".")
	return !strings.ContainsAny(rest, ".()")
}

// Packages whose functions a target may not be. The runtime and reflect
// run under the code write itself (the scheduler, the allocator, the
// garbage collector's stack scans; a reflect.MakeFunc function shares its
// entry with every other one). The others the write calls between making a
// page writable and making it executable again, or to serialize the
// threads: with one of them redirected, the next write would run the
// replacement instead (a no-op Mprotect leaves the page read-only and the
// store faults), and Restore could not undo it.
var (
	runtimePackages = []string{"runtime.", "internal/runtime/", "reflect.", "internal/abi.", "internal/sync.", "sync/atomic."}
	writePackages   = []string{"sync.", "syscall.", "golang.org/x/sys/unix."}
)

// checkRuntime refuses a target in the packages above, by its function
// name ("pkg/path.Func", "pkg/path.(*T).M").
func checkRuntime(name string) error {
	for _, prefix := range runtimePackages {
		if strings.HasPrefix(name, prefix) {
			return fmt.Errorf("%w: %s", ErrRuntimeFunc, name)
		}
	}
	for _, prefix := range writePackages {
		if strings.HasPrefix(name, prefix) {
			return fmt.Errorf("%w: %s: this package calls %s while it writes code; redirect a function of yours that calls it instead", ErrRuntimeFunc, name, strings.TrimSuffix(prefix, "."))
		}
	}
	return nil
}

// ptr turns an address outside the Go heap (machine code, pages this
// package maps) into a pointer, without the conversion patterns vet and
// checkptr flag for heap pointers.
func ptr(addr uintptr) unsafe.Pointer { return *(*unsafe.Pointer)(unsafe.Pointer(&addr)) }
