package native

import (
	"log/slog"
	"reflect"
	"unsafe"

	"github.com/hotpatch-go/hotpatch/redirect"
)

// nativeRedirect is the production redirectFunc: [redirect.Redirect]. It
// warns when the target has no direct call left in its binary: then every
// call site was inlined (or the function is only called through func
// values), and the redirection changes only those indirect calls.
func nativeRedirect(log *slog.Logger, target, replacement any) (restorer, error) {
	r, err := redirect.Redirect(target, replacement)
	if err != nil {
		return nil, err
	}
	if r.DirectCalls() == 0 {
		log.Warn("native: redirect target has no direct call in the binary: its call sites were inlined or it is only called through func values; build the baseline with hotpatch build (-inline) or mark the target //go:noinline",
			"target", r.String())
	}
	return r, nil
}

// funcAt returns a func value of type typ whose code is at entry: a new
// funcval (the word a Go func value points to, holding the code address)
// wrapped in a value of typ. It is only ever built for the entry of a
// function of the running binary whose type the patch's compiler checked.
func funcAt(typ reflect.Type, entry uintptr) any {
	fv := new(uintptr)
	*fv = entry
	v := reflect.New(typ).Elem()
	*(*unsafe.Pointer)(v.Addr().UnsafePointer()) = unsafe.Pointer(fv)
	return v.Interface()
}
