package hotswap

import (
	"errors"
	"sync"
	"unsafe"
)

// reportedSize bounds the panics remembered for Recovered: enough for the
// panics in flight between a loader's report and the middleware above it.
const reportedSize = 64

// reportedRing remembers the panics that loaders reported before letting
// them go on up the caller's stack, so that [Manager.Recovered] does not
// count one of them a second time. Each is taken at most once; the oldest
// is forgotten when the ring is full (its panic was recovered by code that
// does not report, or not at all).
type reportedRing struct {
	mu   sync.Mutex // guards vals, next
	vals [reportedSize]reportedVal
	next int
}

type reportedVal struct {
	slot string
	v    any
	set  bool
}

// remember notes the values a failure reported as err may go on up the
// caller's stack with: err itself (a process patch's adapter panics with
// the error it reported) and the value of the *PanicError it wraps (a
// script or native patch's wrapper panics with the value the code panicked
// with).
func (r *reportedRing) remember(slot string, err error) {
	if err == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.add(slot, err)
	var pe *PanicError
	if errors.As(err, &pe) && pe.Value != nil {
		r.add(slot, pe.Value)
	}
}

func (r *reportedRing) add(slot string, v any) {
	r.vals[r.next] = reportedVal{slot: slot, v: v, set: true}
	r.next = (r.next + 1) % reportedSize
}

// take forgets and reports a remembered panic value v of slot.
func (r *reportedRing) take(slot string, v any) bool {
	if v == nil {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range r.vals {
		rv := &r.vals[i]
		if rv.set && rv.slot == slot && equal(rv.v, v) {
			*rv = reportedVal{}
			return true
		}
	}
	return false
}

// equal reports whether a and b are the same panic value: a == b, or,
// for values that cannot be compared (a slice, a map, a struct holding
// one), the same boxed value, as a wrapper that recovers a panic and
// panics again with what it recovered passes it on. Two panics with
// separately boxed equal slices are told apart, as they should be.
func equal(a, b any) (eq bool) {
	if sameBox(a, b) {
		return true
	}
	defer func() {
		if recover() != nil {
			eq = false // not comparable, and not the same box
		}
	}()
	return a == b
}

// sameBox reports whether a and b are one interface value: the same
// dynamic type and the same data word. A value copied from one interface
// to another keeps its data word; boxing a value anew makes a new one
// (except for values the runtime boxes without allocating, which are
// comparable and compared with == anyway).
func sameBox(a, b any) bool {
	ea := (*[2]unsafe.Pointer)(unsafe.Pointer(&a))
	eb := (*[2]unsafe.Pointer)(unsafe.Pointer(&b))
	return ea[0] == eb[0] && ea[1] == eb[1]
}
