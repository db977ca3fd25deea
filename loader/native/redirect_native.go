package nativeloader

import (
	"reflect"
	"unsafe"

	"github.com/hotpatch-go/hotpatch/native"
)

// nativeRedirect is the production redirectFunc: [native.Redirect].
func nativeRedirect(target, replacement any) (restorer, error) {
	r, err := native.Redirect(target, replacement)
	if err != nil {
		return nil, err
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
