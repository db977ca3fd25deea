package hotswap

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hotpatch-go/hotpatch/internal/slotaccess"
	"github.com/hotpatch-go/hotpatch/registry"
)

// Defaults for zero fields of [Options] and [RollbackPolicy].
const (
	DefaultHistorySize    = 1000
	DefaultRetireTimeout  = 2 * time.Minute
	DefaultRollbackWindow = time.Minute
)

// Options configure a [Manager]. The zero value is ready to use: a zero field
// means the matching Default constant (negative durations and sizes too).
type Options struct {
	// Logger receives one structured record per event. nil discards.
	Logger *slog.Logger
	// HistorySize bounds the event log kept for [Manager.History].
	HistorySize int
	// RetireTimeout bounds each Retire hook (draining and releasing): its
	// context ends then, and a hook that has not returned min(2 s,
	// RetireTimeout) later is abandoned ([ErrRetireAbandoned]).
	RetireTimeout time.Duration
	// Rollback puts each applied patch on probation and reverts it
	// automatically when its calls fail too often (see [RollbackPolicy]).
	Rollback RollbackPolicy
}

// Manager applies and reverts patches on the slots of one registry. It is the
// only writer of those slots. All methods are safe for concurrent use;
// changes are serialized, and calls through slots never wait for them.
type Manager struct {
	reg     *registry.Registry
	release func() // gives the registry back, at the end of Close
	opts    Options
	log     *slog.Logger

	sem     chan struct{}                // one holder at a time; guards the fields below it
	after   []func()                     // logging and retire starts, run in order once the lock is released
	stack   []*entry                     // applied patches, bottom first
	byID    map[string]*entry            // applied patches by ID
	cur     map[string]*entry            // slot name -> patch serving it; absent: baseline
	writers map[string]slotaccess.Writer // cache of registry writers
	gen     uint64

	closed atomic.Bool
	snap   atomic.Pointer[snapshot] // published after every change
	holder atomic.Pointer[string]   // the Validate hook the lock holder runs now, nil when none

	evMu     sync.Mutex // guards hist, subs, stopping, loaders
	hist     history
	subs     map[chan Event]struct{}
	stopping bool     // no new background work may start
	loaders  []Loader // attached, closed by Close in reverse order

	wg       sync.WaitGroup // retire and rollback goroutines
	done     chan struct{}  // closed by Close once the slots are back to baseline
	finished chan struct{}  // closed once background work ended, loaders and subscribers were closed
	closing  atomic.Bool    // set by the Close that shuts down
	closeErr error          // the loaders' Close errors; written before finished is closed

	reported reportedRing // panics reported and gone on up, for Recovered
}

// entry is one applied patch.
type entry struct {
	p         Patch
	slots     []string // sorted
	gen       uint64
	appliedAt time.Time
	m         *Manager
	calls     atomic.Int64  // calls counted by feeders (Begin)
	failures  atomic.Int64  // failures counted against it, for its probation
	state     atomic.Uint32 // its probation: stNone, stActive, stCommitted, stRolledBack

	// Set before the entry is published, then read-only: read without
	// the lock by Begin and judge.
	until time.Time     // the end of its probation
	out   chan struct{} // closed once it left the stack; nil when never on probation

	timer *time.Timer // ends the probation; guarded by the change lock
	gone  bool        // out is closed; guarded by the change lock
}

// New returns a manager for reg. One registry has at most one manager at a
// time: New fails with [ErrRegistryInUse] while another manager of reg is
// not closed.
func New(reg *registry.Registry, opts Options) (*Manager, error) {
	if reg == nil {
		return nil, ErrNoRegistry
	}
	if err := opts.Rollback.check(); err != nil {
		return nil, err
	}
	release, ok := slotaccess.Claim(reg)
	if !ok {
		return nil, ErrRegistryInUse
	}
	if opts.HistorySize <= 0 {
		opts.HistorySize = DefaultHistorySize
	}
	if opts.RetireTimeout <= 0 {
		opts.RetireTimeout = DefaultRetireTimeout
	}
	opts.Rollback = opts.Rollback.withDefaults()
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &Manager{
		reg:      reg,
		release:  release,
		opts:     opts,
		log:      log,
		sem:      make(chan struct{}, 1),
		byID:     make(map[string]*entry),
		cur:      make(map[string]*entry),
		writers:  make(map[string]slotaccess.Writer),
		hist:     history{size: opts.HistorySize},
		subs:     make(map[chan Event]struct{}),
		done:     make(chan struct{}),
		finished: make(chan struct{}),
	}
	m.publish(nil)
	return m, nil
}

// lock takes the writer token for method, or fails if ctx ends first or the
// manager is closed. Called from inside a Validate hook while the token's
// holder runs one, it fails at once with [ErrReentrant]: waiting would never
// end.
func (m *Manager) lock(ctx context.Context, method string) error {
	if m.closed.Load() {
		return ErrClosed
	}
	select {
	case m.sem <- struct{}{}:
	default:
		if h := m.holder.Load(); h != nil && callerFrames()&inLocked != 0 {
			return reentrant(method, *h)
		}
		select {
		case m.sem <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if m.closed.Load() {
		m.unlock()
		return ErrClosed
	}
	return nil
}

// unlock releases the writer token, then logs the events the change
// recorded and starts its retires, in order: user code (the logger's
// handler, Retire hooks) never runs while the token is held, so it may call
// back into the manager.
func (m *Manager) unlock() {
	after := m.after
	m.after = nil
	<-m.sem
	for _, f := range after {
		f()
	}
}

// Apply checks p and swaps all of its implementations in at once. On any
// error nothing changes: the error says which slots are wrong and why, and a
// rejected event is recorded.
func (m *Manager) Apply(ctx context.Context, p Patch) (Applied, error) {
	if p.host == nil || p.host.begun.IsZero() {
		p.begun = time.Now()
	} else {
		p.begun = p.host.begun
	}
	if err := m.lock(ctx, "Apply"); err != nil {
		return Applied{}, fmt.Errorf("apply patch %q: %w", p.ID, err)
	}
	defer m.unlock()
	a, err := m.apply(ctx, p)
	if err != nil {
		err = fmt.Errorf("apply patch %q: %w", p.ID, err)
		m.emitLocked(Event{Type: EventRejected, Generation: m.gen, PatchID: p.ID, Kind: p.Kind, Source: p.Source, Slots: sortedKeys(p.Impls), Err: err})
	}
	return a, err
}

func (m *Manager) apply(ctx context.Context, p Patch) (Applied, error) {
	if p.ID == "" {
		return Applied{}, ErrNoID
	}
	if p.Kind == "" {
		p.Kind = KindManual
	}
	if len(p.Impls) == 0 {
		return Applied{}, ErrEmptyPatch
	}
	if _, dup := m.byID[p.ID]; dup {
		return Applied{}, ErrDuplicateID
	}
	var old *entry
	if p.Replaces != "" {
		if old = m.byID[p.Replaces]; old == nil {
			return Applied{}, fmt.Errorf("replaces %q: %w", p.Replaces, ErrUnknownPatch)
		}
	}
	slots := sortedKeys(p.Impls)
	impls := make(map[string]any, len(p.Impls))
	var errs []error
	for _, name := range slots {
		impl := p.Impls[name]
		w, err := m.checkImpl(name, impl)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		m.writers[name] = w
		impls[name] = impl
	}
	if len(errs) > 0 {
		return Applied{}, errors.Join(errs...)
	}
	p.Impls = impls
	if err := ctx.Err(); err != nil {
		return Applied{}, err
	}
	// Validate is the last step that may fail: a hook that commits
	// something (a loader's function-entry redirections) can rely on the
	// swap following its success.
	if p.Validate != nil {
		what := fmt.Sprintf("the Validate hook of patch %q", p.ID)
		m.holder.Store(&what)
		err := runLocked(func() error { return callHook(ctx, p.Validate) })
		m.holder.Store(nil)
		if err != nil {
			return Applied{}, fmt.Errorf("%w: %w", ErrVetoed, err)
		}
	}

	// The swap. Every check is done; nothing below can fail.
	m.gen++
	now := time.Now()
	e := &entry{m: m, p: p, slots: slots, gen: m.gen, appliedAt: now}
	m.startProbation(e)
	if p.host != nil && p.host.m == m {
		p.host.e.Store(e) // its loader's reports count against e from now on
	}
	if old != nil {
		m.removeFromStack(old)
	}
	m.stack = append(m.stack, e)
	m.byID[p.ID] = e
	v := slotaccess.Version{PatchID: p.ID, Generation: m.gen, Since: now}
	for _, name := range slots {
		if err := m.writers[name].Store(p.Impls[name], v); err != nil {
			panic(fmt.Sprintf("hotswap: store after check: %v", err)) // unreachable: types were checked
		}
		m.cur[name] = e
	}
	changed := slots
	if old != nil {
		for _, name := range old.slots {
			if m.cur[name] == old {
				m.recompute(name, now)
				changed = append(changed[:len(changed):len(changed)], name)
			}
		}
	}
	m.publish(changed)
	m.emitLocked(Event{Type: EventApplied, Generation: m.gen, PatchID: p.ID, Kind: p.Kind, Source: p.Source, Slots: slots, Took: time.Since(p.begun)})
	if old != nil {
		m.left(old)
		m.emitLocked(Event{Type: EventReverted, Generation: m.gen, PatchID: old.p.ID, Kind: old.p.Kind, Source: old.p.Source, Slots: old.slots})
		m.retire(old)
	}
	return Applied{ID: p.ID, Generation: m.gen, Slots: slots, At: now}, nil
}

// checkImpl checks one implementation against its slot and returns the
// slot's writer.
func (m *Manager) checkImpl(name string, impl any) (slotaccess.Writer, error) {
	s, ok := m.reg.Lookup(name)
	if !ok {
		return nil, fmt.Errorf("slot %q: %w", name, ErrUnknownSlot)
	}
	if impl == nil {
		return nil, fmt.Errorf("slot %q: %w", name, ErrNilImpl)
	}
	got := reflect.TypeOf(impl)
	if got != s.Type() {
		return nil, &TypeMismatchError{Slot: name, Want: s.Type(), Got: got}
	}
	if reflect.ValueOf(impl).IsNil() {
		return nil, fmt.Errorf("slot %q: %w", name, ErrNilImpl)
	}
	if w := m.writers[name]; w != nil {
		return w, nil
	}
	w, ok := slotaccess.WriterOf(m.reg, name)
	if !ok { // looked up above; registries never forget a slot
		return nil, fmt.Errorf("slot %q: %w", name, ErrUnknownSlot)
	}
	return w, nil
}

// Revert removes the patch with the given ID from the stack, wherever it is.
// Each slot it served goes back to the top-most remaining patch that provides
// it, or to the baseline. The patch is then retired in the background.
func (m *Manager) Revert(ctx context.Context, id string) error {
	if err := m.lock(ctx, "Revert"); err != nil {
		return fmt.Errorf("revert patch %q: %w", id, err)
	}
	defer m.unlock()
	return m.revert(id, EventReverted, nil)
}

// revert does the work of Revert; the caller holds the lock.
func (m *Manager) revert(id string, typ EventType, why error) error {
	return m.revertWith(id, typ, why, nil)
}

// revertWith reverts and records an event of type typ, with the evidence
// of a failed probation when there is one.
func (m *Manager) revertWith(id string, typ EventType, why error, pr *Probation) error {
	e := m.byID[id]
	if e == nil {
		return fmt.Errorf("revert patch %q: %w", id, ErrUnknownPatch)
	}
	m.gen++
	now := time.Now()
	m.removeFromStack(e)
	for _, name := range e.slots {
		if m.cur[name] == e {
			m.recompute(name, now)
		}
	}
	m.publish(e.slots)
	m.left(e)
	m.emitLocked(Event{Type: typ, Generation: m.gen, PatchID: id, Kind: e.p.Kind, Source: e.p.Source, Slots: e.slots, Err: why, Probation: pr})
	m.retire(e)
	return nil
}

func (m *Manager) removeFromStack(e *entry) {
	m.stack = slices.DeleteFunc(m.stack, func(x *entry) bool { return x == e })
	delete(m.byID, e.p.ID)
}

// recompute points slot name at the top-most patch that provides it, or at
// its baseline. The caller holds the lock and has raised the generation.
func (m *Manager) recompute(name string, now time.Time) {
	w := m.writers[name]
	for i := len(m.stack) - 1; i >= 0; i-- {
		e := m.stack[i]
		if impl, ok := e.p.Impls[name]; ok {
			if err := w.Store(impl, slotaccess.Version{PatchID: e.p.ID, Generation: m.gen, Since: now}); err != nil {
				panic(fmt.Sprintf("hotswap: store after check: %v", err)) // unreachable: checked at apply
			}
			m.cur[name] = e
			return
		}
	}
	w.Reset(slotaccess.Version{Generation: m.gen, Since: now})
	delete(m.cur, name)
}

// retire releases e's resources in the background, once. The caller holds
// the lock: the retire is counted now, so Close waits for it, and starts
// once the lock is released. Its event carries the generation of the change
// that retired it.
func (m *Manager) retire(e *entry) {
	ev := Event{Type: EventRetired, Generation: m.gen, PatchID: e.p.ID, Kind: e.p.Kind, Source: e.p.Source, Slots: e.slots}
	if e.p.Retire == nil {
		m.emitLocked(ev)
		return
	}
	m.wg.Add(1)
	m.after = append(m.after, func() {
		go func() {
			defer m.wg.Done()
			if err := m.runRetire(e.p); err != nil {
				ev.Err = fmt.Errorf("retire patch %q: %w", e.p.ID, err)
			}
			m.emit(ev)
		}()
	})
}

// runRetire runs p's Retire hook with a context of RetireTimeout. A hook
// that has not returned min(2 s, RetireTimeout) after its context ended
// is abandoned with [ErrRetireAbandoned]: it runs on, but neither Close
// nor the directory glue waits for it any more.
func (m *Manager) runRetire(p Patch) error {
	ctx, cancel := context.WithTimeout(context.Background(), m.opts.RetireTimeout)
	res := make(chan error, 1)
	go func() {
		defer cancel()
		res <- runUnlocked(func() error { return callHook(ctx, p.Retire) })
	}()
	select {
	case err := <-res:
		return err
	case <-ctx.Done():
	}
	grace := min(abandonGrace, m.opts.RetireTimeout)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case err := <-res:
		return err
	case <-t.C:
		return fmt.Errorf("%w: it ignored its context past RetireTimeout (%v) and %v more; what it holds may not be released",
			ErrRetireAbandoned, m.opts.RetireTimeout, grace)
	}
}

// goAsync runs f on a goroutine that Close waits for. It returns false, and
// runs nothing, once Close has started waiting.
func (m *Manager) goAsync(f func()) bool {
	m.evMu.Lock()
	defer m.evMu.Unlock()
	if m.stopping {
		return false
	}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		f()
	}()
	return true
}

// ReportFailure tells the manager that one call through slot failed in
// the code of the patch serving it now (see [Host.ReportFailure] for who
// reports what). Every call counts one failure: report each failure once.
// It never blocks. The failure counts against the patch that serves slot
// when the report arrives, and may roll it back ([RollbackPolicy]); a
// failure of a slot that serves its baseline is only logged (at debug
// level). A loader's host given by [Manager.Load] counts the failures it is
// told about against the patch that loader made, whatever serves when they
// arrive; code above the slot counts against the version that served the
// call with [Manager.Begin].
func (m *Manager) ReportFailure(slot string, err error) {
	if m.closed.Load() {
		return
	}
	m.reported.remember(slot, err)
	m.count(slot, err)
}

// count counts one failure against the patch serving slot now.
func (m *Manager) count(slot string, err error) {
	s := m.snap.Load()
	i := s.find(slot)
	var e *entry
	if i >= 0 {
		e = s.vers[i].e
	}
	if e == nil {
		m.logDebug("hotswap: failure on baseline slot", "slot", slot, "err", err)
		return
	}
	m.fail(e, slot, err)
}

// Recovered is the recover-and-report step of code above a slot (an HTTP
// middleware, a gRPC interceptor) that recovered v from a call through
// slot. It returns v as a [*PanicError] with the stack, for the caller's
// log, and counts it as one failure of the patch serving the slot unless
// a loader already reported this very panic: loaders report the panics of
// their patches' code at the boundary that runs it, before the panic goes
// on up ([Host.ReportFailure]), and the manager remembers the last few it
// was told about, per slot, so that each failure counts once. A panic of
// code no loader runs (a manual patch, code above the slot such as the
// encoding of a patch's result, the baseline) is counted here.
//
// A panic value is recognised by equality (==), or, for a value that
// cannot be compared (a slice, a map), as the very value a loader
// reported (the same boxed value, which a wrapper that panics again with
// what it recovered passes on): an error value created by the panic is
// recognised exactly; two panics with equal strings are told apart only
// by order. An error that implements [Accounted] (a process patch's call
// error) is never counted here: its loader accounted for it.
//
// Recovered counts against the patch serving slot when it is called; a
// feeder that began the call with [Manager.Begin] uses [Call.Panic]
// instead, which counts against the version that served the call, and
// counts the call. Called inside such a feeder (a recovery of the
// application's own inside the root package's Handler), it leaves the
// failure noted for the feeder, which then does not count it again. A nil v, what recover() returns when nothing
// panicked, counts nothing and returns nil.
func (m *Manager) Recovered(slot string, v any) error {
	if v == nil {
		return nil
	}
	pe := asPanicError(v)
	var acc Accounted
	if err, ok := v.(error); ok && errors.As(err, &acc) {
		return pe // its loader accounted for it
	}
	if m.closed.Load() {
		return pe
	}
	if !m.reported.take(slot, v) {
		m.count(slot, pe)
	}
	// A feeder around the caller (the root package's Handler) then sees
	// the 500 the caller answers, or v panicked again: the report tells
	// it the failure was counted, as a ReportFailure's does.
	// (noted as a value of its own: a later Recovered of the same value
	// is another panic, and counts).
	m.reported.remember(slot, errRecoveredNoted)
	return pe
}

// errRecoveredNoted is the report Recovered leaves for a feeder around its
// caller; no panic value equals it.
var errRecoveredNoted = errors.New("hotswap: failure counted by Recovered")

// Close stops the manager: it puts every slot back to its baseline, retires
// every applied patch, waits for background work (retire hooks are bounded
// by Options.RetireTimeout; one that ignores its context is abandoned soon
// after, with [ErrRetireAbandoned]), closes the attached loaders in the
// reverse order of their attaches, gives the registry back (a new manager
// may manage it) and closes the event channels of subscribers. It returns
// the loaders' Close errors.
//
// Close never blocks past ctx: when ctx ends first it returns an error
// wrapping ctx.Err(), and the shutdown goes on in the background (a later
// Close waits for it again). A change in progress is waited for within
// ctx: a Validate hook that never returns holds the shutdown. Changes after
// Close fail with [ErrClosed]. Close is safe to call more than once and
// concurrently.
//
// Called from inside a hook or the logger (of any manager), Close starts
// the shutdown and returns without waiting for background work, which could
// be the caller itself; the shutdown completes on its own.
// Called from inside a Validate hook while the change that runs it holds the
// lock, Close fails at once with [ErrReentrant].
func (m *Manager) Close(ctx context.Context) error {
	frames := callerFrames()
	if frames&inLocked != 0 {
		if h := m.holder.Load(); h != nil {
			return reentrant("Close", *h)
		}
	}
	if m.closing.CompareAndSwap(false, true) {
		// Not a sync.Once: the shutdown logs its reverts, and a logger
		// that calls Close from there must not wait for the shutdown.
		select {
		case m.sem <- struct{}{}: // no change in progress: shut down now
			m.shutdown()
		default:
			select {
			case m.sem <- struct{}{}:
				m.shutdown()
			case <-ctx.Done():
				go func() {
					m.sem <- struct{}{}
					m.shutdown()
				}()
			}
		}
	}
	if frames != 0 {
		return nil
	}
	select {
	case <-m.finished:
		return m.closeErr
	case <-ctx.Done():
		return fmt.Errorf("hotswap: close: %w", ctx.Err())
	}
}

// shutdown reverts everything, stops new background work and leaves the
// wait for it to a goroutine, which Close waits for unless Close was called
// back from a hook. The caller holds the change token.
func (m *Manager) shutdown() {
	m.closed.Store(true)
	stack := m.stack
	if len(stack) > 0 {
		m.gen++
		now := time.Now()
		m.stack, m.byID = nil, map[string]*entry{}
		for name := range m.cur {
			m.recompute(name, now)
		}
		m.publish(nil)
		for i := len(stack) - 1; i >= 0; i-- {
			e := stack[i]
			m.left(e)
			m.emitLocked(Event{Type: EventReverted, Generation: m.gen, PatchID: e.p.ID, Kind: e.p.Kind, Source: e.p.Source,
				Slots: e.slots, Note: noteClosed})
			m.retire(e)
		}
	}
	m.unlock()

	m.evMu.Lock()
	m.stopping = true
	loaders := m.loaders
	m.evMu.Unlock()
	close(m.done)
	go func() {
		defer close(m.finished)
		m.wg.Wait()
		// The loaders last, newest first: every patch they made is
		// retired, so they stop only what is left (helper processes,
		// private directories).
		var errs []error
		for i := len(loaders) - 1; i >= 0; i-- {
			l := loaders[i]
			if err := closeLoader(l); err != nil {
				errs = append(errs, fmt.Errorf("close %s loader: %w", l.Kind(), err))
			}
		}
		m.closeErr = errors.Join(errs...)
		m.release()
		m.evMu.Lock()
		for ch := range m.subs {
			close(ch)
			delete(m.subs, ch)
		}
		m.evMu.Unlock()
	}()
}

// closeLoader runs l.Close as user code, with a panic turned into an error.
func closeLoader(l Loader) error {
	return runUnlocked(func() error { return callHook(context.Background(), l.Close) })
}

// noteClosed marks the reverts of Close: a shutdown, not a failure.
const noteClosed = "manager closed: every slot back to its baseline"

// Done returns a channel closed when Close starts shutting the manager down.
func (m *Manager) Done() <-chan struct{} { return m.done }

// Generation returns the current generation: a counter that rises on every
// change of any slot.
func (m *Manager) Generation() uint64 { return m.snap.Load().gen }

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
