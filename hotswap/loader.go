package hotswap

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"
	"time"

	"github.com/hotpatch-go/hotpatch/registry"
)

// Host is what a loader may ask of the manager that its patches are for.
// [*Manager] implements it; a loader receives it with every [Loader.Load]
// and keeps it in the patch it makes, for what happens later (a call that
// fails, a process that must be restarted). It is the only way back from a
// loader to the manager: a loader holds no registry of its own, so it
// cannot be wired to the wrong one.
type Host interface {
	// Slot returns the registered slot of that name: its exact func type,
	// its baseline implementation and the version it serves now. A loader
	// checks a patch's implementations against it before returning the
	// patch, and refuses an unknown name with an error wrapping
	// [ErrUnknownSlot] and a wrong type with a [*TypeMismatchError].
	Slot(name string) (registry.Slot, bool)

	// ReportFailure tells the manager that one call through slot failed
	// in the patch's code: a panic that escaped it, a call its process
	// could not answer. Who reports what:
	//
	//   - The loader reports each failure of the code it runs, once, at
	//     the boundary that runs it (its wrapper around each
	//     implementation), before the panic or error goes on to the
	//     caller. A panic is reported as an error wrapping a
	//     [*PanicError] whose Value is the value the panic goes on with,
	//     or as the very error value it panics with.
	//   - Code above the slot (an HTTP middleware) that recovers a panic
	//     reports it through [Manager.Recovered], which counts it only if
	//     no loader reported it: a manual patch's panic, or one in code
	//     above the slot.
	//
	// So every failure counts once, whichever kind of patch and whether
	// or not a middleware is there. It never blocks. The host that
	// [Manager.Load] hands a loader counts the reports against the patch
	// that load made, even when they arrive after a newer version took
	// over; [*Manager] itself counts against the patch serving the slot
	// when the report arrives. See [RollbackPolicy] for what the counts
	// do.
	ReportFailure(slot string, err error)

	// RollBack reverts the applied patch with the given ID and records a
	// rolled-back event carrying why: for a loader that supervises a
	// patch's code (a process that keeps dying) and gives up on it.
	RollBack(ctx context.Context, id string, why error) error

	// Record adds an event that did not come from a change: a file
	// refused before it became a patch ([EventRejected]), a process
	// restarted ([EventRestarted]), a warning ([EventWarning]), or a type
	// of the caller's own. The manager sets Time (if zero) and
	// Generation, keeps it in the history, sends it to subscribers and
	// logs it. Types that only the manager records (applied, reverted,
	// rolled-back, committed, retired) are refused with [ErrReservedEvent].
	Record(e Event) error

	// Logger returns the manager's logger ([Options] Logger), never nil.
	Logger() *slog.Logger
}

var _ Host = (*Manager)(nil)

// Accounted is implemented by an error that a loader raises as a panic
// (or returns) after accounting for it: reported to the host if it was a
// failure of the patch's code, or judged not to be one (the caller's
// context ended; a crash reported once for all the calls it broke).
// [Manager.Recovered] never counts such a value again. A loader whose
// wrapper panics with the original value instead (scripts, native
// patches) needs nothing: the manager recognises the values it was told
// about.
type Accounted interface {
	error
	Accounted()
}

// Loader turns a patch file into a [Patch]. Each kind of patch has its own
// loader (packages under loader/, or an application's own); the manager
// and the directory glue call them through this interface and never import
// them.
type Loader interface {
	// Kind is the kind of patch the loader makes. Kinds are open: a loader
	// of its own names its own kind.
	Kind() Kind
	// Match reports whether the loader handles the file at path, by its
	// name (extension) alone.
	Match(path string) bool
	// Load reads the file and returns a patch for host, ready for
	// [Manager.Apply]. It changes no slot. It looks slots up through host
	// and keeps host for reporting the failures of the patch's code (see
	// [Host.ReportFailure]). The patch ID must be derived from the file's
	// name and content, so that the same bytes give the same ID. Errors
	// name the file, and the line where there is one. A loaded patch that
	// is then not applied (Apply refused it) must be released by its
	// caller ([Manager.Release]); the manager retires only patches that
	// were applied.
	Load(ctx context.Context, host Host, path string) (Patch, error)
	// Close releases what the loader holds once its patches are retired
	// (a private directory, helper processes) and refuses later loads
	// with an error wrapping [ErrClosed]. It returns when ctx ends at the
	// latest, and is safe to call more than once.
	Close(ctx context.Context) error
}

// Attach makes m the owner of l: [Manager.Close] closes it after retiring
// every patch, in the reverse order of the attaches, and the directory glue
// and other tools find it with [Manager.Loaders]. Attach a loader to one
// manager only. It fails with [ErrClosed] once Close has started, and with
// [ErrDuplicateLoader] for a loader already attached.
func (m *Manager) Attach(l Loader) error {
	if l == nil {
		return errors.New("hotswap: Attach of a nil loader")
	}
	m.evMu.Lock()
	defer m.evMu.Unlock()
	if m.stopping || m.closing.Load() {
		return fmt.Errorf("attach %s loader: %w", l.Kind(), ErrClosed)
	}
	if slices.Contains(m.loaders, l) {
		return fmt.Errorf("attach %s loader: %w", l.Kind(), ErrDuplicateLoader)
	}
	m.loaders = append(m.loaders, l)
	return nil
}

// Loaders returns the attached loaders, in the order they were attached.
func (m *Manager) Loaders() []Loader {
	m.evMu.Lock()
	defer m.evMu.Unlock()
	return slices.Clone(m.loaders)
}

// Load runs l.Load for the file at path, as user code: a panic in it
// becomes a [*PanicError], and a Close called from inside it does not
// wait for it. The loader's host is m bound to the patch the load
// returns: once that patch is applied, the failures the loader reports
// through it ([Host.ReportFailure]) count against that patch, also when
// they arrive after a newer version took over its slots (a call that
// failed slowly, a process that died late). A loader called with m itself
// as its host reports against the patch serving the slot when the report
// arrives. A zero Kind of the patch becomes l's, an empty
// Source becomes path. Release a loaded patch that is not applied with
// [Manager.Release].
func (m *Manager) Load(ctx context.Context, l Loader, path string) (p Patch, err error) {
	h := &loadHost{m: m, begun: time.Now()}
	err = runUnlocked(func() error {
		return callHook(ctx, func(ctx context.Context) error {
			p, err = l.Load(ctx, h, path)
			return err
		})
	})
	if err != nil {
		return Patch{}, err
	}
	p.host = h
	if p.Kind == "" {
		p.Kind = l.Kind()
	}
	if p.Source == "" {
		p.Source = path
	}
	return p, nil
}

// Release runs the Retire hook of a patch that was loaded but never applied
// (Apply refused it, or it was not wanted any more), bounded as the
// manager's own retires are (Options.RetireTimeout, then abandoned with
// [ErrRetireAbandoned]). A failure is returned and recorded as a retired
// event with the error. A patch that was applied is retired by the
// manager; do not release it.
func (m *Manager) Release(p Patch) error {
	if p.Retire == nil {
		return nil
	}
	if err := m.runRetire(p); err != nil {
		err = fmt.Errorf("release refused patch %q: %w", p.ID, err)
		m.emit(Event{Type: EventRetired, Generation: m.Generation(), PatchID: p.ID, Kind: p.Kind, Source: p.Source, Err: err})
		return err
	}
	return nil
}

// loadHost is the host of one load: m, with failure reports counted
// against the patch the load made once it is applied.
type loadHost struct {
	m     *Manager
	begun time.Time             // when Manager.Load began, for the applied event's Took
	e     atomic.Pointer[entry] // the applied patch; nil until then
}

func (h *loadHost) Slot(name string) (registry.Slot, bool) { return h.m.Slot(name) }
func (h *loadHost) RollBack(ctx context.Context, id string, why error) error {
	return h.m.RollBack(ctx, id, why)
}
func (h *loadHost) Record(e Event) error { return h.m.Record(e) }
func (h *loadHost) Logger() *slog.Logger { return h.m.Logger() }

// ReportFailure counts one failure against the patch this host's load
// made, once it was applied, whatever serves slot now. Reports about a
// patch that was never applied count nothing.
func (h *loadHost) ReportFailure(slot string, err error) {
	m := h.m
	if m.closed.Load() {
		return
	}
	m.reported.remember(slot, err)
	e := h.e.Load()
	if e == nil {
		m.logDebug("hotswap: failure of a patch not applied", "slot", slot, "err", err)
		return
	}
	m.fail(e, slot, err)
}

// Slot returns the registered slot of that name (see [Host.Slot]).
func (m *Manager) Slot(name string) (registry.Slot, bool) { return m.reg.Lookup(name) }

// Logger returns the manager's logger, never nil (see [Host.Logger]).
func (m *Manager) Logger() *slog.Logger { return m.log }

// Record adds an event that did not come from a change (see [Host.Record]).
func (m *Manager) Record(e Event) error {
	switch e.Type {
	case EventApplied, EventReverted, EventRolledBack, EventRetired, EventCommitted:
		return fmt.Errorf("record %s event: %w", e.Type, ErrReservedEvent)
	case "":
		return fmt.Errorf("record event: %w", ErrNoEventType)
	}
	e.Generation = m.Generation()
	m.emit(e)
	return nil
}
