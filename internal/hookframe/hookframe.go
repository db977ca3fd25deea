// Package hookframe tells whether the calling goroutine runs inside a given
// function: how a library that calls user code (a hook, a logger) finds out
// that a call into it comes from that code, which must not wait for what
// waits for it. The function must not be inlined (//go:noinline), or its
// frame is not on the stack.
package hookframe

import (
	"reflect"
	"runtime"
)

// Entry returns the entry address of fn, a func value of a top-level
// function.
func Entry(fn any) uintptr { return reflect.ValueOf(fn).Pointer() }

// OnStack reports whether a frame of the function whose entry address is
// entry is on the calling goroutine's stack. It walks the whole stack:
// keep it off hot paths. A goroutine that the function started does not
// count.
func OnStack(entry uintptr) bool { return Which(entry)&1 != 0 }

// Which reports which of the functions whose entry addresses are given
// (at most 64) have a frame on the calling goroutine's stack: bit i of
// the result is set for entries[i]. One walk of the stack, as OnStack.
func Which(entries ...uintptr) uint64 {
	pcs := make([]uintptr, 64)
	var n int
	for {
		n = runtime.Callers(2, pcs)
		if n < len(pcs) {
			break
		}
		pcs = make([]uintptr, 2*len(pcs))
	}
	var found uint64
	for _, pc := range pcs[:n] {
		f := runtime.FuncForPC(pc - 1)
		if f == nil {
			continue
		}
		for i, e := range entries[:min(len(entries), 64)] {
			if f.Entry() == e {
				found |= 1 << i
			}
		}
	}
	return found
}
