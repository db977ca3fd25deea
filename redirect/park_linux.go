//go:build linux && (amd64 || arm64)

package redirect

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	_ "unsafe" // for go:linkname
)

// nanotime is the runtime's monotonic clock. The rendezvous reads it
// rather than time.Now, which programs redirect (to a fixed time, in
// tests): a fixed clock would never end a wait. Functions of the runtime
// cannot be targets.
//
//go:linkname nanotime runtime.nanotime
func nanotime() int64

// parkTimeout bounds how long a code write tries to gather every P.
const parkTimeout = 5 * time.Second

// rendezvous is shared by the participants of one parked store. Its layout
// is read by the assembly in park_linux_*.s: keep the offsets.
type rendezvous struct {
	count uint32  // 0: participants inside arrive, waiting
	done  uint32  // 4: set once the store is done
	n     uint32  // 8: participants needed: GOMAXPROCS
	abort uint32  // 12: set by the leader to send the others home
	addr  uintptr // 16: where to store
	val   uint64  // 24: what to store (low 4 bytes on arm64)
	spins uint64  // 32: how long to wait inside arrive before leaving

	present atomic.Int32 // participants running, about to arrive; Go only
}

// gatherWait bounds how long a participant, running, waits for n
// participants to be running at once before it yields its P and tries
// again.
const gatherWait = 200 * time.Microsecond

// participantsPerP is how many participants a parked store starts per P.
// Any n of them arriving together hold all n Ps; more than one per P makes
// that happen sooner, because the scheduler moves runnable goroutines from
// the global run queue to a P's local queue in batches, and a P's queue
// waits behind the participant spinning on it.
const participantsPerP = 2

// closed is added to count to end a round: no arrival can then make count
// equal n.
const closed = 1 << 30

// participate takes part in r until the store is done (true) or the round
// is closed (false). A participant waits, in Go and preemptible, until n
// participants are running at once, and only then enters the
// non-preemptible rendezvous, which then completes at once. Between
// attempts it yields through the global run queue, which every P serves,
// so that participants queued behind it on its P get to run elsewhere.
// giveUp, called by the leader between attempts, closes the round when it
// returns true.
func (r *rendezvous) participate(giveUp func() bool) bool {
	n := int32(r.n)
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			runtime.Gosched()
		}
		if atomic.LoadUint32(&r.done) != 0 {
			return true
		}
		if atomic.LoadUint32(&r.abort) != 0 {
			return false
		}
		if giveUp != nil && giveUp() {
			return !r.close()
		}
		r.present.Add(1)
		start := nanotime()
		for i := 0; r.present.Load() < n && atomic.LoadUint32(&r.done) == 0; i++ {
			if i%64 == 0 && nanotime()-start > int64(gatherWait) {
				break
			}
		}
		ok := atomic.LoadUint32(&r.done) != 0 || (r.present.Load() >= n && arrive(r))
		r.present.Add(-1)
		if ok {
			return true
		}
	}
}

// close ends the round unless the store has happened or is happening;
// it reports whether it ended it.
func (r *rendezvous) close() bool {
	for {
		c := atomic.LoadUint32(&r.count)
		if c >= r.n && c < closed {
			// n arrived: the store is being done. Wait for it.
			for atomic.LoadUint32(&r.done) == 0 {
				runtime.Gosched()
			}
			return false
		}
		if atomic.CompareAndSwapUint32(&r.count, c, c+closed) {
			return true
		}
	}
}

// arrive enters the rendezvous r and spins, in assembly, where the
// goroutine cannot be preempted. The participant whose arrival makes
// count == n does the store (and, on arm64, the cache maintenance) and sets
// done; every participant then executes a context-synchronizing
// instruction (CPUID, ISB) and returns true. A participant that waits
// spins iterations without seeing n arrivals leaves (count--) and returns
// false, so that a garbage collection or another goroutine's preemption
// that needs its P is never held up for long.
//
//go:noescape
func arrive(r *rendezvous) bool

// parkedStore stores val at addr while every P of the scheduler is held by
// a participant spinning in assembly: no goroutine runs Go code on any
// other thread at the moment of the store, and every thread that holds a P
// serializes its instruction stream right after it. The participants are
// the caller and goroutines that are all gone when parkedStore returns.
func parkedStore(addr uintptr, val uint64, timeout time.Duration) error {
	deadline := nanotime() + int64(timeout)
	for {
		n := runtime.GOMAXPROCS(0)
		r := &rendezvous{n: uint32(n), addr: addr, val: val, spins: spinBudget}
		var wg sync.WaitGroup
		helpers := participantsPerP*n - 1
		if n == 1 {
			helpers = 0 // the caller holds the only P
		}
		for range helpers {
			wg.Go(func() { r.participate(nil) })
		}
		done := r.participate(func() bool {
			return runtime.GOMAXPROCS(0) != n || nanotime() > deadline
		})
		atomic.StoreUint32(&r.abort, 1) // participants still queued: go home
		wg.Wait()
		if done {
			return nil
		}
		if nanotime() > deadline {
			return fmt.Errorf("%w: %d Ps not gathered within %v", ErrNotParked, n, timeout)
		}
	}
}
