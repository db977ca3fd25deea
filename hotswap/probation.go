package hotswap

import (
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"runtime/debug"
	"strings"
	"time"
)

// DefaultMinCalls is the number of calls a patch must have served before
// [RollbackPolicy].Ratio may roll it back, when MinCalls is zero.
const DefaultMinCalls = 20

// RollbackPolicy puts every applied patch on probation and reverts it
// automatically when its calls fail too often before the probation ends.
//
// Probation starts when the patch is applied and lasts Window. During it,
// every failed call of the patch's code counts against the patch (per
// patch, across all of its slots), and every call that a feeder counts
// ([Manager.Begin]) adds to its calls. The patch is rolled back as soon as
// Failures failures are counted, or as soon as failures reach Ratio of its
// calls once it has served at least MinCalls calls: a rolled-back event
// carries the evidence ([Event].Probation). If the window ends without
// that, the patch is committed (a committed event): later failures are
// still counted, and shown by [Manager.Status], but never roll it back.
//
// Probation is on when Failures or Ratio is positive; the zero value puts
// no patch on probation and rolls nothing back.
type RollbackPolicy struct {
	// Failures is the count of failures that rolls a patch back. Zero,
	// the default, and negative values set no count threshold.
	Failures int
	// Ratio is the share of failed calls, in (0, 1], that rolls a patch
	// back once it has served MinCalls calls: 0.05 is 5 %. Zero, the
	// default, and negative values set no ratio threshold. Only calls
	// counted by a feeder ([Manager.Begin], [Manager.Guard], the HTTP and
	// gRPC feeders) count: without one, a patch has no calls and Ratio
	// never applies.
	Ratio float64
	// MinCalls is the number of calls a patch must have served before
	// Ratio applies. Zero or negative means DefaultMinCalls; it does not
	// hold back the Failures threshold. With Ratio only, a patch that
	// served fewer calls when its window ends is committed, however many
	// of them failed.
	MinCalls int
	// Window is the probation, from the moment the patch is applied.
	// Zero or negative means DefaultRollbackWindow.
	Window time.Duration
}

// ErrBadPolicy is returned by [New] for a [RollbackPolicy] whose Ratio
// can never be reached, or is not a number.
var ErrBadPolicy = errors.New("hotswap: bad rollback policy")

// ErrNilGuard is returned by [Manager.Guard] for a nil func.
var ErrNilGuard = errors.New("hotswap: Guard needs a func to run, got nil")

// ErrProbationFailed is wrapped by the Err of the rolled-back event of a
// patch that failed its probation.
var ErrProbationFailed = errors.New("hotswap: patch failed its probation")

// enabled reports whether patches go on probation.
func (p RollbackPolicy) enabled() bool { return p.Failures > 0 || p.Ratio > 0 }

// check reports a policy that cannot work.
func (p RollbackPolicy) check() error {
	if math.IsNaN(p.Ratio) || p.Ratio > 1 {
		return fmt.Errorf("%w: Ratio %v: want a share of calls in (0, 1], such as 0.05 for 5 %%, or 0 for none", ErrBadPolicy, p.Ratio)
	}
	return nil
}

// withDefaults fills the zero fields of an enabled policy.
func (p RollbackPolicy) withDefaults() RollbackPolicy {
	if !p.enabled() {
		return p
	}
	if p.Window <= 0 {
		p.Window = DefaultRollbackWindow
	}
	if p.MinCalls <= 0 {
		p.MinCalls = DefaultMinCalls
	}
	return p
}

// exceeded reports whether calls and failures cross a threshold. A patch
// may have more failures than counted calls (failures reported by loaders
// of calls no feeder counted): the ratio is then taken of the failures.
// The share is compared as a quotient, not as failures >= Ratio*calls:
// the quotient is rounded once, as the decimal Ratio was, so 7 failures
// in 100 calls reach a Ratio of 0.07 (0.07*100 is 7.000000000000001).
func (p RollbackPolicy) exceeded(calls, failures int64) bool {
	if p.Failures > 0 && failures >= int64(p.Failures) {
		return true
	}
	if p.Ratio > 0 && calls >= int64(p.MinCalls) {
		return float64(failures)/float64(max(calls, failures)) >= p.Ratio
	}
	return false
}

// counted says n of noun, in the plural unless n is 1.
func counted(n int64, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// String describes the thresholds, for event texts.
func (p RollbackPolicy) String() string {
	var parts []string
	if p.Failures > 0 {
		parts = append(parts, counted(int64(p.Failures), "failure"))
	}
	if p.Ratio > 0 {
		parts = append(parts, fmt.Sprintf("%g%% of at least %s", 100*p.Ratio, counted(int64(p.MinCalls), "call")))
	}
	if len(parts) == 0 {
		return "no probation"
	}
	return strings.Join(parts, " or ") + fmt.Sprintf(" within %v", p.Window)
}

// ProbationState says where a patch is in its probation.
type ProbationState string

// The states of a probation.
const (
	ProbationActive     ProbationState = "on-probation" // the window runs; failures can roll the patch back
	ProbationCommitted  ProbationState = "committed"    // the window ended clean
	ProbationRolledBack ProbationState = "rolled-back"  // a threshold was crossed; the patch is (being) reverted
)

// Probation is the probation of one patch: in [PatchInfo] while the patch
// is applied, and the evidence on its committed or rolled-back event.
type Probation struct {
	State    ProbationState
	Start    time.Time      // when the patch was applied
	Until    time.Time      // when the window ends (or ended)
	Calls    int64          // calls counted by feeders when they ended, across the patch's slots (a loader's report counts at once, so Failures may exceed Calls while calls are in flight, and without a feeder Calls stays 0)
	Failures int64          // failures counted against the patch
	Policy   RollbackPolicy // the thresholds, defaults filled in
}

// probation states kept in entry.state.
const (
	stNone uint32 = iota
	stActive
	stCommitted
	stRolledBack
)

var stateNames = [...]ProbationState{stActive: ProbationActive, stCommitted: ProbationCommitted, stRolledBack: ProbationRolledBack}

// probation returns e's probation with its counts now, or nil when e was
// never on probation.
func (m *Manager) probation(e *entry, st uint32) *Probation {
	if st == stNone {
		return nil
	}
	return &Probation{State: stateNames[st], Start: e.appliedAt, Until: e.until,
		Calls: e.calls.Load(), Failures: e.failures.Load(), Policy: m.opts.Rollback}
}

// startProbation puts e on probation; the caller holds the lock and is
// applying e. The timer's goroutine runs only once the window ended, and
// Close waits for it (goAsync).
func (m *Manager) startProbation(e *entry) {
	pol := m.opts.Rollback
	if !pol.enabled() {
		return
	}
	e.until = e.appliedAt.Add(pol.Window)
	e.out = make(chan struct{})
	e.state.Store(stActive)
	e.timer = time.AfterFunc(pol.Window, func() { m.goAsync(func() { m.endProbation(e) }) })
}

// left marks e as out of the stack; the caller holds the lock and has
// published the change. A call waiting in Begin for e's rollback goes on.
func (m *Manager) left(e *entry) {
	e.state.CompareAndSwap(stActive, stNone) // its late failures judge nothing
	if e.timer != nil {
		e.timer.Stop()
		e.timer = nil
	}
	if e.out != nil && !e.gone {
		close(e.out)
		e.gone = true
	}
}

// endProbation runs when e's window has ended: e is committed, unless its
// counts cross a threshold now (a ratio whose last calls came in at the
// end), and then rolled back. It decides at once, without the change lock
// (a change's Validate hook may hold it for long): the state's
// compare-and-swap orders it against a revert, and only the rollback
// waits for the lock.
func (m *Manager) endProbation(e *entry) {
	if m.opts.Rollback.exceeded(e.calls.Load(), e.failures.Load()) {
		if e.state.CompareAndSwap(stActive, stRolledBack) {
			m.rollBack(e, "", nil)
		}
		return
	}
	if !e.state.CompareAndSwap(stActive, stCommitted) {
		return // reverted, replaced or rolled back meanwhile
	}
	pr := m.probation(e, stCommitted)
	m.emit(Event{Type: EventCommitted, Generation: m.Generation(), PatchID: e.p.ID, Kind: e.p.Kind, Source: e.p.Source,
		Slots: e.slots, Probation: pr,
		Note: fmt.Sprintf("probation of %v ended clean: %s in %s (rollback at %s)",
			pr.Policy.Window, counted(pr.Failures, "failure"), counted(pr.Calls, "call"), pr.Policy)})
}

// revertProbation rolls e back for failing its probation; the caller holds
// the lock and has set e's state to rolled back.
func (m *Manager) revertProbation(e *entry, slot string, last error) error {
	pr := m.probation(e, stRolledBack)
	why := fmt.Errorf("%w: %s in %s within %v of its apply (rollback at %s)",
		ErrProbationFailed, counted(pr.Failures, "failure"), counted(pr.Calls, "call"), time.Since(pr.Start).Round(time.Millisecond), pr.Policy)
	if last != nil {
		if v := reflect.ValueOf(last); v.Kind() == reflect.Pointer && v.IsNil() {
			// Its text would say "<nil>", which reads as no error.
			why = fmt.Errorf("%w; last, on slot %s: a nil %T returned as an error: %w", why, slot, last, last)
		} else {
			why = fmt.Errorf("%w; last, on slot %s: %w", why, slot, last)
		}
	}
	return m.revertWith(e.p.ID, EventRolledBack, why, pr)
}

// fail counts one failure against e, reported for slot, and judges its
// probation.
func (m *Manager) fail(e *entry, slot string, err error) {
	n := e.failures.Add(1)
	m.logDebug("hotswap: failure reported", "slot", slot, "patch", e.p.ID, "count", n, "err", err)
	m.judge(e, slot, err)
}

// judge starts e's rollback if its counts cross a threshold while its
// probation runs. It never blocks: the revert runs on a goroutine of the
// manager's.
func (m *Manager) judge(e *entry, slot string, last error) {
	if e.state.Load() != stActive {
		return
	}
	pol := m.opts.Rollback
	if !pol.exceeded(e.calls.Load(), e.failures.Load()) || time.Now().After(e.until) {
		return // a late failure: the window's timer commits the patch
	}
	if !e.state.CompareAndSwap(stActive, stRolledBack) {
		return
	}
	m.rollBack(e, slot, last)
}

// rollBack reverts e, whose state the caller set to rolled back, on a
// goroutine of the manager's, once it has the change lock.
func (m *Manager) rollBack(e *entry, slot string, last error) {
	m.goAsync(func() {
		if m.lock(context.Background(), "rollback") != nil {
			return // closed: every patch was reverted
		}
		defer m.unlock()
		if m.byID[e.p.ID] != e {
			return // already reverted or replaced
		}
		_ = m.revertProbation(e, slot, last)
	})
}

// Call is one call through a slot, counted against the version that
// served it: the patch that served the slot when [Manager.Begin] returned
// it. The zero Call (a slot that serves its baseline, or is not
// registered) counts nothing. A Call is a small value; copy it freely, and
// end it once, with End or Panic.
type Call struct {
	e    *entry
	slot string
	seq  uint64 // the loaders' reports counted when it began
	// nested: it began inside a call of slot that a feeder counts
	// (Within); it counts nothing.
	nested bool
}

// Begin starts a call through slot and returns its token; end it with
// [Call.End] or [Call.Panic]. It is what a feeder (middleware, interceptor,
// wrapper) runs before it calls into slot-backed code, so that the call's
// outcome counts against the version that served it, even when the
// outcome is known only after a newer version took over. It reads the
// manager's snapshot (one atomic load and a binary search over the slot
// names; for a patched slot, a look-up of ctx's values) and does not
// allocate.
//
// A ctx that [Call.Within] marked as inside a call of the same slot (one
// feeder inside another) gives a nested Call ([Call.Nested]), which
// counts nothing: the outer feeder counts the call. On a slot serving
// its baseline Begin returns the zero Call, marked context or not (a
// slot reverted between the outer Begin and the inner one: the inner
// feeder then handles its call as on the baseline).
//
// A call that begins on a patch whose rollback has been decided waits for
// the revert to be done, or for ctx to end, and then begins on the version
// that serves after it: so, with every call fed through Begin, the calls
// that fail on a bad patch are at most its threshold plus the calls in
// flight when it was crossed. (A Begin called from a Validate hook does not
// wait: the revert needs the change lock that the hook's change holds.)
//
// A version is recognised from the manager's snapshot, which is published
// just after the slot changes: a call that begins within that instant of
// a change counts against the version the snapshot still shows.
func (m *Manager) Begin(ctx context.Context, slot string) Call {
	for {
		s := m.snap.Load()
		i := s.find(slot)
		if i < 0 {
			return Call{}
		}
		e := s.vers[i].e
		if e == nil {
			// The baseline counts nothing, nested or not: no look-up of
			// ctx's values on the path of every unpatched call.
			return Call{}
		}
		if ctx != nil && ctx.Value(callKey{}) == (inCall{m, slot}) {
			return Call{slot: slot, nested: true} // inside a call of slot that a feeder counts already
		}
		c := Call{e: e, slot: slot, seq: m.reported.seq.Load()}
		if e.out == nil || e.state.Load() != stRolledBack {
			return c
		}
		if m.holder.Load() != nil && callerFrames()&inLocked != 0 {
			// A Validate hook: the revert waits for the lock its
			// change holds.
			return c
		}
		select {
		case <-e.out:
		case <-ctx.Done():
			return c
		}
	}
}

// callKey is the context key of a call that a feeder counts.
type callKey struct{}

// inCall is the value of callKey: the manager and slot of the call.
type inCall struct {
	m    *Manager
	slot string
}

// Within returns ctx marked as inside the call c: a Begin of the same
// slot and manager with the marked context (a second feeder inside the
// first, such as [Manager.Guard] inside an HTTP middleware, or a
// middleware installed twice) returns a nested Call, which counts
// nothing, so the call and its failure count once, in the outer feeder,
// which sees the outcome the inner one passed on. A feeder passes the
// marked context to the code it calls. For the zero Call and a nested
// one, Within returns ctx itself (a nested call's ctx is marked already).
func (c Call) Within(ctx context.Context) context.Context {
	if c.e == nil {
		return ctx
	}
	return context.WithValue(ctx, callKey{}, inCall{c.e.m, c.slot})
}

// Nested reports whether the call began inside a call of the same slot
// that a feeder counts (its ctx marked by [Call.Within]). A nested call
// counts nothing, like the zero Call; a feeder that finds its call nested
// may pass the call through untouched, panics included, and leave the
// outcome to the outer one.
func (c Call) Nested() bool { return c.nested }

// PatchID returns the ID of the patch the call counts against, or "" for
// the baseline.
func (c Call) PatchID() string {
	if c.e == nil {
		return ""
	}
	return c.e.p.ID
}

// End ends the call with its outcome: err is nil for a success, else the
// call's error, which counts as a failure of the patch unless it is not
// the patch's fault or was counted already:
//
//   - errors that match context.Canceled or context.DeadlineExceeded (the
//     caller's context ended: the caller's choice, or its deadline);
//   - errors that implement [Accounted] (their loader accounted for them);
//   - a failure a loader reported for this slot already (counted then):
//     err itself, or, as another value, a report made during the call
//     (see the package documentation).
//
// A feeder that knows better (an HTTP 4xx, a gRPC NotFound) passes nil for
// outcomes that are not server faults.
func (c Call) End(err error) {
	if err != nil && (!countable(err) || c.e != nil && c.e.m.reported.taken(c.slot, err, c.seq)) {
		err = nil
	}
	c.end(err)
}

// end counts the call, and fault as its failure if it is not nil.
func (c Call) end(fault error) {
	e := c.e
	if e == nil {
		return
	}
	calls := e.calls.Add(1)
	if fault != nil {
		e.m.fail(e, c.slot, fault)
		return
	}
	if pol := e.m.opts.Rollback; pol.Ratio > 0 && calls == int64(pol.MinCalls) {
		e.m.judge(e, c.slot, nil) // failures that came before the minimum
	}
}

// Panic ends the call with a panic recovered from it, and returns the
// value as a [*PanicError] with the stack (for the caller's log). The
// panic counts as a failure of the patch unless a loader reported this
// very panic already (see [Manager.Recovered] for how a panic is
// recognised) or reported a failure of the slot during the call, or it is
// an [Accounted] error. A panic on the
// baseline counts nothing. A nil v, what recover() returns when nothing
// panicked, ends the call as a success and returns nil.
func (c Call) Panic(v any) error {
	if v == nil {
		c.end(nil)
		return nil
	}
	pe := asPanicError(v)
	if c.e == nil {
		return pe
	}
	var fault error = pe
	if err, ok := v.(error); ok && !countable(err) || c.e.m.reported.taken(c.slot, v, c.seq) {
		fault = nil // accounted for, or counted by its loader
	}
	c.end(fault)
	return pe
}

// asPanicError returns v, a recovered panic value, as a *PanicError: v
// itself when it is one, else v with the stack of the recovering goroutine.
func asPanicError(v any) *PanicError {
	if pe, ok := v.(*PanicError); ok {
		return pe
	}
	return &PanicError{Value: v, Stack: debug.Stack()}
}

// countable reports whether err, the outcome of a call, may be the
// patch's failure.
func countable(err error) bool {
	var acc Accounted
	return !errors.As(err, &acc) && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
}

// Guard runs fn, a call into code backed by slot whose outcome is an
// error (fn usually calls slot.Load()(...) and returns its error), as one
// [Call]: a non-nil error counts as a failure of the version that served
// the call (as [Call.End] says), and a panic is recovered, counted (as
// [Call.Panic] says) and returned as an error wrapping a [*PanicError].
// A nil fn is the caller's mistake: Guard returns [ErrNilGuard] and counts
// nothing. Given a ctx that a feeder of the same slot marked
// ([Call.Within]: an HTTP request's context inside the root package's
// Handler, a gRPC call's inside the hotgrpc interceptors), Guard counts
// nothing: the outer feeder counts the call, with the outcome it sees.
// Guard cannot mark the context fn uses, so a Guard of the same slot
// inside fn counts its call too (the error then counts twice): begin the
// outer call with Begin and pass the inner one [Call.Within]'s context.
// An error is counted as Go compares it: a typed nil pointer returned as
// an error is not nil, and counts.
func (m *Manager) Guard(ctx context.Context, slot string, fn func() error) (err error) {
	if fn == nil {
		return fmt.Errorf("guard slot %s: %w", slot, ErrNilGuard)
	}
	c := m.Begin(ctx, slot)
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("slot %s: %w", slot, c.Panic(v))
			return
		}
		c.End(err)
	}()
	return fn()
}
