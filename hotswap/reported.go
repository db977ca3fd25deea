package hotswap

import (
	"errors"
	"sync"
	"sync/atomic"
	"unsafe"
)

// reportedSize bounds the panics remembered for Recovered: enough for the
// panics in flight between a loader's report and the middleware above it.
const reportedSize = 64

// reportedRing remembers the failures that loaders reported, with the
// values their panics may go on up the caller's stack with, so that a
// feeder ([Call.End], [Call.Panic]) or [Manager.Recovered] does not count
// one of them a second time. Each report is taken at most once; the oldest
// is forgotten when the ring is full (its panic was recovered by code that
// does not report, or not at all).
type reportedRing struct {
	seq  atomic.Uint64 // reports remembered so far; read without mu by Begin
	mu   sync.Mutex    // guards vals, next
	vals [reportedSize]reportedVal
	next int
}

type reportedVal struct {
	slot string
	v    any
	seq  uint64 // the report's number, from 1; the values of one report share it; 0 for an empty place
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
	seq := r.seq.Add(1)
	r.add(slot, err, seq)
	var pe *PanicError
	if errors.As(err, &pe) && pe.Value != nil {
		r.add(slot, pe.Value, seq)
	}
}

func (r *reportedRing) add(slot string, v any, seq uint64) {
	r.vals[r.next] = reportedVal{slot: slot, v: v, seq: seq}
	r.next = (r.next + 1) % reportedSize
}

// forget drops every value of report seq; the caller holds mu.
func (r *reportedRing) forget(seq uint64) {
	for i := range r.vals {
		if r.vals[i].seq == seq {
			r.vals[i] = reportedVal{}
		}
	}
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
		if rv.seq != 0 && rv.slot == slot && equal(rv.v, v) {
			r.forget(rv.seq)
			return true
		}
	}
	return false
}

// taken reports whether the failure v of a call through slot that began
// after report since was reported by a loader already: v itself, or, as
// another value, a report of slot made during the call.
func (r *reportedRing) taken(slot string, v any, since uint64) bool {
	return r.take(slot, v) || r.takeSince(slot, since)
}

// takeSince forgets and reports the oldest report of slot made after the
// report numbered since: the report of a call that began then, whose
// failure reached its feeder as another value (a panic recovered inside
// the feeder and turned into an error, or panicked again with a new
// value). With calls in parallel, the report taken may be another call's
// that failed alike; each report still counts at most once.
func (r *reportedRing) takeSince(slot string, since uint64) bool {
	if r.seq.Load() == since {
		return false // nothing reported since: the common case, no lock
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	oldest := uint64(0)
	for i := range r.vals {
		rv := &r.vals[i]
		if rv.slot == slot && rv.seq > since && (oldest == 0 || rv.seq < oldest) {
			oldest = rv.seq
		}
	}
	if oldest == 0 {
		return false
	}
	r.forget(oldest)
	return true
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
